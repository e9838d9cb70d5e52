/**
 * Every use of rhea beyond its typed, documented API, in one place. The hub
 * and the clients call these functions instead of reaching into rhea's
 * objects; test/amqp/rhea-internals.test.ts pins each one against the rhea
 * version in package-lock.json, so an upgrade that moves an internal fails
 * that test and not a running hub. Read against rhea 3.0.5 (lib/connection.js,
 * lib/session.js, lib/link.js, lib/message.js, lib/sasl.js).
 */
import {
  message as rheaMessage,
  sasl as rheaSasl,
  type Connection,
  type ConnectionOptions,
  type Container,
  type Delivery,
  type Receiver,
  type Sender,
  type Session,
} from 'rhea';

// ------------------------------------------------------------ connections

/** What rhea's Connection reads and writes of a socket (`accept(socket)`, its `socket` field). */
export interface RheaSocket {
  on(event: 'data' | 'end' | 'error' | 'close', handler: (arg?: unknown) => void): unknown;
  write(data: Buffer): unknown;
  end(): unknown;
  destroy(): unknown;
  removeAllListeners?(event?: string): unknown;
  setNoDelay?(noDelay?: boolean): unknown;
  get_id_string?(): string;
}

/** Serves an accepted socket as the server side of `connection` (rhea's accept is untyped). */
export function acceptSocket(connection: Connection, socket: RheaSocket): void {
  (connection as unknown as { accept(s: RheaSocket): void }).accept(socket);
}

/**
 * Clears the heartbeat and idle timers rhea keeps on a connection. rhea
 * clears them only when it sees its socket end by itself; after a close we
 * started, or a socket destroyed under it, they would keep running (the idle
 * check fires after twice the idle-time-out) and hold the process open.
 */
export const HEARTBEAT_TIMER_FIELDS = ['heartbeat_in', 'heartbeat_out', 'abort_idle'] as const;
export function stopHeartbeats(connection: Connection): void {
  const c = connection as unknown as Record<(typeof HEARTBEAT_TIMER_FIELDS)[number], NodeJS.Timeout | undefined>;
  for (const k of HEARTBEAT_TIMER_FIELDS) {
    if (c[k]) clearTimeout(c[k]);
    c[k] = undefined;
  }
}

/** Ends the socket under a client connection whose peer did not answer our close. */
export function endSocket(connection: Connection): void {
  (connection as unknown as { socket?: { end?: () => void } }).socket?.end?.();
}

/** `container.websocket_connect(WebSocket)`: rhea's typings give it no call signature for ws' constructor. */
export type WebSocketConnect = (url: string, protocols: string[], options: object) => NonNullable<ConnectionOptions['connection_details']>;
export function webSocketConnector(container: Container, webSocketClass: unknown): WebSocketConnect {
  return container.websocket_connect(webSocketClass as never) as unknown as WebSocketConnect;
}

/**
 * Bytes held for transfers still arriving in pieces (`more` = true) across
 * a connection: rhea joins them on `link._incomplete.frames` without bound.
 */
export function incompleteTransferBytes(connection: Connection): number {
  const c = connection as unknown as { local_channel_map?: Record<string, { links?: Record<string, { _incomplete?: { frames?: Buffer[] } }> }> };
  let total = 0;
  for (const session of Object.values(c.local_channel_map ?? {})) {
    for (const link of Object.values(session.links ?? {})) {
      for (const f of link._incomplete?.frames ?? []) total += f ? f.length : 0;
    }
  }
  return total;
}

// ------------------------------------------------------------ links

/** The link credit rhea keeps on a link object (sender: what the peer granted; receiver: what we granted). */
export function linkCredit(link: Sender | Receiver): number {
  return (link as unknown as { credit: number }).credit;
}

/**
 * Transfers the peer has permitted on a sender link since attach: rhea's
 * `delivery_count + credit` (both move together as a transfer goes out).
 */
export function senderPermits(link: Sender): number {
  const l = link as unknown as { delivery_count: number; credit: number };
  return l.delivery_count + l.credit;
}

/**
 * rhea keys a session's links by name alone and treats a second attach with
 * that name as a repeat of the first: the `$cbs` sender and receiver that
 * Proton names alike end the connection with no frame. AMQP 1.0 §2.6.1
 * names a link by its name and its role, so a session is given keys of
 * (role, name): the lookup of an incoming attach and the bookkeeping of
 * link creation and removal, which are all rhea does with the name.
 * Applied to each session the hub serves, before its first attach.
 */
export function keyLinksByNameAndRole(session: Session): void {
  type Link = (Sender | Receiver) & {
    name: string;
    is_sender(): boolean;
    is_remote_open(): boolean;
    on_attach(frame: unknown): void;
    remote: { attach?: unknown };
  };
  type AttachFrame = { performative: { name: string; role: boolean; handle: number } };
  const s = session as unknown as {
    links: Record<string, Link>;
    remote: { handles: Record<number, Link> };
    create_sender(name: string): Link;
    create_receiver(name: string): Link;
    create_link(name: string, ctor: unknown, opts: unknown): Link;
    remove_link(link: Link): void;
    on_attach(frame: AttachFrame): void;
  };
  const key = (name: string, sender: boolean): string => `${sender ? 'sender' : 'receiver'}:${name}`;
  const createLink = s.create_link;
  s.create_link = function (name, ctor, opts) {
    const link = createLink.call(this, name, ctor, opts);
    if (this.links[name] === link) delete this.links[name];
    this.links[key(name, link.is_sender())] = link;
    return link;
  };
  const removeLink = s.remove_link;
  s.remove_link = function (link) {
    removeLink.call(this, link);
    const k = key(link.name, link.is_sender());
    if (this.links[k] === link) delete this.links[k];
  };
  s.on_attach = function (frame) {
    const { name, role, handle } = frame.performative;
    // role true: the peer is the receiver, so this end sends.
    const existing = this.links[key(name, role)];
    if (existing?.is_remote_open()) {
      // The same name and role while that link is attached: not a second link, and not a resume.
      throw Object.assign(new Error(`A ${role ? 'receiver' : 'sender'} link named '${name}' is already attached on this session.`), {
        condition: 'amqp:not-allowed',
      });
    }
    const link = existing ?? (role ? this.create_sender(name) : this.create_receiver(name));
    this.remote.handles[handle] = link;
    link.on_attach(frame);
    link.remote.attach = frame.performative;
  };
}

// ------------------------------------------------------------ deliveries

/**
 * Marks a delivery settled by the peer. With rcv-settle-mode second the peer
 * settles on seeing our settlement and sends nothing more (AMQP 1.0
 * §2.6.12), but rhea drops a delivery from its session's fixed ring only once
 * both sides settled; without this the ring fills after 2048 deliveries.
 */
export function markSettledByPeer(delivery: Delivery): void {
  (delivery as { remote_settled: boolean }).remote_settled = true;
}

/**
 * rhea 3.0.5 sends a session's pending dispositions in ranges (first..last,
 * one state), but its range builder (session.js write_dispositions) compares
 * states only once a range holds two deliveries: a delivery settled `rejected`
 * followed, in the same tick, by the next delivery id settled `accepted` goes
 * out as one range with the first's state, so the peer reads the second as
 * rejected (and `accepted` then `rejected` as both accepted). Over a device
 * link that turns a completion into a rejection (the message is dead-lettered,
 * found by the soak); over the service link a refused send could read as
 * accepted. rhea batches only `accepted` ranges on purpose (message.js
 * are_outcomes_equivalent), so the fix keeps that batching for `accepted` and
 * writes every other settlement as a disposition of its own, at once. Applied
 * once, to the session prototypes, for every connection in the process.
 */
interface PendingDisposition {
  id: number;
  settled: boolean;
  state?: { descriptor?: { value?: unknown } };
  remote_settled?: boolean;
  link: { is_receiver(): boolean; session: { output(frame: unknown): void }; connection: { _register(): void } };
}
type DispositionSide = { update(d: PendingDisposition | undefined, settled: boolean, state?: unknown): void };
/** AMQP 1.0 accepted outcome descriptor (the one rhea batches). */
const ACCEPTED_CODE = 0x24;
let dispositionsApart = false;

export function writeDispositionsApart(): void {
  if (dispositionsApart) return;
  dispositionsApart = true;
  /* eslint-disable @typescript-eslint/no-require-imports -- rhea's session module is not part of its typed API */
  const RheaSession = require('rhea/lib/session.js') as new (connection: object, channel: number) => { incoming: DispositionSide; outgoing: DispositionSide };
  const frames = require('rhea/lib/frames.js') as { disposition(fields: object): unknown };
  /* eslint-enable @typescript-eslint/no-require-imports */
  const probe = new RheaSession({}, 0);
  const sides: [DispositionSide, 'updated' | 'pending_dispositions'][] = [
    [Object.getPrototypeOf(probe.incoming) as DispositionSide, 'updated'],
    [Object.getPrototypeOf(probe.outgoing) as DispositionSide, 'pending_dispositions'],
  ];
  for (const [proto, listName] of sides) {
    const batched = proto.update;
    proto.update = function (this: Record<string, PendingDisposition[]>, delivery, settled, state) {
      if (!delivery) return;
      const next = (state ?? delivery.state) as PendingDisposition['state'];
      if (next?.descriptor?.value === ACCEPTED_CODE) return batched.call(this, delivery, settled, state);
      delivery.settled = settled;
      if (state !== undefined) delivery.state = state as PendingDisposition['state'];
      if (!delivery.remote_settled) {
        const pending = this[listName]!;
        const i = pending.indexOf(delivery);
        if (i >= 0) pending.splice(i, 1);
        delivery.link.session.output(
          frames.disposition({ role: delivery.link.is_receiver(), first: delivery.id, last: delivery.id, state: delivery.state, settled: delivery.settled }),
        );
      }
      delivery.link.connection._register();
    };
  }
}
writeDispositionsApart();

/** A delivery outcome as rhea encodes it in a disposition. */
export interface DescribedOutcome {
  described(): unknown;
}

/** rhea builds outcome constructors at runtime from its definitions; its typings leave them out. */
export const outcomes = rheaMessage as unknown as {
  accepted(): DescribedOutcome;
  rejected(o?: { error?: unknown }): DescribedOutcome;
  released(): DescribedOutcome;
  modified(o?: { delivery_failed?: boolean; undeliverable_here?: boolean }): DescribedOutcome;
};

// ------------------------------------------------------------ SASL

/** One server-side SASL mechanism, as rhea's SaslServer drives it. */
export interface SaslServerMechanism {
  /** undefined while the exchange goes on; true: sasl-outcome ok; false: auth. */
  outcome: boolean | undefined;
  username: string | undefined;
  start(response: Buffer | undefined, hostname?: string): Promise<void> | void;
}

/**
 * A server mechanism table: rhea offers every own property name as a
 * mechanism (`Object.getOwnPropertyNames`), so the helpers stay on the prototype.
 */
export type SaslServerMechanisms = Record<string, () => SaslServerMechanism> & { enable_anonymous(): void };
export function saslServerMechanisms(): SaslServerMechanisms {
  return rheaSasl.server_mechanisms() as unknown as SaslServerMechanisms;
}

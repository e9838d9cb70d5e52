/**
 * Test rig for the AMQP server: a real Hub (in-memory SQLite), the server on
 * a plain TCP listener on loopback port 0, and a small promise API over rhea
 * client connections. Everything opened is closed by `close()`.
 */
import { once } from 'node:events';
import net from 'node:net';
import { create_container, message as rheaMessage, type Connection, type Delivery, type EventContext, type Message, type Receiver, type Sender } from 'rhea';
import { ManualClock } from '../../lib/common/clock';
import { createSas } from '../../lib/common/sas';
import { Hub } from '../../lib/hub/index';
import { createAmqpServer, type AmqpServer, type AmqpServerOptions } from '../../lib/hub/amqp/server';

export interface Rig {
  hub: Hub;
  clock: ManualClock;
  server: AmqpServer;
  port: number;
  log: { event: string; detail: Record<string, unknown> }[];
  connect(): Promise<Client>;
  deviceToken(deviceId: string, expirySec?: number): string;
  policyToken(keyName?: string, expirySec?: number): string;
  close(): Promise<void>;
}

export async function startRig(options: Partial<AmqpServerOptions> & { limits?: Record<string, number> } = {}): Promise<Rig> {
  const clock = new ManualClock(Date.now());
  const hub = await Hub.open({ clock, limits: options.limits });
  const log: Rig['log'] = [];
  const server = createAmqpServer(hub, { clock, log: (event, detail) => log.push({ event, detail }), ...options });
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    server.handle(s);
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  const clients: Client[] = [];
  const expiry = (sec?: number): number => Math.floor(clock.now() / 1000) + (sec ?? 3600);
  return {
    hub,
    clock,
    server,
    port,
    log,
    async connect() {
      const c = await Client.connect(port);
      clients.push(c);
      return c;
    },
    deviceToken(deviceId, sec) {
      const d = hub.registry.getDevice(deviceId);
      return createSas(`localhost/devices/${deviceId}`, d?.authentication.symmetricKey.primaryKey ?? 'AAAA', expiry(sec));
    },
    policyToken(keyName = 'iothubowner', sec) {
      const p = hub.registry.getPolicy(keyName);
      return createSas('localhost', p?.primaryKey ?? 'AAAA', expiry(sec), keyName);
    },
    async close() {
      // Clients first (sdk-wire.md §6.1), then the server, then the hub.
      await Promise.all(clients.map((c) => c.close()));
      await server.close();
      listener.close();
      for (const s of sockets) s.destroy();
      await hub.close();
    },
  };
}

/** A rhea client connection with awaitable operations. */
export class Client {
  private cbsSender?: Sender;
  private cbsReceiver?: Receiver;
  private cbsWaiters = new Map<string, (m: Message) => void>();
  private seq = 0;
  readonly closed: Promise<EventContext>;

  private constructor(readonly conn: Connection) {
    this.closed = new Promise((resolve) => {
      conn.once('disconnected', resolve);
      conn.once('connection_close', resolve);
    });
    conn.on('connection_error', () => undefined);
    conn.on('error', () => undefined);
  }

  static async connect(port: number, extra: Record<string, unknown> = {}): Promise<Client> {
    const container = create_container({ id: 'test-client' });
    const conn = container.connect({ host: '127.0.0.1', port, reconnect: false, ...extra } as never);
    const c = new Client(conn);
    await once(conn, 'connection_open');
    return c;
  }

  /** put-token on $cbs; resolves the reply's status code and description. */
  async putToken(token: string, audience: string): Promise<{ status: unknown; description: unknown }> {
    if (!this.cbsSender) {
      this.cbsSender = await this.attachSender('$cbs');
      this.cbsReceiver = await this.attachReceiver('$cbs', { autoaccept: true });
      this.cbsReceiver.on('message', (ctx: EventContext) => {
        const id = String(ctx.message?.correlation_id);
        this.cbsWaiters.get(id)?.(ctx.message as Message);
        this.cbsWaiters.delete(id);
      });
    }
    const id = `req-${++this.seq}`;
    const reply = new Promise<Message>((resolve) => this.cbsWaiters.set(id, resolve));
    this.cbsSender.send({
      message_id: id,
      to: '$cbs',
      reply_to: 'cbs',
      application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: audience },
      body: token,
    } as Message);
    const m = await reply;
    return { status: m.application_properties?.['status-code'], description: m.application_properties?.['status-description'] };
  }

  /** Attaches a sender to `address`; resolves when the hub answers (rejects with the link error if refused). */
  attachSender(address: string, opts: Record<string, unknown> = {}): Promise<Sender> {
    return this.attached(this.conn.open_sender({ target: { address }, ...opts }));
  }

  attachReceiver(address: string, opts: Record<string, unknown> = {}): Promise<Receiver> {
    return this.attached(this.conn.open_receiver({ source: { address }, autoaccept: false, ...opts }));
  }

  private attached<L extends Sender | Receiver>(link: L): Promise<L> {
    return new Promise((resolve, reject) => {
      const onErr = (): void => {
        const e = link.error as { description?: string; condition?: string } | undefined;
        reject(Object.assign(new Error(String(e?.description ?? 'link refused')), { condition: e?.condition }));
      };
      link.once(link.is_sender() ? 'sender_error' : 'receiver_error', onErr);
      link.once(link.is_sender() ? 'sender_open' : 'receiver_open', () => {
        // A refusal is an attach with no terminus for our node, then a detach with the error (AMQP 2.6.3).
        // (rhea unwraps a null terminus to {}, so look for the echoed address.)
        const remote = (link as unknown as { remote: { attach: Record<string, { address?: string } | undefined> } }).remote.attach;
        if (remote[link.is_sender() ? 'target' : 'source']?.address !== undefined) resolve(link);
      });
    });
  }

  async close(): Promise<void> {
    if (this.conn.is_closed() || !this.conn.is_open()) return;
    this.conn.close();
    await this.closed;
  }
}

/** Settles a received delivery the way the SDKs do: one disposition, settled=true. */
export function settle(delivery: Delivery | undefined, outcome: 'accepted' | 'rejected' | 'released'): void {
  const outcomes = rheaMessage as unknown as Record<string, (o?: object) => { described(): unknown }>;
  delivery?.update(true, outcomes[outcome]({}).described());
}

/** Connection close error of a client, as a plain object. */
export function closeError(ctx: EventContext): { condition?: string; description?: string } {
  return (ctx.connection.error ?? {}) as { condition?: string; description?: string };
}

/** Resolves with the next message on a receiver link. */
export function nextMessage(r: Receiver): Promise<EventContext> {
  return new Promise((resolve) => r.once('message', resolve));
}

/** Resolves with the disposition of a sent delivery. */
export function outcomeOf(s: Sender, deliveryId: number): Promise<{ outcome: string; ctx: EventContext }> {
  return new Promise((resolve) => {
    const on =
      (outcome: string) =>
      (ctx: EventContext): void => {
        if (ctx.delivery?.id !== deliveryId) return;
        for (const [e, h] of handlers) s.removeListener(e, h);
        resolve({ outcome, ctx });
      };
    const handlers: [string, (ctx: EventContext) => void][] = [
      ['accepted', on('accepted')],
      ['rejected', on('rejected')],
      ['released', on('released')],
      ['modified', on('modified')],
    ];
    for (const [e, h] of handlers) s.on(e, h);
  });
}

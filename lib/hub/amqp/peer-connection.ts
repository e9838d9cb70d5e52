/**
 * One AMQP connection from a peer (a device, a service, or both on one
 * connection): the rhea Connection on a guarded stream, its auth state and
 * its links. rhea's events for the connection are routed here and from here
 * to each link's handler.
 */
import { create_container, type Connection, type EventContext, type Receiver, type Sender, type Session } from 'rhea';
import type { Cancel, Clock } from '../../common/clock';
import { toAmqpError, type AmqpError } from '../../common/codec/amqp';
import { C2DError, errors } from '../../common/errors';
import type { ClientCertificateInfo, DeviceSession, HubApi } from '../api';
import type { ConnectionFault } from '../../common/fault-injection';
import { transportOf, type AccessObserver } from '../access';
import { ConnectionAuth } from './auth';
import { acceptSocket, incompleteTransferBytes, keyLinksByNameAndRole, stopHeartbeats } from '../../common/rhea-internals';
import { guardStream, type RheaSocket } from './frame-guard';
import type { AmqpLog, BearerVerifier, LinkHandler, Outcome, HubSide } from './peer';
import { openLink, UnknownAddressError } from './routes';
import { performAmqpFault, type FaultTarget } from './faults';
import { serverMechanisms } from './sasl';

export interface ConnectionSettings {
  hub: HubApi;
  clock: Clock;
  protocol: string;
  maxFrameBytes: number;
  authTimeoutMs: number;
  /** Advertised idle-time-out; rhea closes a connection that received no frame for this long. */
  idleTimeoutMs: number;
  verifyBearer: BearerVerifier | undefined;
  log: AmqpLog;
  /** Receives the connection's access decisions (see ConnectionAuth). */
  access?: AccessObserver;
  /** The peer's address, for access events. */
  remote?: string;
  /** Whether the server is shutting down (new sends are refused 503001). */
  isClosing(): boolean;
  track(p: Promise<unknown>): void;
}

type Link = Sender | Receiver;

/** How long a peer has to answer our close before its socket is cut. */
const CLOSE_GRACE_MS = 2000;

export class AmqpConnection implements HubSide {
  readonly hub: HubApi;
  readonly clock: Clock;
  readonly auth: ConnectionAuth;
  readonly connection: Connection;
  readonly protocol: string;
  readonly verifyBearer: BearerVerifier | undefined;
  readonly log: AmqpLog;
  cbsReplies: Sender | undefined;
  /** Resolves once the stream is gone and everything the connection held is released. */
  readonly closed: Promise<void>;
  private readonly links = new Map<Link, LinkHandler>();
  private cancelAuthTimeout: Cancel | undefined;
  private markClosed!: () => void;
  private ended = false;
  /** The peer's AMQP sessions, as they began. */
  private readonly amqpSessions = new Set<Session>();
  /** The hub's session for each device this connection acts for (from its first principal or link). */
  private readonly sessions = new Map<string, DeviceSession>();

  /** `gone` resolves when the underlying socket or WebSocket has closed, whoever closed it. */
  constructor(
    private readonly settings: ConnectionSettings,
    private readonly stream: RheaSocket,
    clientCert: ClientCertificateInfo | undefined,
    gone: Promise<void>,
  ) {
    this.hub = settings.hub;
    this.clock = settings.clock;
    this.protocol = settings.protocol;
    this.verifyBearer = settings.verifyBearer;
    this.log = settings.log;
    this.closed = new Promise((resolve) => (this.markClosed = resolve));
    const access = settings.access
      ? { observe: settings.access, transport: transportOf(settings.protocol), ...(settings.remote ? { remote: settings.remote } : {}) }
      : undefined;
    this.auth = new ConnectionAuth(
      this.hub,
      this.clock,
      clientCert,
      () => this.recheckLinks(),
      (deviceId) => this.openSession(deviceId),
      access,
    );
    // A container per connection, so the SASL mechanisms can know this connection.
    const container = create_container({ id: this.hub.hubName });
    container.sasl_server_mechanisms = serverMechanisms(
      this.hub,
      clientCert !== undefined,
      (p) => this.auth.add('sasl', p, 'sas'),
      (err) => {
        this.auth.refused(err);
        this.log('sasl-refused', { code: err.code });
      },
    );
    container.on('error', (e: unknown) => this.log('amqp-error', { error: String(e) }));
    this.connection = container.create_connection({
      container_id: this.hub.hubName,
      max_frame_size: settings.maxFrameBytes,
      channel_max: 64,
      // Replies are small frames: without this Nagle + delayed ACK add ~40 ms to every send round trip.
      tcp_no_delay: true,
      // A peer that sends nothing (stuck, or never reading and so never answering) is cut after this.
      idle_time_out: settings.idleTimeoutMs,
      // Links get credit and dispositions from our handlers, never automatically.
      receiver_options: { credit_window: 0, autoaccept: false },
    } as never);
    this.listen();
    // rhea reports no 'disconnected' after a close we started, so the socket's own close is the signal.
    void gone.then(() => this.end(undefined));
    const guarded = guardStream(
      stream,
      settings.maxFrameBytes,
      (why) => {
        this.log('framing-error', { why });
        this.closeConnection({ condition: 'amqp:connection:framing-error', description: why });
      },
      () => {
        const held = incompleteTransferBytes(this.connection);
        return held > settings.maxFrameBytes ? `A message of more than ${settings.maxFrameBytes} bytes is arriving in pieces` : undefined;
      },
    );
    this.cancelAuthTimeout = this.clock.at(this.clock.now() + settings.authTimeoutMs, () => {
      this.cancelAuthTimeout = undefined;
      if (this.auth.everAuthenticated) return;
      const late = errors.unauthorized(`Nothing was authorized within ${settings.authTimeoutMs} ms of connecting.`);
      this.auth.refused(late);
      this.closeConnection(late);
    });
    acceptSocket(this.connection, guarded);
  }

  track(p: Promise<unknown>): void {
    this.settings.track(p);
  }

  get closing(): boolean {
    return this.settings.isClosing();
  }

  sessionOf(deviceId: string): DeviceSession | undefined {
    return this.sessions.get(deviceId);
  }

  /** The connection acts for a device from now on: the hub knows it as one of the device's connections. */
  private openSession(deviceId: string): void {
    if (this.ended || this.sessions.has(deviceId)) return;
    const ended = (reason: Error): void =>
      this.closeConnection(reason instanceof C2DError ? reason : new C2DError('DeviceConnectionClosedRemotely', reason.message));
    const fault = (f: ConnectionFault): boolean => {
      if (this.ended) return false;
      this.log('fault', { deviceId, type: f.type });
      return performAmqpFault(this.faultTarget, deviceId, f);
    };
    this.sessions.set(deviceId, this.hub.openSession(deviceId, this.protocol, { ended, fault }));
  }

  private readonly faultTarget: FaultTarget = {
    links: () => this.links.entries(),
    kill: () => this.stream.destroy(),
    closeConnection: (error) => this.teardown(error),
    shutDown: () => this.teardown(undefined),
    dropLink: (link, error) => {
      link.close(error);
      this.linkClosed(link);
    },
    endSession: (session, error) => {
      session.close(error);
      this.sessionClosed(session);
    },
  };

  /**
   * Detaches every link and ends every session with `error` before the close. A close alone
   * strands the Node SDK: on the peer's close it detaches its links one by one and waits for
   * each answer, but its rhea has answered our close already, so the answers never come and
   * it recovers only after its 45 s forced rundown. With the links and sessions already gone
   * it has nothing to wait for and reconnects at once.
   */
  private teardown(error: AmqpError | undefined): void {
    if (this.ended) return;
    if (this.connection.is_remote_open()) {
      for (const link of [...this.links.keys()]) {
        link.close(error);
        this.linkClosed(link);
      }
      for (const session of this.amqpSessions) session.close(error);
    }
    this.closeConnection(error);
  }

  /** Closes with `err` (undefined: a clean close); the socket is cut if the peer does not answer in time. */
  closeConnection(err: C2DError | AmqpError | undefined): void {
    if (this.ended) return;
    const error = err instanceof C2DError ? toAmqpError(err) : err;
    this.log('connection-closing', { condition: error?.condition, description: error?.description });
    if (!this.connection.is_remote_open()) {
      // No AMQP open yet (e.g. the auth timeout on a silent socket): nothing to say it to.
      this.stream.destroy();
      return;
    }
    this.connection.close(error);
    // A peer that does not answer our close still loses its socket.
    const grace = setTimeout(() => this.stream.destroy(), CLOSE_GRACE_MS);
    grace.unref();
    void this.closed.then(() => clearTimeout(grace));
  }

  private listen(): void {
    const c = this.connection;
    const opened = (ctx: EventContext): void => this.openLink((ctx.sender ?? ctx.receiver) as Link);
    c.on('sender_open', opened);
    c.on('receiver_open', opened);
    c.on('message', (ctx) => this.links.get(ctx.receiver as Link)?.onMessage?.(ctx));
    for (const outcome of ['accepted', 'rejected', 'released'] as Outcome[]) {
      c.on(outcome, (ctx) => this.links.get(ctx.sender as Link)?.onOutcome?.(ctx, outcome));
    }
    // modified needs no handler: rhea's senders report it as released too (treat_modified_as_released).
    c.on('sender_flow', (ctx) => this.links.get(ctx.sender as Link)?.onFlow?.());
    const linkGone = (ctx: EventContext): void => this.linkClosed((ctx.sender ?? ctx.receiver) as Link);
    for (const e of ['sender_close', 'receiver_close', 'sender_error', 'receiver_error']) c.on(e, linkGone);
    // Before the session's first attach: links are told apart by name and role (AMQP 1.0 §2.6.1).
    c.on('session_open', (ctx) => {
      if (!ctx.session) return;
      this.amqpSessions.add(ctx.session);
      keyLinksByNameAndRole(ctx.session);
    });
    c.on('session_close', (ctx) => {
      if (ctx.session) this.amqpSessions.delete(ctx.session);
      this.sessionClosed(ctx.session);
    });
    c.on('session_error', () => undefined);
    c.on('connection_error', (ctx) => this.log('peer-closed-with-error', { error: String(ctx.connection.error?.description ?? '') }));
    c.on('connection_close', () => undefined);
    // A frame rhea could not take (bad encoding, a frame out of place): rhea ends the socket
    // right after; the guarded stream holds that end until our close frame is out.
    c.on('protocol_error', (e: unknown) => this.refuseFrame(e, 'amqp:decode-error'));
    c.on('error', (e: unknown) => this.refuseFrame(e, 'amqp:internal-error'));
    c.on('disconnected', (ctx) => this.end(ctx.error ? String(ctx.error) : undefined));
  }

  /** Closes the connection with an error naming what the peer sent (AMQP 1.0 §2.4.3), rather than dropping it. */
  private refuseFrame(e: unknown, fallback: string): void {
    const condition = typeof (e as { condition?: unknown })?.condition === 'string' ? (e as { condition: string }).condition : fallback;
    const description = `The hub could not process a frame from this peer: ${e instanceof Error ? e.message : String(e)}`;
    this.log('frame-refused', { condition, description });
    this.closeConnection({ condition, description });
  }

  private openLink(link: Link): void {
    try {
      if (this.closing) throw errors.unavailable('The hub is shutting down.');
      this.links.set(link, openLink(this, link));
    } catch (e) {
      const error = e instanceof UnknownAddressError ? { condition: e.condition, description: e.message } : toAmqpError(e);
      // A link refused for want of a right is an access decision (reported once: see ConnectionAuth.refused).
      if (e instanceof C2DError && e.name === 'IotHubUnauthorized') this.auth.refused(e);
      this.log('link-refused', { name: link.name, condition: error.condition, description: error.description });
      link.close(error);
    }
  }

  private linkClosed(link: Link): void {
    const h = this.links.get(link);
    if (!h) return;
    this.links.delete(link);
    h.onClose();
  }

  private sessionClosed(session: Session | undefined): void {
    for (const link of [...this.links.keys()]) if (link.session === session) this.linkClosed(link);
  }

  /** After a token expired: any link that lost its right ends the connection with 401003. */
  private recheckLinks(): void {
    for (const h of this.links.values()) {
      try {
        h.reauthorize?.();
      } catch (e) {
        this.closeConnection(e instanceof C2DError ? e : errors.unauthorized('The token expired.'));
        return;
      }
    }
  }

  private end(reason: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.cancelAuthTimeout?.();
    for (const link of [...this.links.keys()]) this.linkClosed(link);
    this.auth.dispose();
    for (const s of this.sessions.values()) s.close(reason);
    this.sessions.clear();
    this.stream.destroy();
    stopHeartbeats(this.connection);
    this.markClosed();
  }
}

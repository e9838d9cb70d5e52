/**
 * AMQP service session: CBS put-token for the hub (a policy SAS with
 * `sr` = host, or `Bearer <jwt>` of type `jwt` from a TokenCredential, as
 * azure-iothub does), a sender on `/messages/devicebound` and, on demand, a
 * feedback receiver on `/messages/serviceBound/feedback` with autoaccept
 * off so the app's complete/abandon is what the hub hears.
 */
import type { Connection, Delivery, EventContext, Receiver, Sender } from 'rhea';
import { FEEDBACK_ADDRESS, SERVICE_DEVICEBOUND_ADDRESS, decodeFeedback, encodeServiceSend, type AmqpMessage } from '../../common/codec/amqp';
import { C2DError } from '../../common/errors';
import type { OutgoingMessage, ReceivedFeedbackBatch } from '../../common/message';
import type { LiveSession } from '../connection-keeper';
import type { ServiceCredentials } from '../credentials';
import { TokenRenewer } from '../token-renewer';
import { CbsClient } from './cbs';
import { amqpFailure, attachReceiver, attachSender, closeAmqpConnection, onConnectionLost, openAmqpConnection, outcomeError } from './connection';
import { Settler } from './settler';
import { SessionLife, authenticated } from '../session-life';

export interface ServiceSessionOptions {
  credentials: ServiceCredentials;
  webSocket: boolean;
  port?: number;
  ca?: string | Buffer;
  connectTimeoutMs: number;
  userAgent: string;
  onTokenRenewed?: (expiresAtMs: number) => void;
}

export type FeedbackDelivery = Omit<ReceivedFeedbackBatch, 'lockedUntilUtc' | 'deliveryCount'> & { settle(outcome: 'accepted' | 'released'): Promise<void> };

export async function openAmqpServiceSession(o: ServiceSessionOptions): Promise<AmqpServiceSession> {
  const c = o.credentials;
  const connection = await openAmqpConnection({
    host: c.host,
    ...(o.port ?? c.port ? { port: o.port ?? c.port } : {}),
    webSocket: o.webSocket,
    ...(o.ca ? { ca: o.ca } : {}),
    connectTimeoutMs: o.connectTimeoutMs,
    userAgent: o.userAgent,
  });
  return authenticated(new AmqpServiceSession(connection, o));
}

export class AmqpServiceSession extends SessionLife implements LiveSession {
  private cbs: CbsClient | undefined;
  private renewer: TokenRenewer | undefined;
  private sender: Promise<Sender> | undefined;
  private feedbackLink: Receiver | undefined;
  private settler: Settler | undefined;
  private readonly inFlight = new Map<Delivery, { resolve: () => void; reject: (e: Error) => void }>();
  /** Sends waiting for link credit, first come first served (one 'sendable' listener wakes them). */
  private creditWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(
    private readonly connection: Connection,
    private readonly o: ServiceSessionOptions,
  ) {
    super();
    onConnectionLost(connection, (e) => this.lost(e));
  }

  async authenticate(): Promise<void> {
    const c = this.o.credentials;
    this.cbs = await CbsClient.attach(this.connection);
    const put = async (): Promise<number> => {
      const t = await c.issueToken();
      // azure-iothub: name = HostName for SAS; for Entra the same audience, type `jwt`.
      await (this.cbs as CbsClient).putToken(c.tokenHost, t.token, t.type);
      this.o.onTokenRenewed?.(t.expiresAtMs);
      return t.expiresAtMs;
    };
    const expiresAtMs = await put();
    if (c.canRenew) this.renewer = new TokenRenewer(c, put, (e) => this.lost(e), expiresAtMs);
  }

  protected release(e: Error): void {
    this.renewer?.stop();
    this.cbs?.abort(e);
    this.settler?.abort(e);
    for (const f of this.inFlight.values()) f.reject(e);
    this.inFlight.clear();
    this.failCreditWaiters(e);
  }

  private failCreditWaiters(e: Error): void {
    for (const w of this.creditWaiters.splice(0)) w.reject(e);
  }

  private senderLink(): Promise<Sender> {
    if (this.sender) return this.sender;
    const attached: Promise<Sender> = attachSender(this.connection, {
      target: { address: SERVICE_DEVICEBOUND_ADDRESS },
      properties: { 'com.microsoft:client-version': this.o.userAgent },
    } as never).then((link) => {
      const settle = (ctx: EventContext, ok: boolean): void => {
        const d = ctx.delivery as Delivery;
        const f = this.inFlight.get(d);
        if (!f) return;
        this.inFlight.delete(d);
        if (ok) f.resolve();
        else f.reject(outcomeError(ctx));
      };
      link.on('accepted', (ctx: EventContext) => settle(ctx, true));
      for (const ev of ['rejected', 'released', 'modified']) link.on(ev, (ctx: EventContext) => settle(ctx, false));
      // The hub detached the send link (e.g. no ServiceConnect right): fail what waits on it; the next send re-attaches.
      const detached = (ctx: EventContext): void => {
        if (this.sender === attached) this.sender = undefined;
        const e = amqpFailure(ctx, 'send link');
        for (const [d, f] of this.inFlight) {
          if (d.link !== link) continue;
          this.inFlight.delete(d);
          f.reject(e);
        }
        this.failCreditWaiters(e);
      };
      link.on('sender_error', detached);
      link.on('sender_close', detached);
      // As many waiting sends as the new credit allows go on; each checks again before sending.
      link.on('sendable', () => {
        const wake = this.creditWaiters.splice(0, Math.max(1, (link as unknown as { credit: number }).credit));
        for (const w of wake) w.resolve();
      });
      return link;
    });
    this.sender = attached;
    attached.catch(() => {
      if (this.sender === attached) this.sender = undefined;
    });
    return attached;
  }

  /** Sends and resolves once the hub accepted (committed) the message. */
  async send(deviceId: string, m: OutgoingMessage): Promise<void> {
    const link = await this.senderLink();
    if (this.closed) throw Object.assign(new Error('The connection is closed.'), { code: 'ECONNRESET' });
    while (!link.sendable()) {
      await new Promise<void>((resolve, reject) => this.creditWaiters.push({ resolve, reject }));
      if (this.closed || !link.is_open()) throw Object.assign(new Error('The send link is gone.'), { code: 'ECONNRESET' });
    }
    await new Promise<void>((resolve, reject) => {
      const d = link.send(encodeServiceSend(deviceId, m) as never);
      this.inFlight.set(d, { resolve, reject });
    });
  }

  /** Attaches the feedback receiver; each batch goes to `onBatch`. */
  async openFeedback(onBatch: (b: FeedbackDelivery) => void, credit: number): Promise<void> {
    if (this.feedbackLink) return;
    const link = await attachReceiver(this.connection, {
      source: { address: FEEDBACK_ADDRESS },
      autoaccept: false,
      credit_window: 0,
      rcv_settle_mode: 1,
      properties: { 'com.microsoft:client-version': this.o.userAgent },
    } as never);
    this.feedbackLink = link;
    const settler = new Settler(link);
    this.settler = settler;
    link.on('message', (ctx: EventContext) => {
      const d = ctx.delivery as Delivery;
      let batch: Omit<ReceivedFeedbackBatch, 'lockedUntilUtc' | 'deliveryCount'>;
      try {
        batch = decodeFeedback(ctx.message as unknown as AmqpMessage, Buffer.from(d.tag as Buffer));
      } catch (e) {
        // Not a feedback message: refuse it so it is not redelivered forever.
        d.reject({ condition: 'amqp:decode-error', description: e instanceof C2DError ? e.message : 'bad feedback message' });
        link.add_credit(1);
        return;
      }
      onBatch({
        ...batch,
        settle: async (outcome) => {
          await settler.settle(d, outcome);
          link.add_credit(1);
        },
      });
    });
    link.add_credit(credit);
  }

  async close(): Promise<void> {
    this.markClosed();
    await closeAmqpConnection(this.connection);
  }
}

/**
 * AMQP service session: CBS put-token for the hub (a policy SAS with
 * `sr` = host, or `Bearer <jwt>` of type `jwt` from a TokenCredential, as
 * azure-iothub does), a sender on `/messages/devicebound` and, on demand, a
 * feedback receiver on `/messages/serviceBound/feedback` with autoaccept
 * off so the app's complete/abandon is what the hub hears.
 */
import type { Connection, Delivery, EventContext, Receiver } from 'rhea';
import { FEEDBACK_ADDRESS, SERVICE_DEVICEBOUND_ADDRESS, decodeFeedback, encodeServiceSend, type AmqpMessage } from '../../common/codec/amqp';
import { C2DError, errors } from '../../common/errors';
import { linkCredit } from '../../common/rhea-internals';
import type { OutgoingMessage, ReceivedFeedbackBatch } from '../../common/message';
import type { LiveSession } from '../connection-keeper';
import type { ServiceCredentials } from '../credentials';
import { TokenRenewer } from '../token-renewer';
import { CbsClient } from './cbs';
import { attachReceiver, closeAmqpConnection, onConnectionLost, openAmqpConnection } from './rhea-connection';
import { ConfirmedSender } from './sender';
import { Settler } from './settler';
import { SessionLife, authenticated } from '../session-life';
import type { ProxySetting } from '../proxy';

export interface ServiceSessionOptions {
  credentials: ServiceCredentials;
  webSocket: boolean;
  port?: number;
  ca?: string | Buffer;
  proxy?: ProxySetting;
  connectTimeoutMs: number;
  userAgent: string;
  onTokenRenewed?: (expiresAtMs: number) => void;
}

export type FeedbackDelivery = Omit<ReceivedFeedbackBatch, 'lockedUntilUtc' | 'deliveryCount'> & {
  /** The session it came on: its lock dies with it. */
  session: AmqpServiceSession;
  /** Settles; `replenish` gives the link one credit back for the next batch. */
  settle(outcome: 'accepted' | 'released', replenish: boolean): Promise<void>;
};

export async function openAmqpServiceSession(o: ServiceSessionOptions): Promise<AmqpServiceSession> {
  const c = o.credentials;
  const connection = await openAmqpConnection({
    host: c.host,
    ...((o.port ?? c.port) ? { port: o.port ?? c.port } : {}),
    webSocket: o.webSocket,
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.proxy !== undefined ? { proxy: o.proxy } : {}),
    connectTimeoutMs: o.connectTimeoutMs,
    userAgent: o.userAgent,
  });
  return authenticated(new AmqpServiceSession(connection, o));
}

export class AmqpServiceSession extends SessionLife implements LiveSession {
  private cbs: CbsClient | undefined;
  private renewer: TokenRenewer | undefined;
  private readonly sender: ConfirmedSender;
  private feedbackLink: Promise<Receiver> | undefined;
  private settler: Settler | undefined;

  constructor(
    private readonly connection: Connection,
    private readonly o: ServiceSessionOptions,
  ) {
    super();
    this.sender = new ConfirmedSender(
      connection,
      { target: { address: SERVICE_DEVICEBOUND_ADDRESS }, properties: { 'com.microsoft:client-version': o.userAgent } } as never,
      'send link',
    );
    onConnectionLost(connection, (e) => this.lost(e));
  }

  async authenticate(): Promise<void> {
    const c = this.o.credentials;
    this.cbs = await CbsClient.attach(this.connection);
    this.cbs.onDetached((e) => this.lost(e));
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
    this.sender.abort(e);
  }

  /** Sends and resolves once the hub accepted (committed) the message. */
  send(deviceId: string, m: OutgoingMessage): Promise<void> {
    return this.sender.send(encodeServiceSend(deviceId, m) as never);
  }

  /**
   * Attaches the feedback receiver once (each batch goes to `onBatch`), then tops its credit up
   * to `credit`: the batches the app may hold locked at once (0 attaches without asking for any).
   */
  async openFeedback(onBatch: (b: FeedbackDelivery) => void, credit: number): Promise<void> {
    if (!this.feedbackLink) {
      const attaching = this.attachFeedback(onBatch);
      this.feedbackLink = attaching;
      attaching.catch(() => {
        if (this.feedbackLink === attaching) this.feedbackLink = undefined;
      });
    }
    const link = await this.feedbackLink;
    const missing = credit - linkCredit(link);
    if (missing > 0) link.add_credit(missing);
  }

  private async attachFeedback(onBatch: (b: FeedbackDelivery) => void): Promise<Receiver> {
    const link = await attachReceiver(this.connection, {
      source: { address: FEEDBACK_ADDRESS },
      autoaccept: false,
      credit_window: 0,
      rcv_settle_mode: 1,
      properties: { 'com.microsoft:client-version': this.o.userAgent },
    } as never);
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
        session: this,
        settle: async (outcome, replenish) => {
          if (d.remote_settled) {
            // Settled by the hub already: the batch's lock expired (it comes again on a new lock).
            if (replenish) link.add_credit(1);
            throw errors.lockLost(batch.lockToken);
          }
          await settler.settle(d, outcome);
          if (replenish) link.add_credit(1);
        },
      });
    });
    return link;
  }

  async close(): Promise<void> {
    this.markClosed();
    await closeAmqpConnection(this.connection);
  }
}

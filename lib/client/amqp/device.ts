/**
 * AMQP device session (transports `amqp` and `amqp-ws`): CBS put-token for
 * `{host}/devices/{id}` (renewed on the live `$cbs` links before expiry), a
 * receiver link on `/devices/{id}/messages/devicebound` with autoaccept off.
 * Unlike the Node SDK (settle mode first: it never hears whether a
 * settlement worked) the link uses rcv-settle-mode second, so the hub's
 * answer comes back and a lost lock is reported as 412002. Device-to-cloud
 * goes on a sender to `/devices/{id}/messages/events`, attached on first use.
 */
import type { Connection, Delivery, EventContext, Receiver } from 'rhea';
import { decodeDeviceDelivery, deviceBoundLinkAddress, deviceEventsLinkAddress, encodeDeviceEvent, type AmqpMessage } from '../../common/codec/amqp';
import { errors } from '../../common/errors';
import { linkCredit } from '../../common/rhea-internals';
import type { DeviceMessage, Properties, Settlement } from '../../common/message';
import type { DeviceSession, DeviceSessionOptions } from '../device-session';
import { amqpFailure, attachReceiver, closeAmqpConnection, onConnectionLost, openAmqpConnection } from './rhea-connection';
import { CbsClient } from './cbs';
import { TokenRenewer } from '../token-renewer';
import { MessageBuffer } from '../message-buffer';
import { Settler, type AmqpOutcome } from './settler';
import { SessionLife, authenticated } from '../session-life';
import { ConfirmedSender } from './sender';
import { trustedLockMs } from '../lock-estimate';

const OUTCOME: Record<Settlement, AmqpOutcome> = { complete: 'accepted', reject: 'rejected', abandon: 'released' };

export async function openAmqpDeviceSession(o: DeviceSessionOptions): Promise<DeviceSession> {
  const c = o.credentials;
  const connection = await openAmqpConnection({
    host: c.host,
    ...((c.port ?? o.port) ? { port: c.port ?? o.port } : {}),
    webSocket: o.transport === 'amqp-ws',
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.proxy !== undefined ? { proxy: o.proxy } : {}),
    ...(c.auth.kind === 'x509' ? { clientCert: c.auth } : {}),
    connectTimeoutMs: o.connectTimeoutMs,
    userAgent: o.userAgent,
  });
  return authenticated(new AmqpDeviceSession(connection, o));
}

class AmqpDeviceSession extends SessionLife implements DeviceSession {
  private cbs: CbsClient | undefined;
  private renewer: TokenRenewer | undefined;
  private link: Receiver | undefined;
  private attaching: Promise<Receiver> | undefined;
  private readonly deliveries = new Map<string, Delivery>();
  private settler: Settler | undefined;
  private readonly buffer = new MessageBuffer();
  private onMessage: ((m: DeviceMessage) => void) | undefined;
  private readonly events: ConfirmedSender;

  constructor(
    private readonly connection: Connection,
    private readonly o: DeviceSessionOptions,
  ) {
    super();
    const address = deviceEventsLinkAddress(o.credentials.deviceId);
    this.events = new ConfirmedSender(connection, { target: { address }, properties: { 'com.microsoft:client-version': o.userAgent } } as never, 'D2C link');
    onConnectionLost(connection, (e) => this.lost(e));
  }

  async authenticate(): Promise<void> {
    const c = this.o.credentials;
    if (!c.usesToken) return;
    this.cbs = await CbsClient.attach(this.connection);
    this.cbs.onDetached((e) => this.lost(e));
    // The Node SDK's audience: the token's `sr`, still URL-encoded.
    const audience = encodeURIComponent(c.resource);
    const put = async (): Promise<number> => {
      const t = c.issueToken();
      await (this.cbs as CbsClient).putToken(audience, t.token, 'sas');
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
    this.events.abort(e);
    this.deliveries.clear();
    this.buffer.fail(e);
  }

  private receiverLink(): Promise<Receiver> {
    if (this.link) return Promise.resolve(this.link);
    this.attaching ??= attachReceiver(this.connection, {
      source: { address: deviceBoundLinkAddress(this.o.credentials.deviceId) },
      target: { address: 'receiver' },
      autoaccept: false,
      credit_window: 0,
      rcv_settle_mode: 1,
      properties: { 'com.microsoft:client-version': this.o.userAgent },
    } as never).then((link) => {
      // The hub's attach and its detach (a refused link: 401003 for a bad certificate) may arrive
      // in one read, so the close fired before anyone listened: the link is refused, not open.
      if (!link.is_remote_open()) throw amqpFailure({ receiver: link } as unknown as EventContext, 'C2D link');
      this.link = link;
      link.on('message', (ctx: EventContext) => this.onDelivery(ctx));
      this.settler = new Settler(link);
      link.on('receiver_close', (ctx: EventContext) => this.lost(amqpFailure(ctx, 'C2D link')));
      link.on('receiver_error', (ctx: EventContext) => this.lost(amqpFailure(ctx, 'C2D link')));
      return link;
    });
    return this.attaching;
  }

  private onDelivery(ctx: EventContext): void {
    const delivery = ctx.delivery as Delivery;
    const m: DeviceMessage = {
      ...decodeDeviceDelivery(ctx.message as unknown as AmqpMessage, Buffer.from(delivery.tag as Buffer)),
      deviceId: this.o.credentials.deviceId,
      // AMQP does not carry the lock time: the client's estimate from arrival.
      lockedUntilUtc: this.o.clock.now() + trustedLockMs(this.o.lockTimeoutMs),
    };
    this.deliveries.set(m.lockToken, delivery);
    if (this.onMessage) {
      this.link?.add_credit(1);
      this.onMessage(m);
    } else this.buffer.push(m);
  }

  async enableMessages(onMessage: (m: DeviceMessage) => void): Promise<void> {
    this.onMessage = onMessage;
    const link = await this.receiverLink();
    for (const m of this.buffer.drain()) onMessage(m);
    link.add_credit(Math.max(0, this.o.amqpPrefetch - linkCredit(link)));
  }

  async disableMessages(): Promise<void> {
    // Credit already given stays; messages that still come wait in the buffer for receive().
    this.onMessage = undefined;
  }

  async receive(timeoutMs: number, signal?: AbortSignal): Promise<DeviceMessage | null> {
    signal?.throwIfAborted();
    const link = await this.receiverLink();
    const ready = this.buffer.shift();
    if (ready) return ready;
    // Credit 1: one message may come; one that arrives after the timeout (or abort) waits for the next call.
    if (linkCredit(link) === 0) link.add_credit(1);
    return this.buffer.next(timeoutMs, signal);
  }

  settle(kind: Settlement, lockToken: string): Promise<void> {
    const d = this.deliveries.get(lockToken);
    // Settled by the hub already: the lock was lost (it expired, or the message left the queue).
    if (!d || this.closed || d.remote_settled) {
      this.deliveries.delete(lockToken);
      return Promise.reject(errors.lockLost(lockToken));
    }
    this.deliveries.delete(lockToken);
    return (this.settler as Settler).settle(d, OUTCOME[kind]);
  }

  sendEvent(body: Buffer, properties: Properties): Promise<void> {
    return this.events.send(encodeDeviceEvent(this.o.credentials.deviceId, body, properties) as never);
  }

  async close(): Promise<void> {
    this.markClosed();
    await closeAmqpConnection(this.connection);
  }
}

/**
 * The in-process twins: the same DeviceConnection / ServiceConnection
 * contracts straight on a HubApi in this process, no sockets and no tokens
 * (whoever holds the Hub object is trusted). The Node-RED nodes use these
 * when their config targets an embedded hub in the same Node-RED.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { systemClock } from '../common/clock';
import { C2DError, errors } from '../common/errors';
import type { DeviceMessage, OutgoingMessage, Properties } from '../common/message';
import { assertDeviceEvent } from '../common/validate';
import type { Device, DeviceReceiver, DeviceSession, DeviceSpec, FeedbackReceiver, HubApi } from '../hub/api';
import { ExponentialBackoffWithJitter, type RetryPolicy } from '../common/retry';
import { FeedbackStream } from './feedback-stream';
import { MessageBuffer } from './message-buffer';
import { toOutgoing } from './outgoing';
import { sendTimedOut, sendTimeoutOf, withSendTimeout } from './send-timeout';
import type { DeviceConnection, FeedbackBatchHandle, ReceiveOptions, SendOptions, SendOutcome, ServiceConnection } from './types';

const PROTOCOL = 'in-process';

export interface InProcessDeviceOptions {
  /** Credit while a `message` listener is attached (default 50). */
  prefetch?: number;
  /** When the hub drops the connection (an injected fault): how soon to reconnect (default: the DeviceClient's backoff). */
  retryPolicy?: RetryPolicy;
}

export class InProcessDeviceClient extends EventEmitter implements DeviceConnection {
  readonly transport = 'in-process' as const;
  readonly canRejectOrAbandon = true;
  private receiver: DeviceReceiver | undefined;
  private readonly buffer = new MessageBuffer();
  private isOpen = false;
  /** The hub's record of this connection while open. */
  private session: DeviceSession | undefined;
  /** Reconnecting after the hub dropped the connection. */
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly retryPolicy: RetryPolicy;

  constructor(
    private readonly hub: HubApi,
    readonly deviceId: string,
    private readonly options: InProcessDeviceOptions = {},
  ) {
    super();
    this.retryPolicy = options.retryPolicy ?? new ExponentialBackoffWithJitter();
    this.on('newListener', (event: string | symbol) => {
      if (event !== 'message' || !this.isOpen || this.listenerCount('message') > 0) return;
      if (this.receiver) this.receiver.addCredit(this.options.prefetch ?? 50);
      else queueMicrotask(() => this.attach());
    });
  }

  get connected(): boolean {
    return this.isOpen;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    this.connect();
    this.emit('connected', { reason: 'connected' });
    if (this.listenerCount('message') > 0) this.attach();
  }

  /** Opens the hub session (throws 404001 for an unknown or disabled device, after saying so). */
  private connect(): void {
    const d = this.hub.registry.getDevice(this.deviceId);
    if (!d || d.status !== 'enabled') {
      const err = errors.deviceNotFound(this.deviceId);
      this.emit('disconnected', { reason: 'bad-credential', cause: err });
      throw err;
    }
    this.isOpen = true;
    const session = this.hub.openSession(this.deviceId, PROTOCOL, {
      ended: (reason) => {
        if (this.session === session) this.drop(reason, 'device-disabled', false);
      },
      // No protocol layers here: every connection fault is the connection dropping, and coming back.
      fault: (f) => {
        if (this.session !== session) return false;
        this.drop(
          new C2DError('DeviceConnectionClosedRemotely', `The hub dropped the connection (fault injected: ${f.type}, ${f.closeReason}).`),
          'communication-error',
          true,
        );
        return true;
      },
    });
    this.session = session;
  }

  /** The connection is gone: locks go back to the queue; reconnect after the policy's delay when `retry`. */
  private drop(cause: Error, reason: 'device-disabled' | 'communication-error', retry: boolean): void {
    if (!this.isOpen) return;
    this.isOpen = false;
    const session = this.session;
    this.session = undefined;
    this.receiver?.close();
    this.receiver = undefined;
    this.buffer.fail(cause);
    session?.close(retry ? 'fault' : 'ended');
    if (!retry || !this.retryPolicy.shouldRetry(cause, 1, 0)) {
      this.emit('disconnected', { reason, cause });
      return;
    }
    const delayMs = Math.max(0, this.retryPolicy.nextDelayMs(1, cause));
    this.emit('disconnected_retrying', { reason, cause, attempt: 1, delayMs });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      try {
        this.connect();
      } catch {
        return; // said as 'disconnected' by connect()
      }
      this.emit('connected', { reason: 'connected' });
      if (this.listenerCount('message') > 0) this.attach();
    }, delayMs);
    this.reconnectTimer.unref();
  }

  /** One engine receiver; messages go to the listeners, or wait in the buffer for receive(). */
  private attach(): void {
    if (this.receiver || !this.isOpen) return;
    this.receiver = this.hub.openReceiver(
      this.deviceId,
      {
        deliver: (m) => {
          if (this.listenerCount('message') > 0) this.emit('message', m);
          else this.buffer.push(m);
        },
        closed: (reason) => {
          this.receiver = undefined;
          this.drop(reason, 'device-disabled', false);
        },
      },
      // Polling only (no listener): one message at a time, as AMQP's credit 1.
      { credit: this.listenerCount('message') > 0 ? (this.options.prefetch ?? 50) : 1, replace: true, transport: PROTOCOL },
    );
  }

  async close(): Promise<void> {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (!this.isOpen) return;
    this.isOpen = false;
    this.receiver?.close();
    this.receiver = undefined;
    this.buffer.fail(new Error('The client was closed.'));
    this.session?.close('closed-by-client');
    this.session = undefined;
    this.emit('disconnected', { reason: 'closed-by-client' });
  }

  async receive(options: ReceiveOptions = {}): Promise<DeviceMessage | null> {
    options.signal?.throwIfAborted();
    const ready = this.buffer.shift() ?? (this.receiver ? undefined : ((await this.hub.receive(this.deviceId, { transport: PROTOCOL })) ?? undefined));
    if (ready) return ready;
    // Wait for the next message through a receiver (as AMQP's credit 1 would).
    this.attach();
    if (this.receiver && this.receiver.credit === 0) this.receiver.addCredit(1);
    return this.buffer.next(options.timeoutMs ?? 10_000, options.signal);
  }

  private async settled(p: Promise<void>): Promise<void> {
    try {
      await p;
    } finally {
      if (this.listenerCount('message') > 0) this.receiver?.addCredit(1);
    }
  }

  complete(message: DeviceMessage | string): Promise<void> {
    return this.settled(this.hub.complete(this.deviceId, typeof message === 'string' ? message : message.lockToken));
  }

  reject(message: DeviceMessage | string): Promise<void> {
    return this.settled(this.hub.reject(this.deviceId, typeof message === 'string' ? message : message.lockToken));
  }

  abandon(message: DeviceMessage | string): Promise<void> {
    return this.settled(this.hub.abandon(this.deviceId, typeof message === 'string' ? message : message.lockToken));
  }

  /** Device-to-cloud straight to the hub, which reports it as its `deviceToCloud` event. */
  async sendEvent(body: Buffer, properties: Properties = {}): Promise<void> {
    assertDeviceEvent(body, properties);
    if (!this.isOpen) throw errors.unavailable('The client is not open.');
    this.hub.noteDeviceToCloud(this.deviceId, body, { ...properties }, this.session);
  }
}

export class InProcessServiceClient extends EventEmitter implements ServiceConnection {
  private isOpen = false;
  private feedbackReceiver: FeedbackReceiver | undefined;
  private readonly streams = new Set<FeedbackStream>();
  /** Batches for receiveFeedback(), while no feedback() iteration takes them. */
  private readonly pulled = new MessageBuffer<FeedbackBatchHandle>();

  constructor(private readonly hub: HubApi) {
    super();
  }

  get hostName(): string {
    return this.hub.hubName;
  }

  get connected(): boolean {
    return this.isOpen;
  }

  async open(): Promise<void> {
    if (this.isOpen) return;
    this.isOpen = true;
    this.emit('connected', { reason: 'connected' });
  }

  async close(): Promise<void> {
    if (!this.isOpen) return;
    this.isOpen = false;
    this.feedbackReceiver?.close();
    this.feedbackReceiver = undefined;
    for (const s of this.streams) s.end();
    this.streams.clear();
    this.pulled.fail(errors.unavailable('The client was closed.'));
    this.emit('disconnected', { reason: 'closed-by-client' });
  }

  async send(deviceId: string, body: Buffer | OutgoingMessage, options: SendOptions = {}): Promise<SendOutcome> {
    const m = toOutgoing(body, options);
    const messageId = (m.messageId ??= randomUUID());
    const timeoutMs = sendTimeoutOf(options.timeoutMs);
    const r = await withSendTimeout(
      systemClock,
      timeoutMs,
      () => sendTimedOut(deviceId, messageId, timeoutMs),
      () => this.hub.send(deviceId, m),
    );
    return { messageId: r.messageId, deviceId, enqueuedTimeUtc: r.enqueuedTimeUtc };
  }

  feedback(): AsyncIterable<FeedbackBatchHandle> {
    const stream = new FeedbackStream();
    this.streams.add(stream);
    this.openFeedback().addCredit(Math.max(0, 10 - (this.feedbackReceiver?.credit ?? 0)));
    return stream;
  }

  /** One batch, or null when none came within `timeoutMs`; as ServiceClient.receiveFeedback. */
  async receiveFeedback(options: ReceiveOptions = {}): Promise<FeedbackBatchHandle | null> {
    options.signal?.throwIfAborted();
    if (!this.isOpen) throw errors.unavailable('The client is not open.');
    const ready = this.pulled.shift();
    if (ready) return ready;
    const r = this.openFeedback();
    if (r.credit === 0) r.addCredit(1);
    return this.pulled.next(options.timeoutMs ?? 10_000, options.signal);
  }

  /** The engine's feedback receiver, opened with no credit: feedback() and receiveFeedback() ask for batches. */
  private openFeedback(): FeedbackReceiver {
    this.feedbackReceiver ??= this.hub.openFeedbackReceiver(
      {
        deliver: (b) => {
          // Streams keep the credit up as batches are settled; a receiveFeedback() call asks for one.
          const streaming = this.streams.size > 0;
          const settle = async (p: Promise<void>): Promise<void> => {
            await p;
            if (streaming) this.feedbackReceiver?.addCredit(1);
          };
          const handle: FeedbackBatchHandle = {
            records: b.records,
            enqueuedTimeUtc: b.enqueuedTimeUtc,
            lockToken: b.lockToken,
            complete: () => settle(this.hub.completeFeedback(b.lockToken)),
            abandon: () => settle(this.hub.abandonFeedback(b.lockToken)),
          };
          if (streaming) for (const s of this.streams) s.push(handle);
          else this.pulled.push(handle);
        },
        closed: () => {
          this.feedbackReceiver = undefined;
          for (const s of this.streams) s.end();
        },
      },
      { credit: 0 },
    );
    return this.feedbackReceiver;
  }

  purge(deviceId: string): Promise<number> {
    return this.hub.purge(deviceId);
  }

  createDevice(spec: DeviceSpec): Promise<Device> {
    return this.hub.registry.createDevice(spec);
  }

  async getDevice(deviceId: string): Promise<Device> {
    const d = this.hub.registry.getDevice(deviceId);
    if (!d) throw errors.deviceNotFound(deviceId);
    return d;
  }

  updateDevice(spec: DeviceSpec, etag?: string): Promise<Device> {
    return this.hub.registry.updateDevice(spec, etag ?? '*');
  }

  deleteDevice(deviceId: string, etag?: string): Promise<void> {
    return this.hub.registry.deleteDevice(deviceId, etag);
  }

  async listDevices(): Promise<Device[]> {
    return this.hub.registry.listDevices();
  }
}

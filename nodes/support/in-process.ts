/**
 * In-process clients: DeviceConnection and ServiceConnection straight onto a
 * Hub in the same process (no sockets). TEMPORARY home: the `clients` branch
 * owns lib/client/in-process.ts; once it lands this file is deleted and the
 * nodes import from there (same class names, same constructor arguments).
 */
import { EventEmitter } from 'node:events';
import { C2DError } from '../../lib/common/errors';
import type { FeedbackRecord, OutgoingMessage, ReceivedFeedbackBatch, ReceivedMessage } from '../../lib/common/message';
import type { Device, DeviceReceiver, DeviceSpec, HubApi } from '../../lib/hub/api';
import type { DeviceConnection, FeedbackBatchHandle, SendOptions, SendOutcome, ServiceConnection } from '../../lib/client/types';

/** Messages locked to this client at once while a listener is attached (as an AMQP prefetch). */
const PREFETCH = 10;

function tokenOf(m: ReceivedMessage | string): string {
  return typeof m === 'string' ? m : m.lockToken;
}

export class InProcessDeviceClient extends EventEmitter implements DeviceConnection {
  readonly transport = 'in-process' as const;
  readonly canRejectOrAbandon = true;
  private isConnected = false;
  private receiver: DeviceReceiver | undefined;
  private readonly onLockExpired = (e: { deviceId: string }): void => {
    if (e.deviceId === this.deviceId) this.receiver?.addCredit(1);
  };

  constructor(private readonly hub: HubApi, readonly deviceId: string) {
    super();
    // Attach the push receiver only while someone listens for messages.
    this.on('newListener', (event: string) => {
      if (event === 'message') queueMicrotask(() => this.syncReceiver());
    });
    this.on('removeListener', (event: string) => {
      if (event === 'message') this.syncReceiver();
    });
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async open(): Promise<void> {
    if (this.isConnected) return;
    const d = this.hub.registry.getDevice(this.deviceId);
    if (!d || d.status !== 'enabled') throw new C2DError('DeviceNotFound', `Device '${this.deviceId}' is not registered or is disabled.`);
    this.isConnected = true;
    this.hub.noteConnection(this.deviceId, 'in-process', true);
    this.syncReceiver();
    this.emit('connected', { reason: 'connected' });
  }

  async close(): Promise<void> {
    if (!this.isConnected) return;
    this.drop('closed-by-client');
  }

  private drop(reason: 'closed-by-client' | 'device-disabled', cause?: Error): void {
    this.isConnected = false;
    this.detach();
    this.hub.noteConnection(this.deviceId, 'in-process', false, reason);
    this.emit('disconnected', { reason, cause });
  }

  private syncReceiver(): void {
    const want = this.isConnected && this.listenerCount('message') > 0;
    if (want && !this.receiver) {
      this.hub.events.on('lockExpired', this.onLockExpired);
      this.receiver = this.hub.openReceiver(this.deviceId, {
        deliver: (m) => this.emit('message', m),
        // The hub closed the receiver (device deleted or disabled, hub closing).
        closed: (reason) => {
          this.receiver = undefined;
          if (this.isConnected) this.drop('device-disabled', reason);
        },
      }, { credit: PREFETCH, replace: true });
    } else if (!want) {
      this.detach();
    }
  }

  private detach(): void {
    this.hub.events.off('lockExpired', this.onLockExpired);
    const r = this.receiver;
    this.receiver = undefined;
    r?.close();
  }

  async receive(options: { timeoutMs?: number } = {}): Promise<ReceivedMessage | null> {
    this.assertOpen();
    return this.hub.receive(this.deviceId).then((m) => m ?? (options.timeoutMs ? this.waitOne(options.timeoutMs) : null));
  }

  private waitOne(timeoutMs: number): Promise<ReceivedMessage | null> {
    return new Promise((resolve, reject) => {
      const onEnqueued = (e: { deviceId: string }): void => {
        if (e.deviceId !== this.deviceId) return;
        this.hub.receive(this.deviceId).then((m) => {
          if (m) finish(m);
        }, fail);
      };
      const finish = (m: ReceivedMessage | null): void => {
        clearTimeout(timer);
        this.hub.events.off('enqueued', onEnqueued);
        resolve(m);
      };
      const fail = (e: unknown): void => {
        clearTimeout(timer);
        this.hub.events.off('enqueued', onEnqueued);
        reject(e);
      };
      const timer = setTimeout(() => finish(null), timeoutMs);
      this.hub.events.on('enqueued', onEnqueued);
    });
  }

  async complete(m: ReceivedMessage | string): Promise<void> {
    this.assertOpen();
    await this.hub.complete(this.deviceId, tokenOf(m));
    this.receiver?.addCredit(1);
  }

  async reject(m: ReceivedMessage | string): Promise<void> {
    this.assertOpen();
    await this.hub.reject(this.deviceId, tokenOf(m));
    this.receiver?.addCredit(1);
  }

  async abandon(m: ReceivedMessage | string): Promise<void> {
    this.assertOpen();
    await this.hub.abandon(this.deviceId, tokenOf(m));
    this.receiver?.addCredit(1);
  }

  private assertOpen(): void {
    if (!this.isConnected) throw new C2DError('ServiceUnavailable', 'The device connection is not open.');
  }
}

export class InProcessServiceClient extends EventEmitter implements ServiceConnection {
  private isConnected = false;
  private readonly closers = new Set<() => void>();

  constructor(private readonly hub: HubApi) {
    super();
  }

  get hostName(): string {
    return this.hub.hubName;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  async open(): Promise<void> {
    if (this.isConnected) return;
    this.isConnected = true;
    this.emit('connected', { reason: 'connected' });
  }

  async close(): Promise<void> {
    if (!this.isConnected) return;
    this.isConnected = false;
    for (const c of [...this.closers]) c();
    this.emit('disconnected', { reason: 'closed-by-client' });
  }

  async send(deviceId: string, body: Buffer | OutgoingMessage, options: SendOptions = {}): Promise<SendOutcome> {
    this.assertOpen();
    const base: OutgoingMessage = Buffer.isBuffer(body) ? { body } : { ...body };
    const { ttlMs, expiryTimeUtc, timeoutMs: _t, ...rest } = options;
    const m: OutgoingMessage = { ...base, ...dropUndefined(rest) };
    if (ttlMs !== undefined) m.expiryTimeUtc = Date.now() + ttlMs;
    if (expiryTimeUtc !== undefined) m.expiryTimeUtc = typeof expiryTimeUtc === 'number' ? expiryTimeUtc : expiryTimeUtc.getTime();
    const r = await this.hub.send(deviceId, m);
    return { messageId: r.messageId, deviceId, enqueuedTimeUtc: r.enqueuedTimeUtc };
  }

  feedback(): AsyncIterable<FeedbackBatchHandle> {
    this.assertOpen();
    const hub = this.hub;
    const waiting: ReceivedFeedbackBatch[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const receiver = hub.openFeedbackReceiver({
      deliver: (b) => {
        waiting.push(b);
        wake?.();
      },
      closed: () => end(),
    }, { credit: 1 });
    const end = (): void => {
      ended = true;
      this.closers.delete(end);
      receiver.close();
      wake?.();
    };
    this.closers.add(end);
    const handle = (b: ReceivedFeedbackBatch): FeedbackBatchHandle => ({
      records: b.records.map((r: FeedbackRecord) => ({ ...r })),
      enqueuedTimeUtc: b.enqueuedTimeUtc,
      lockToken: b.lockToken,
      complete: () => hub.completeFeedback(b.lockToken).finally(() => receiver.addCredit(1)),
      abandon: () => hub.abandonFeedback(b.lockToken).finally(() => receiver.addCredit(1)),
    });
    return {
      [Symbol.asyncIterator]: () => ({
        next: async (): Promise<IteratorResult<FeedbackBatchHandle>> => {
          while (!ended && waiting.length === 0) await new Promise<void>((r) => (wake = r));
          wake = undefined;
          const b = waiting.shift();
          return b && !ended ? { value: handle(b), done: false } : { value: undefined, done: true };
        },
        return: async (): Promise<IteratorResult<FeedbackBatchHandle>> => {
          end();
          return { value: undefined, done: true };
        },
      }),
    };
  }

  purge(deviceId: string): Promise<number> {
    this.assertOpen();
    return this.hub.purge(deviceId);
  }

  createDevice(spec: DeviceSpec): Promise<Device> {
    this.assertOpen();
    return this.hub.registry.createDevice(spec);
  }

  async getDevice(deviceId: string): Promise<Device> {
    this.assertOpen();
    const d = this.hub.registry.getDevice(deviceId);
    if (!d) throw new C2DError('DeviceNotFound', `Device '${deviceId}' is not registered.`);
    return d;
  }

  updateDevice(spec: DeviceSpec, etag?: string): Promise<Device> {
    this.assertOpen();
    return this.hub.registry.updateDevice(spec, etag);
  }

  deleteDevice(deviceId: string, etag?: string): Promise<void> {
    this.assertOpen();
    return this.hub.registry.deleteDevice(deviceId, etag);
  }

  async listDevices(): Promise<Device[]> {
    this.assertOpen();
    return this.hub.registry.listDevices();
  }

  private assertOpen(): void {
    if (!this.isConnected) throw new C2DError('ServiceUnavailable', 'The service connection is not open.');
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

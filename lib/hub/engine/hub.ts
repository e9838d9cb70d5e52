/**
 * The embedded hub: HubApi (lib/hub/api.ts) over the pure rules (queue.ts,
 * feedback.ts), the store, one scheduler and the dispatcher. Working state
 * lives in memory; every change is sent to the store and a caller's promise
 * resolves only after that change is committed (group commit in the store).
 * Every operation first applies the deadlines already due for what it
 * touches, so a late timer never lets an expired lock or message through.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../common/clock';
import { C2DError, errors } from '../../common/errors';
import { DEFAULT_LIMITS, validateLimits, type HubLimits } from '../../common/limits';
import type { OutgoingMessage, Properties, ReceivedFeedbackBatch, ReceivedMessage } from '../../common/message';
import { assertDeviceId, assertOutgoingMessage } from '../../common/validate';
import { STORE_SYNCHRONOUS, type DeliverySink, type DeviceReceiver, type FeedbackReceiver, type FeedbackSink, type HubApi, type HubEvents, type HubStats, type SendResult, type SettleOptions, type StoreSynchronous } from '../api';
import { HubAuthenticator } from './auth';
import { TrustedCas } from './x509-ca';
import { Dispatcher } from './dispatcher';
import * as F from './feedback';
import * as Q from './queue';
import { DeviceRegistry } from './registry';
import { SqliteStore } from './sqlite-store';
import { EngineState } from './state';
import type { Store, StoreOp } from './store';
import { SendThrottle } from './throttle';

export interface HubOptions {
  /** Host name used in tokens and connection strings (default 'localhost'). */
  hubName?: string;
  /** Folder for hub.db (created if missing); absent = SQLite ':memory:'. */
  dataDir?: string;
  /** Validated with validateLimits(); 400004 on a bad value. */
  limits?: Partial<HubLimits>;
  /** Default systemClock; tests pass a ManualClock. */
  clock?: Clock;
  /** The store's SQLite synchronous setting, default FULL (see StoreSynchronous). */
  synchronous?: StoreSynchronous;
  /** How long a settlement nobody waits on may wait for the next commit (default LAZY_COMMIT_MS, 5 ms). */
  lazyCommitMs?: number;
  /** When true, a send to an unknown device creates it (sas, generated keys). Default false. */
  registerUnknownDevices?: boolean;
  /**
   * CA certificates (PEM text, one or more per entry, or DER) that
   * certificateAuthority devices' chains must lead to, as IoT Hub's verified
   * "Certificates". 400004 for one that is not a CA certificate.
   */
  trustedCaCertificates?: readonly (string | Buffer)[];
}

export class Hub implements HubApi {
  readonly hubName: string;
  readonly limits: Readonly<HubLimits>;
  readonly registry: DeviceRegistry;
  readonly auth: HubAuthenticator;
  readonly events: HubEvents = new EventEmitter() as HubEvents;

  private readonly state: EngineState;
  private readonly dispatcher: Dispatcher;
  private readonly throttle: SendThrottle;
  private closed = false;

  private constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    limits: HubLimits,
    hubName: string,
    private readonly registerUnknown: boolean,
    trustedCas: TrustedCas,
  ) {
    this.hubName = hubName;
    this.limits = Object.freeze({ ...limits });
    // Servers and nodes each listen (one per connection or flow node): no listener cap.
    this.events.setMaxListeners(0);
    this.throttle = new SendThrottle(limits.maxSendsPerSecond, clock);
    this.state = new EngineState(store, clock, this.limits, this.events, {
      device: (id) => this.dispatcher.kick(id),
      feedback: () => this.dispatcher.kickFeedback(),
    });
    this.registry = new DeviceRegistry({
      now: () => this.clock.now(),
      persist: (ops) => this.store.write(ops),
      pendingCount: (id) => this.state.queues.get(id)?.messages.length ?? 0,
      created: (d) => {
        this.state.queues.set(d.deviceId, Q.emptyQueue(d.deviceId, d.generationId));
        this.events.emit('deviceCreated', { deviceId: d.deviceId });
        return [{ t: 'deleteQueue', deviceId: d.deviceId }];
      },
      deleted: (id) => this.dropDevice(id),
      disabled: (id) => this.dispatcher.closeDevice(id, new C2DError('DeviceNotFound', `Device '${id}' was disabled.`)),
    });
    this.auth = new HubAuthenticator(this.registry, clock, trustedCas);
    this.dispatcher = new Dispatcher({
      lockNext: (id) => this.lockNext(id),
      release: (id, token) => {
        if (this.state.queues.has(id)) this.state.commitLater(this.state.applyQueue(id, (q, now) => Q.release(q, token, now, this.limits)).ops);
      },
      isLocked: (id, token) => this.state.queues.get(id)?.messages.some((e) => e.lockToken === token) ?? false,
      lockNextFeedback: () => this.lockNextFeedback(),
      releaseFeedback: (token) => this.state.commitLater(this.state.applyFeedback((s, now) => F.release(s, token, now, this.limits, randomUUID))),
    });
  }

  /** Opens (or creates) the hub's store, recovers its state and starts the deadline scheduler. */
  static async open(options: HubOptions = {}): Promise<Hub> {
    const limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
    const problems = validateLimits(limits);
    if (problems.length > 0) throw new C2DError('ArgumentInvalid', `Invalid hub limits: ${problems.join('; ')}.`);
    if (options.synchronous !== undefined && !(STORE_SYNCHRONOUS as readonly string[]).includes(options.synchronous)) {
      throw new C2DError('ArgumentInvalid', `Invalid store synchronous setting '${String(options.synchronous)}': ${STORE_SYNCHRONOUS.join(' or ')}.`);
    }
    const trustedCas = new TrustedCas(options.trustedCaCertificates);
    const store = new SqliteStore({ dataDir: options.dataDir, synchronous: options.synchronous, lazyCommitMs: options.lazyCommitMs });
    const hub = new Hub(store, options.clock ?? systemClock, limits, options.hubName ?? 'localhost', options.registerUnknownDevices ?? false, trustedCas);
    try {
      await hub.recover();
    } catch (e) {
      store.close();
      throw e;
    }
    return hub;
  }

  private async recover(): Promise<void> {
    // Queues are read in lazily when the store can do it (see device-queues.ts).
    const stored = this.store.load({ deferMessages: this.store.loadQueue !== undefined });
    await this.registry.load(stored.devices, stored.policies);
    await this.store.write(this.state.recover(stored));
  }

  private assertOpen(): void {
    if (this.closed) throw new C2DError('ServiceUnavailable', 'The hub is closed.');
  }

  /** The device's queue if the device exists and is enabled; 404001 otherwise (IoT Hub treats disabled as not found for C2D). */
  private enabledQueue(deviceId: string): Q.DeviceQueue {
    const d = this.registry.record(deviceId);
    if (!d || d.status !== 'enabled' || !this.state.queues.has(deviceId)) throw errors.deviceNotFound(String(deviceId));
    return this.state.queues.get(deviceId)!;
  }

  private dropDevice(deviceId: string): StoreOp[] {
    this.dispatcher.closeDevice(deviceId, new C2DError('DeviceNotFound', `Device '${deviceId}' was deleted.`));
    this.state.queues.delete(deviceId);
    const ops: StoreOp[] = [{ t: 'deleteQueue', deviceId }];
    ops.push(...this.state.applyFeedback((s) => F.dropDevice(s, deviceId)));
    this.events.emit('deviceDeleted', { deviceId });
    return ops;
  }

  // ------------------------------------------------------------ C2D

  async send(deviceId: string, message: OutgoingMessage): Promise<SendResult> {
    this.assertOpen();
    assertDeviceId(deviceId);
    if (!message || typeof message !== 'object') throw errors.invalid('A message is required.');
    assertOutgoingMessage(message);
    if (this.registerUnknown && !this.registry.record(deviceId)) await this.registry.createDevice({ deviceId });
    this.enabledQueue(deviceId);
    this.throttle.take();
    const { result, ops } = this.state.applyQueue(deviceId, (q, now) => Q.send(q, message, randomUUID(), now, this.limits));
    const m = (result.effects[0] as { message: { messageId: string; sequenceNumber: number; enqueuedTimeUtc: number } }).message;
    try {
      await this.store.write(ops);
    } catch (e) {
      // Not durable, so not accepted: take it back out of memory too (unless a poll already locked it).
      const q = this.state.queues.get(deviceId);
      if (q) this.state.queues.set(deviceId, { ...q, messages: q.messages.filter((x) => x.message.sequenceNumber !== m.sequenceNumber || x.state !== 'Enqueued') });
      // Name the store's reason (SQLITE_FULL: disk full, SQLITE_READONLY...) so the sender sees why; it carries no secret.
      const why = [(e as { code?: unknown }).code, (e as Error).message].filter((x) => typeof x === 'string' && x).join(': ');
      throw new C2DError('ServerError', `The message could not be stored${why ? ` (${why})` : ''}.`, { cause: e });
    }
    // Pushed only once durable, so no device acts on a message a crash could still take back.
    this.dispatcher.kick(deviceId);
    return { messageId: m.messageId, sequenceNumber: m.sequenceNumber, enqueuedTimeUtc: m.enqueuedTimeUtc };
  }

  private lockNext(deviceId: string): ReceivedMessage | undefined {
    if (this.closed || !this.state.queues.has(deviceId)) return undefined;
    const { result, ops } = this.state.applyQueue(deviceId, (q, now) => Q.receive(q, randomUUID(), now, this.limits));
    this.state.commitLater(ops);
    return result.received;
  }

  async receive(deviceId: string): Promise<ReceivedMessage | null> {
    this.assertOpen();
    this.enabledQueue(deviceId);
    return this.lockNext(deviceId) ?? null;
  }

  private async settle(deviceId: string, lockToken: string, options: SettleOptions | undefined, rule: (q: Q.DeviceQueue, now: number) => Q.Transition): Promise<void> {
    this.assertOpen();
    if (typeof lockToken !== 'string' || !this.state.queues.has(deviceId)) throw errors.lockLost(String(lockToken));
    const { ops } = this.state.applyQueue(deviceId, rule);
    this.dispatcher.settled(deviceId, lockToken);
    await this.store.write(ops, options);
  }

  complete(deviceId: string, lockToken: string, options?: SettleOptions): Promise<void> {
    return this.settle(deviceId, lockToken, options, (q, now) => Q.complete(q, lockToken, now));
  }

  reject(deviceId: string, lockToken: string, options?: SettleOptions): Promise<void> {
    return this.settle(deviceId, lockToken, options, (q, now) => Q.reject(q, lockToken, now));
  }

  abandon(deviceId: string, lockToken: string, options?: SettleOptions): Promise<void> {
    return this.settle(deviceId, lockToken, options, (q, now) => Q.abandon(q, lockToken, now, this.limits));
  }

  async purge(deviceId: string): Promise<number> {
    this.assertOpen();
    if (!this.registry.record(deviceId) || !this.state.queues.has(deviceId)) throw errors.deviceNotFound(String(deviceId));
    const { result, ops } = this.state.applyQueue(deviceId, (q, now) => Q.purge(q, now));
    const count = result.effects.reduce((n, e) => n + (e.type === 'purged' ? e.messages.length : 0), 0);
    this.events.emit('purged', { deviceId, count });
    await this.store.write(ops);
    return count;
  }

  openReceiver(deviceId: string, sink: DeliverySink, options?: { credit?: number; replace?: boolean }): DeviceReceiver {
    this.assertOpen();
    this.enabledQueue(deviceId);
    return this.dispatcher.openReceiver(deviceId, sink, options);
  }

  // ------------------------------------------------------------ feedback

  private lockNextFeedback(): ReceivedFeedbackBatch | undefined {
    if (this.closed) return undefined;
    let batch: F.FeedbackBatchState | undefined;
    this.state.commitLater(this.state.applyFeedback((s, now) => {
      const t = F.receive(s, randomUUID(), now, this.limits);
      batch = t.batch;
      return t;
    }));
    if (!batch) return undefined;
    return {
      records: batch.records.map((r) => ({ ...r })),
      enqueuedTimeUtc: batch.enqueuedTimeUtc,
      userId: this.hubName,
      lockToken: batch.lockToken!,
      lockedUntilUtc: batch.lockedUntilUtc!,
      deliveryCount: batch.deliveryCount,
    };
  }

  async receiveFeedback(): Promise<ReceivedFeedbackBatch | null> {
    this.assertOpen();
    return this.lockNextFeedback() ?? null;
  }

  private async settleFeedback(lockToken: string, how: 'complete' | 'reject' | 'abandon'): Promise<void> {
    this.assertOpen();
    if (typeof lockToken !== 'string') throw errors.lockLost(String(lockToken));
    const ops = this.state.applyFeedback((st, now) => F.settle(st, lockToken, how, now, this.limits));
    this.dispatcher.feedbackSettled(lockToken);
    await this.store.write(ops);
  }

  completeFeedback(lockToken: string): Promise<void> {
    return this.settleFeedback(lockToken, 'complete');
  }

  abandonFeedback(lockToken: string): Promise<void> {
    return this.settleFeedback(lockToken, 'abandon');
  }

  rejectFeedback(lockToken: string): Promise<void> {
    return this.settleFeedback(lockToken, 'reject');
  }

  openFeedbackReceiver(sink: FeedbackSink, options?: { credit?: number }): FeedbackReceiver {
    this.assertOpen();
    return this.dispatcher.openFeedbackReceiver(sink, options);
  }

  async flushFeedback(): Promise<void> {
    this.assertOpen();
    await this.store.write(this.state.applyFeedback((s, now) => F.flush(s, now, this.limits, randomUUID)));
  }

  // ------------------------------------------------------------ misc

  noteConnection(deviceId: string, protocol: string, connected: boolean, reason?: string): void {
    this.registry.noteConnection(deviceId, connected);
    if (connected) this.events.emit('deviceConnected', { deviceId, protocol });
    else this.events.emit('deviceDisconnected', { deviceId, protocol, ...(reason !== undefined ? { reason } : {}) });
  }

  noteDeviceToCloud(deviceId: string, body: Buffer, properties: Properties): void {
    this.events.emit('deviceToCloud', { deviceId, body, properties });
  }

  stats(): HubStats {
    let queued = 0;
    let locked = 0;
    for (const q of this.state.queues.values()) for (const e of q.messages) {
        if (e.state === 'Enqueued') queued++;
        else locked++;
      }
    return { devices: this.state.queues.size, queued, locked, feedbackPending: this.state.feedback.pending.length, feedbackBatches: this.state.feedback.batches.length, commits: this.store.commits, synchronous: this.store.synchronous };
  }

  /** The queue of a device as the rules see it (tests, diagnostics). */
  queueOf(deviceId: string): Q.DeviceQueue | undefined {
    return this.state.queues.get(deviceId);
  }

  /** The feedback queue as the rules see it (tests, diagnostics). */
  feedbackState(): F.FeedbackState {
    return this.state.feedback;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Receivers' locks go back to the queue (locks are not persisted anyway).
    this.dispatcher.closeAll(new C2DError('ServiceUnavailable', 'The hub is closing.'));
    this.closed = true;
    await this.state.stop();
    this.store.close();
  }
}

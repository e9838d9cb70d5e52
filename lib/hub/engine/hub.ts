/**
 * The embedded hub: HubApi (lib/hub/api.ts) over the pure rules (queue.ts,
 * feedback.ts, dead-letters.ts), the store, one scheduler and the dispatcher.
 * Working state lives in memory; every change is sent to the store and a
 * caller's promise resolves only after that change is committed (group commit
 * in the store). Every operation first applies the deadlines already due for
 * what it touches (transitions.ts), so a late timer never lets an expired
 * lock or message through. Hub events report committed changes (outbox.ts).
 *
 * The parts, and who each one talks to (all given in its constructor):
 *   Transitions  state + rules + scheduler; tells the Dispatcher what to wake
 *   Dispatcher   push receivers by credit; locks through Transitions
 *   Sessions     device connections; the registry shows their state
 *   DeviceRegistry -> EngineDeviceLifecycle -> Transitions, Dispatcher, Sessions
 *   Trace        observes hub.events
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { systemClock, type Clock } from '../../common/clock';
import { errors } from '../../common/errors';
import { ownedCopy } from '../../common/owned-bytes';
import { DEFAULT_LIMITS, validateLimits, type HubLimits } from '../../common/limits';
import type { C2DMessage, OutgoingMessage, Properties, ReceivedFeedbackBatch, ReceivedMessage } from '../../common/message';
import { assertDeviceId, assertOutgoingMessage } from '../../common/validate';
import { checkFault, type FaultRequest } from '../../common/fault-injection';
import {
  STORE_SYNCHRONOUS,
  type DeadLetterQuery,
  type DeadLetterRef,
  type DeadLetterView,
  type DeliverySink,
  type DeviceReceiver,
  type DeviceSession,
  type FaultScheduled,
  type FeedbackReceiver,
  type FeedbackSink,
  type HubApi,
  type HubEvents,
  type HubStats,
  type Page,
  type PendingMessageView,
  type ReceiverOptions,
  type SendResult,
  type SessionSink,
  type SettleOptions,
  type StoreSynchronous,
  type TraceEntry,
  type TransportName,
} from '../api';
import { HubAuthenticator } from './auth';
import * as DL from './dead-letters';
import { TrustedCas } from './x509-ca';
import { Dispatcher } from './dispatcher';
import { FaultInjector } from './faults';
import * as F from './feedback';
import { EngineDeviceLifecycle } from './lifecycle';
import { EventOutbox } from './outbox';
import * as Q from './queue';
import { DeviceRegistry } from './registry';
import { Sessions } from './sessions';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store';
import type { Store } from './store';
import { SendThrottle } from './throttle';
import { Trace } from './trace';
import { Transitions, joined, type Change } from './transitions';
import { deadLetterView, pendingView } from './views';

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
  /** Observes each store commit (its time and group size: metrics); see SqliteStoreOptions. */
  onCommit?: SqliteStoreOptions['onCommit'];
  /**
   * CA certificates (PEM text, one or more per entry, or DER) that
   * certificateAuthority devices' chains must lead to, as IoT Hub's verified
   * "Certificates". 400004 for one that is not a CA certificate.
   */
  trustedCaCertificates?: readonly (string | Buffer)[];
  /**
   * Whether a device's D2C message may ask for a fault (AzIoTHub_FaultOperation* properties,
   * lib/common/fault-injection.ts); default true. injectFault() works either way.
   */
  faultInjection?: boolean;
}

export class Hub implements HubApi {
  readonly hubName: string;
  readonly limits: Readonly<HubLimits>;
  readonly registry: DeviceRegistry;
  readonly auth: HubAuthenticator;
  readonly events: HubEvents = new EventEmitter() as HubEvents;

  private readonly transitions: Transitions;
  private readonly dispatcher: Dispatcher;
  private readonly sessions: Sessions;
  private readonly trace_: Trace;
  private readonly throttle: SendThrottle;
  private readonly faults: FaultInjector;
  private closed = false;

  private constructor(
    private readonly store: Store,
    clock: Clock,
    limits: HubLimits,
    hubName: string,
    private readonly registerUnknown: boolean,
    trustedCas: TrustedCas,
    faultInjection: boolean,
  ) {
    this.hubName = hubName;
    this.limits = Object.freeze({ ...limits });
    // Servers and nodes each listen (one per connection or flow node): no listener cap.
    this.events.setMaxListeners(0);
    this.throttle = new SendThrottle(limits.maxSendsPerSecond, clock);
    const outbox = new EventOutbox(this.events);
    this.dispatcher = new Dispatcher();
    this.transitions = new Transitions({ store, clock, limits: this.limits, outbox, receivers: this.dispatcher, hubName });
    this.dispatcher.serve(this.transitions);
    this.sessions = new Sessions(clock, outbox);
    this.faults = new FaultInjector(clock, outbox, this.sessions, faultInjection);
    this.registry = new DeviceRegistry(clock, this.transitions, new EngineDeviceLifecycle(this.transitions, this.dispatcher, this.sessions, this.faults));
    this.auth = new HubAuthenticator(this.registry, clock, trustedCas, (deviceId) => this.faults.assertAuthentication(deviceId));
    this.trace_ = new Trace(this.events, clock, this.limits);
  }

  /** Opens (or creates) the hub's store, recovers its state and starts the deadline scheduler. */
  static async open(options: HubOptions = {}): Promise<Hub> {
    const limits = { ...DEFAULT_LIMITS, ...(options.limits ?? {}) };
    const problems = validateLimits(limits);
    if (problems.length > 0) throw errors.invalid(`Invalid hub limits: ${problems.join('; ')}.`);
    if (options.synchronous !== undefined && !(STORE_SYNCHRONOUS as readonly string[]).includes(options.synchronous)) {
      throw errors.invalid(`Invalid store synchronous setting '${String(options.synchronous)}': ${STORE_SYNCHRONOUS.join(' or ')}.`);
    }
    const trustedCas = new TrustedCas(options.trustedCaCertificates);
    const store = new SqliteStore({
      dataDir: options.dataDir,
      synchronous: options.synchronous,
      lazyCommitMs: options.lazyCommitMs,
      onCommit: options.onCommit,
    });
    const hub = new Hub(
      store,
      options.clock ?? systemClock,
      limits,
      options.hubName ?? 'localhost',
      options.registerUnknownDevices ?? false,
      trustedCas,
      options.faultInjection ?? true,
    );
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
    await this.transitions.commit(this.transitions.recover(stored));
  }

  private assertOpen(): void {
    if (this.closed) throw errors.unavailable('The hub is closed.');
  }

  /** The device's queue if the device exists and is enabled; 404001 otherwise (IoT Hub treats disabled as not found for C2D). */
  private enabledQueue(deviceId: string): Q.DeviceQueue {
    const d = this.registry.record(deviceId);
    if (!d || d.status !== 'enabled' || !this.transitions.queues.has(deviceId)) throw errors.deviceNotFound(String(deviceId));
    return this.transitions.queues.get(deviceId)!;
  }

  /** The device's queue if the device exists, enabled or not (inspection); 404001 otherwise. */
  private knownQueue(deviceId: string): Q.DeviceQueue {
    if (typeof deviceId !== 'string' || !this.registry.record(deviceId) || !this.transitions.queues.has(deviceId))
      throw errors.deviceNotFound(String(deviceId));
    return this.transitions.queues.get(deviceId)!;
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
    // The hub's own copy, of its own size: a protocol's body is usually a view into the whole
    // socket read it came in, which a message kept for hours would hold alive; and a caller
    // reusing its buffer after send() cannot change what was accepted.
    const kept = { ...message, body: ownedCopy(message.body) };
    return this.enqueue(deviceId, (q, now) => Q.send(q, kept, randomUUID(), now, this.limits));
  }

  /** Applies a send rule, commits it, and pushes the message once it is durable; takes it back if the commit fails. */
  private async enqueue(deviceId: string, rule: (q: Q.DeviceQueue, now: number) => Q.Transition, alsoCommit?: (m: C2DMessage) => Change): Promise<SendResult> {
    const { result, change } = this.transitions.applyQueue(deviceId, rule);
    const m = (result.effects.find((e) => e.type === 'enqueued') as { message: C2DMessage }).message;
    const extra = alsoCommit?.(m);
    try {
      await this.transitions.commit(extra ? { ops: [...change.ops, ...extra.ops], events: [...change.events, ...extra.events] } : change);
    } catch (e) {
      // Not durable, so not accepted: take it back out of memory too (its events are dropped with the commit).
      if (this.transitions.queues.has(deviceId))
        this.transitions.commitLater(this.transitions.applyQueue(deviceId, (q) => Q.unsend(q, m.sequenceNumber)).change);
      // Name the store's reason (SQLITE_FULL: disk full, SQLITE_READONLY...) so the sender sees why; it carries no secret.
      const why = [(e as { code?: unknown }).code, (e as Error).message].filter((x) => typeof x === 'string' && x).join(': ');
      throw errors.internal(`The message could not be stored${why ? ` (${why})` : ''}.`, { cause: e });
    }
    // Pushed only once durable, so no device acts on a message a crash could still take back.
    this.dispatcher.kick(deviceId);
    return { messageId: m.messageId, sequenceNumber: m.sequenceNumber, enqueuedTimeUtc: m.enqueuedTimeUtc };
  }

  async receive(deviceId: string, options?: { transport?: TransportName }): Promise<ReceivedMessage | null> {
    this.assertOpen();
    this.enabledQueue(deviceId);
    this.faults.assertOperation(deviceId);
    return this.transitions.lockNext(deviceId, options?.transport ?? 'http') ?? null;
  }

  private async settle(
    deviceId: string,
    lockToken: string,
    options: SettleOptions | undefined,
    rule: (q: Q.DeviceQueue, now: number) => Q.Transition,
  ): Promise<void> {
    this.assertOpen();
    if (typeof lockToken !== 'string' || !this.transitions.queues.has(deviceId)) throw errors.lockLost(String(lockToken));
    const { change } = this.transitions.applyQueue(deviceId, rule);
    this.dispatcher.settled(deviceId, lockToken);
    await this.transitions.commit(change, options);
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
    this.knownQueue(deviceId);
    const { result, change } = this.transitions.applyQueue(deviceId, (q, now) => Q.purge(q, now));
    const purged = result.effects.flatMap((e) => (e.type === 'purged' ? e.messages : []));
    await this.transitions.commit(
      joined(change, { ops: [], events: [['purged', { deviceId, count: purged.length, messageIds: purged.map((m) => m.messageId) }]] }),
    );
    return purged.length;
  }

  async cancel(deviceId: string, messageId: string): Promise<number> {
    this.assertOpen();
    this.knownQueue(deviceId);
    if (typeof messageId !== 'string' || messageId === '') throw errors.invalid('A message id is required.');
    const { result, change } = this.transitions.applyQueue(deviceId, (q, now) => Q.cancel(q, messageId, now));
    await this.transitions.commit(change);
    return result.effects.length;
  }

  openReceiver(deviceId: string, sink: DeliverySink, options?: ReceiverOptions): DeviceReceiver {
    this.assertOpen();
    this.enabledQueue(deviceId);
    return this.dispatcher.openReceiver(deviceId, sink, options);
  }

  // ------------------------------------------------------------ inspection

  peek(deviceId: string, options?: { includeBody?: boolean }): PendingMessageView[] {
    this.assertOpen();
    this.knownQueue(deviceId);
    // Due deadlines first, so nothing expired is shown as pending (committed in the background).
    const { result, change } = this.transitions.applyQueue(deviceId, (q) => ({ queue: q, effects: [] as Q.QueueEffect[], peeked: Q.peek(q) }));
    this.transitions.commitLater(change);
    return result.peeked.map((p) => pendingView(p, options?.includeBody === true));
  }

  deadLetters(query: DeadLetterQuery = {}): Page<DeadLetterView> {
    this.assertOpen();
    const offset = query.offset ?? 0;
    const limit = query.limit ?? MAX_PAGE;
    if (!Number.isInteger(offset) || offset < 0) throw errors.invalid('offset must be a whole number, 0 or more.');
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) throw errors.invalid(`limit must be a whole number from 1 to ${MAX_PAGE}.`);
    const ids = query.deviceId !== undefined ? [this.knownDevice(query.deviceId)] : [...this.transitions.deadLetters.keys()].sort();
    for (const id of ids) this.transitions.commitLater(this.transitions.applyDeadLetters(id, (b) => ({ box: b, effects: [] })));
    const all = ids.flatMap((id) => this.transitions.deadLetters.get(id) ?? []);
    return { total: all.length, items: all.slice(offset, offset + limit).map((d) => deadLetterView(d, query.includeBody === true)) };
  }

  private knownDevice(deviceId: string): string {
    this.knownQueue(deviceId);
    return deviceId;
  }

  private findDeadLetter(deviceId: string, ref: DeadLetterRef): DL.DeadLetter {
    this.knownQueue(deviceId);
    if (!ref || (typeof ref.sequenceNumber !== 'number' && typeof ref.messageId !== 'string'))
      throw errors.invalid('Name the dead letter by sequenceNumber or messageId.');
    this.transitions.commitLater(this.transitions.applyDeadLetters(deviceId, (b) => ({ box: b, effects: [] })));
    return DL.find(this.transitions.deadLetters, deviceId, ref);
  }

  async requeueDeadLetter(deviceId: string, ref: DeadLetterRef): Promise<SendResult> {
    this.assertOpen();
    const d = this.findDeadLetter(deviceId, ref);
    this.enabledQueue(deviceId);
    const result = await this.enqueue(
      deviceId,
      (q, now) => Q.send(q, DL.requeueMessage(d, now, this.limits), randomUUID(), now, this.limits),
      // The dead letter goes in the same commit as its copy: a crash keeps exactly one of the two.
      (m) => {
        const removed = this.transitions.applyDeadLetters(deviceId, (b) => DL.remove(b, d, 'requeued'));
        return { ops: removed.ops, events: [['requeued', { deviceId, messageId: m.messageId, sequenceNumber: m.sequenceNumber }], ...removed.events] };
      },
    );
    return result;
  }

  async deleteDeadLetter(deviceId: string, ref: DeadLetterRef): Promise<void> {
    this.assertOpen();
    const d = this.findDeadLetter(deviceId, ref);
    await this.transitions.commit(this.transitions.applyDeadLetters(deviceId, (b) => DL.remove(b, d, 'deleted')));
  }

  trace(messageId: string): TraceEntry[] {
    if (typeof messageId !== 'string') throw errors.invalid('A message id is required.');
    return this.trace_.read(messageId);
  }

  // ------------------------------------------------------------ feedback

  async receiveFeedback(): Promise<ReceivedFeedbackBatch | null> {
    this.assertOpen();
    return this.transitions.lockNextFeedback() ?? null;
  }

  private async settleFeedback(lockToken: string, how: 'complete' | 'reject' | 'abandon'): Promise<void> {
    this.assertOpen();
    if (typeof lockToken !== 'string') throw errors.lockLost(String(lockToken));
    const change = this.transitions.applyFeedback((st, now) => F.settle(st, lockToken, how, now, this.limits));
    this.dispatcher.feedbackSettled(lockToken);
    await this.transitions.commit(change);
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
    await this.transitions.commit(this.transitions.applyFeedback((s, now) => F.flush(s, now, this.limits, randomUUID)));
  }

  // ------------------------------------------------------------ connections

  openSession(deviceId: string, transport: TransportName, sink: SessionSink): DeviceSession {
    this.assertOpen();
    return this.sessions.open(deviceId, transport, sink);
  }

  noteConnection(deviceId: string, protocol: string, connected: boolean, reason?: string): void {
    this.sessions.note(deviceId, protocol, connected, reason);
  }

  /** The transports a device is connected over now (inspection). */
  connectionsOf(deviceId: string): TransportName[] {
    return this.sessions.transportsOf(deviceId);
  }

  noteDeviceToCloud(deviceId: string, body: Buffer, properties: Properties, via?: DeviceSession): void {
    this.faults.assertOperation(deviceId);
    if (this.faults.fromDeviceToCloud(deviceId, properties, via)) return;
    this.events.emit('deviceToCloud', { deviceId, body, properties });
  }

  injectFault(deviceId: string, request: FaultRequest): FaultScheduled {
    this.assertOpen();
    if (typeof deviceId !== 'string' || !this.registry.record(deviceId)) throw errors.deviceNotFound(String(deviceId));
    if (!request || typeof request !== 'object') throw errors.invalid('A fault request ({ type, closeReason, delayInSecs, durationInSecs }) is required.');
    return this.faults.request(deviceId, checkFault(request));
  }

  stats(): HubStats {
    let queued = 0;
    let locked = 0;
    for (const q of this.transitions.queues.values())
      for (const e of q.messages) {
        if (e.state === 'Enqueued') queued++;
        else locked++;
      }
    let deadLetters = 0;
    for (const list of this.transitions.deadLetters.values()) deadLetters += list.length;
    return {
      devices: this.transitions.queues.size,
      connectedDevices: this.sessions.connectedDevices,
      queued,
      locked,
      deadLetters,
      feedbackPending: this.transitions.feedback.pending.length,
      feedbackBatches: this.transitions.feedback.batches.length,
      commits: this.store.commits,
      synchronous: this.store.synchronous,
    };
  }

  /**
   * Resolves once every change made so far is committed and its events emitted
   * (background commits included: lock expiries, PUBACK completions). For tests
   * and tools that read events after an operation.
   */
  async idle(): Promise<void> {
    await this.transitions.idle();
    // Events of changes that persist nothing go out on a microtask; let those run too.
    await new Promise<void>((resolve) => setImmediate(resolve));
  }

  /** Enqueued and locked messages per device, for devices that have any (metrics sample it at scrape time). */
  *queueDepths(): IterableIterator<{ deviceId: string; enqueued: number; locked: number }> {
    for (const [deviceId, q] of this.transitions.queues) {
      let locked = 0;
      for (const e of q.messages) if (e.state !== 'Enqueued') locked++;
      if (q.messages.length > 0) yield { deviceId, enqueued: q.messages.length - locked, locked };
    }
  }

  /** The queue of a device as the rules see it (tests, diagnostics). */
  queueOf(deviceId: string): Q.DeviceQueue | undefined {
    return this.transitions.queues.get(deviceId);
  }

  /** The feedback queue as the rules see it (tests, diagnostics). */
  feedbackState(): F.FeedbackState {
    return this.transitions.feedback;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Receivers' locks go back to the queue (locks are not persisted anyway).
    this.dispatcher.closeAll(errors.unavailable('The hub is closing.'));
    this.closed = true;
    this.faults.close();
    await this.transitions.stop();
    this.trace_.close();
    this.store.close();
  }
}

/** The largest page of the inspection API. */
const MAX_PAGE = 1000;

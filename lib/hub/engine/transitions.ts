/**
 * The engine's working state and the one way it changes: apply a pure rule
 * (queue.ts, feedback.ts, dead-letters.ts) after the deadlines already due,
 * work out its consequences (effects.ts), reschedule the next deadline, tell
 * the device's receiver what concerns it, and hand back the Change (store ops
 * plus the events that report it) for the caller to commit. Every change goes
 * through here, so a late timer never lets an expired lock or message
 * through, and the scheduler always knows each queue's next deadline.
 *
 * Nothing here calls out synchronously: receivers are told on the next
 * microtask (ReceiverNotices), observers after the commit (EventOutbox).
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock';
import type { HubLimits } from '../../common/limits';
import type { C2DMessage, ReceivedFeedbackBatch, ReceivedMessage } from '../../common/message';
import { LAZY_SETTLE, type TransportName } from '../api';
import * as DL from './dead-letters';
import { DeviceQueues } from './device-queues';
import type { DeliverySource } from './dispatcher';
import { deadLetterConsequences, feedbackConsequences, queueConsequences } from './effects';
import * as F from './feedback';
import type { EventOutbox, PendingEvent } from './outbox';
import * as Q from './queue';
import { Scheduler } from './scheduler';
import type { Store, StoreOp, StoredState, WriteOptions } from './store';

const FEEDBACK_KEY = 'f';
/** Deferred queues loaded per event-loop turn after a restart (~50 messages each at most: a few ms). */
const DEFERRED_SLICE = 50;
const queueKey = (id: string): string => `d:${id}`;
const deadLetterKey = (id: string): string => `x:${id}`;

/** What one change persists, and the events that report it once persisted. */
export interface Change {
  ops: StoreOp[];
  events: PendingEvent[];
}

/** Frozen to the arrays: a caller that adds to a change it was handed must build its own. */
export const NO_CHANGE: Readonly<Change> = Object.freeze({ ops: Object.freeze([]), events: Object.freeze([]) }) as unknown as Readonly<Change>;

const isEmpty = (c: Change): boolean => c.ops.length === 0 && c.events.length === 0;

/**
 * The changes as one, in order. Every message passes here several times, and
 * nearly always all but one of the parts are empty: that one is returned as it
 * is (no copy), which is why a change is never added to in place.
 */
export function joined(...changes: Change[]): Change {
  let only: Change | undefined;
  let parts = 0;
  for (const c of changes) {
    if (isEmpty(c)) continue;
    only = c;
    parts++;
  }
  if (parts === 0) return NO_CHANGE;
  if (parts === 1) return only!;
  const ops: StoreOp[] = [];
  const events: PendingEvent[] = [];
  for (const c of changes) {
    for (const op of c.ops) ops.push(op);
    for (const e of c.events) events.push(e);
  }
  return { ops, events };
}

/** What the receivers (the dispatcher) are told. Always called on a later microtask than the change. */
export interface ReceiverNotices {
  /** Something of the device became Enqueued. */
  wakeDevice(deviceId: string): void;
  /** A feedback batch became available. */
  wakeFeedback(): void;
  /** Locks of the device ended without a settlement (expired, or their message left the queue). */
  locksLost(deviceId: string, lockTokens: readonly string[]): void;
  /** Locks on feedback batches ended without a settlement (expired). */
  feedbackLocksLost(lockTokens: readonly string[]): void;
}

export interface TransitionsDeps {
  store: Store;
  clock: Clock;
  limits: HubLimits;
  outbox: EventOutbox;
  receivers: ReceiverNotices;
  /** The hub's name: the user-id of the feedback batches handed out. */
  hubName: string;
}

export class Transitions implements DeliverySource {
  readonly queues = new DeviceQueues();
  feedback: F.FeedbackState = F.EMPTY_FEEDBACK;
  deadLetters: DL.DeadLetterBox = DL.EMPTY_BOX;
  private readonly scheduler: Scheduler;
  /** Writes nobody awaits (deadlines fired by the scheduler, receivers detaching); stop() waits for them. */
  private readonly background = new Set<Promise<void>>();
  private stopped = false;

  private readonly store: Store;
  private readonly clock: Clock;
  private readonly limits: HubLimits;
  private readonly outbox: EventOutbox;
  private readonly receivers: ReceiverNotices;
  private readonly hubName: string;

  constructor(deps: TransitionsDeps) {
    ({ store: this.store, clock: this.clock, limits: this.limits, outbox: this.outbox, receivers: this.receivers, hubName: this.hubName } = deps);
    this.scheduler = new Scheduler(this.clock, (key) => this.onDue(key));
  }

  // ------------------------------------------------------------ what the dispatcher takes (DeliverySource)

  lockNext(deviceId: string, transport?: TransportName): ReceivedMessage | undefined {
    if (this.stopped || !this.queues.has(deviceId)) return undefined;
    const { result, change } = this.applyQueue(deviceId, (q, now) => Q.receive(q, randomUUID(), now, this.limits), transport);
    this.commitLater(change);
    return result.received;
  }

  release(deviceId: string, lockToken: string): void {
    if (this.queues.has(deviceId)) this.commitLater(this.applyQueue(deviceId, (q, now) => Q.release(q, lockToken, now, this.limits)).change);
  }

  isLocked(deviceId: string, lockToken: string): boolean {
    return this.queues.get(deviceId)?.messages.some((e) => e.lockToken === lockToken) ?? false;
  }

  lockNextFeedback(): ReceivedFeedbackBatch | undefined {
    if (this.stopped) return undefined;
    let batch: F.FeedbackBatchState | undefined;
    this.commitLater(
      this.applyFeedback((s, now) => {
        const t = F.receive(s, randomUUID(), now, this.limits);
        batch = t.batch;
        return t;
      }),
    );
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

  releaseFeedback(lockToken: string): void {
    this.commitLater(this.applyFeedback((s, now) => F.release(s, lockToken, now, this.limits, randomUUID)));
  }

  // ------------------------------------------------------------ state

  /**
   * Rebuilds memory from the store. Locks were not persisted: every message
   * comes back Enqueued, with its stored deliveryCount. Deadlines that passed
   * while the hub was down apply now; returns the change that records.
   */
  recover(s: StoredState): Change {
    for (const d of s.devices) this.queues.set(d.deviceId, Q.emptyQueue(d.deviceId, d.generationId, s.sequences.get(d.deviceId) ?? 0));
    this.feedback = { pending: s.pendingFeedback, batches: s.feedbackBatches };
    const box = new Map<string, DL.DeadLetter[]>();
    for (const d of s.deadLetters) {
      if (!this.queues.has(d.message.deviceId)) continue;
      const list = box.get(d.message.deviceId) ?? [];
      list.push(d);
      box.set(d.message.deviceId, list);
    }
    this.deadLetters = box;
    const changes: Change[] = [];
    const loadQueue = this.store.loadQueue?.bind(this.store);
    if (s.messagesDeferred && loadQueue) {
      // Each queue is read in when first touched, or by the background pass; its deadlines apply then.
      this.queues.defer([...this.queues.keys()], (id) => {
        this.install(id, loadQueue(id));
        this.commitLater(this.applyQueue(id, (q) => ({ queue: q, effects: [] })).change);
      });
      this.loadInBackground();
    } else {
      const byDevice = new Map<string, C2DMessage[]>();
      for (const m of s.messages) {
        if (!this.queues.has(m.deviceId)) continue;
        const list = byDevice.get(m.deviceId) ?? [];
        list.push(m);
        byDevice.set(m.deviceId, list);
      }
      for (const [id, messages] of byDevice) this.install(id, messages);
      for (const id of this.queues.keys()) changes.push(this.applyQueue(id, (q) => ({ queue: q, effects: [] })).change);
    }
    for (const id of box.keys()) changes.push(this.applyDeadLetters(id, (b) => ({ box: b, effects: [] })));
    changes.push(this.applyFeedback((st) => ({ state: st, effects: [] })));
    return joined(...changes);
  }

  /** Puts a device's stored messages (sequence order) into its queue, all Enqueued. */
  private install(deviceId: string, messages: C2DMessage[]): void {
    const q = this.queues.get(deviceId);
    if (!q || messages.length === 0) return;
    // The counter is stored only when its message is deleted; otherwise it is the highest stored message.
    const last = messages.reduce((n, m) => Math.max(n, m.sequenceNumber), q.lastSequenceNumber);
    this.queues.set(deviceId, { ...q, lastSequenceNumber: last, messages: messages.map((message) => ({ message, state: 'Enqueued' as const })) });
  }

  /** Loads deferred queues a slice per event-loop turn, so the hub keeps serving meanwhile. */
  private loadInBackground(): void {
    const step = (): void => {
      if (this.stopped) return;
      if (this.queues.loadSome(DEFERRED_SLICE) > 0) setImmediate(step);
    };
    setImmediate(step);
  }

  /**
   * Runs due deadlines, then `rule`, on a device queue. When the rule throws
   * (a C2DError), the deadline part is kept and committed in the background.
   * `transport`: the transport a delivery this rule makes goes out on (for the events).
   */
  applyQueue<T extends Q.Transition>(deviceId: string, rule: (q: Q.DeviceQueue, now: number) => T, transport?: TransportName): { result: T; change: Change } {
    const now = this.clock.now();
    const due = Q.applyDeadlines(this.queues.get(deviceId)!, now, this.limits);
    let dueChange: Change = NO_CHANGE;
    if (due.effects.length > 0) {
      this.queues.set(deviceId, due.queue);
      dueChange = this.queueEffects(deviceId, due.effects, now);
    }
    let result: T;
    try {
      // Receivers are told of the deadlines' effects later (a microtask), so nothing has changed the queue since.
      result = rule(due.queue, now);
    } catch (e) {
      this.commitLater(dueChange);
      throw e;
    }
    this.queues.set(deviceId, result.queue);
    return { result, change: joined(dueChange, this.queueEffects(deviceId, result.effects, now, transport)) };
  }

  private queueEffects(deviceId: string, effects: readonly Q.QueueEffect[], now: number, transport?: TransportName): Change {
    const q = this.queues.get(deviceId);
    const next = q && Q.nextDeadline(q);
    if (next !== undefined) this.scheduler.schedule(queueKey(deviceId), next);
    if (effects.length === 0) return NO_CHANGE;
    const c = queueConsequences(effects, {
      lastSequenceNumber: q?.lastSequenceNumber ?? 0,
      now,
      observed: this.outbox.observed,
      ...(transport !== undefined ? { transport } : {}),
    });
    const changes: Change[] = [{ ops: c.ops, events: c.events }];
    if (c.deadLettered.length > 0) {
      changes.push(
        this.applyDeadLetters(
          deviceId,
          (box) => {
            const effects: DL.DeadLetterEffect[] = [];
            for (const d of c.deadLettered) {
              const t = DL.keep(box, d, this.limits);
              box = t.box;
              effects.push(...t.effects);
            }
            return { box, effects };
          },
          c.deadLettered,
        ),
      );
    }
    if (c.feedback.length > 0) changes.push(this.applyFeedback((s, t) => F.addRecords(s, c.feedback, t, this.limits, randomUUID)));
    if (c.wake) queueMicrotask(() => this.receivers.wakeDevice(deviceId));
    if (c.locksLost.length > 0) queueMicrotask(() => this.receivers.locksLost(deviceId, c.locksLost));
    return joined(...changes);
  }

  /**
   * Like applyQueue, for one device's kept dead letters: drops those aged out
   * by now, then applies `rule`. `offered`: the dead letters the rule was given
   * (their deadLettered events come with the rule's decision).
   */
  applyDeadLetters(deviceId: string, rule: (box: DL.DeadLetterBox, now: number) => DL.DeadLetterTransition, offered: readonly DL.DeadLetter[] = []): Change {
    const now = this.clock.now();
    const due = DL.applyDeadlines(this.deadLetters, deviceId, now, this.limits);
    this.deadLetters = due.box;
    const t = rule(this.deadLetters, now);
    this.deadLetters = t.box;
    const next = DL.nextDeadline(this.deadLetters, deviceId, this.limits);
    if (next !== undefined) this.scheduler.schedule(deadLetterKey(deviceId), next);
    const c = deadLetterConsequences(offered, [...due.effects, ...t.effects], this.outbox.observed);
    return c;
  }

  /** Like applyQueue, for the hub-wide feedback queue. */
  applyFeedback(rule: (s: F.FeedbackState, now: number) => F.FeedbackTransition): Change {
    const now = this.clock.now();
    const due = F.applyDeadlines(this.feedback, now, this.limits, randomUUID);
    this.feedback = due.state;
    const dueChange = this.feedbackEffects(due.effects);
    let t: F.FeedbackTransition;
    try {
      t = rule(this.feedback, now);
    } catch (e) {
      this.commitLater(dueChange);
      throw e;
    }
    this.feedback = t.state;
    return joined(dueChange, this.feedbackEffects(t.effects));
  }

  private feedbackEffects(effects: readonly F.FeedbackEffect[]): Change {
    const next = F.nextDeadline(this.feedback, this.limits);
    if (next !== undefined) this.scheduler.schedule(FEEDBACK_KEY, next);
    if (effects.length === 0) return NO_CHANGE;
    const out = feedbackConsequences(effects, this.outbox.observed);
    if (out.locksLost.length > 0) queueMicrotask(() => this.receivers.feedbackLocksLost(out.locksLost));
    if (out.wake) queueMicrotask(() => this.receivers.wakeFeedback());
    return { ops: out.ops, events: out.events };
  }

  /** Forgets a deleted device: its queue, pending feedback and dead letters. */
  dropDevice(deviceId: string): Change {
    this.queues.delete(deviceId);
    this.deadLetters = DL.dropDevice(this.deadLetters, deviceId);
    return joined(
      { ops: [{ t: 'deleteQueue', deviceId }], events: [] },
      this.applyFeedback((s) => F.dropDevice(s, deviceId)),
    );
  }

  /** Makes a change durable; its events are emitted once it is (dropped if the commit fails). */
  commit(change: Change, options?: WriteOptions): Promise<void> {
    const written = change.ops.length > 0 ? this.store.write(change.ops, options) : undefined;
    this.outbox.after(written, change.events);
    return written ?? Promise.resolve();
  }

  /** Commits a change nobody awaits; a failure is reported as a process warning (no secrets in it). */
  commitLater(change: Change): void {
    if (change.ops.length === 0) {
      this.outbox.after(undefined, change.events);
      return;
    }
    const p = this.commit(change, LAZY_SETTLE).catch((e: unknown) => {
      process.emitWarning(`c2d hub: a background store write failed: ${(e as Error).message}`);
    });
    this.background.add(p);
    void p.finally(() => this.background.delete(p));
  }

  private onDue(key: string): void {
    if (this.stopped) return;
    if (key === FEEDBACK_KEY) this.commitLater(this.applyFeedback((s) => ({ state: s, effects: [] })));
    else {
      const id = key.slice(2);
      if (!this.queues.has(id)) return;
      if (key.startsWith('x:')) this.commitLater(this.applyDeadLetters(id, (b) => ({ box: b, effects: [] })));
      else this.commitLater(this.applyQueue(id, (q) => ({ queue: q, effects: [] })).change);
    }
  }

  /** Resolves once no background write is pending (each one's events emitted with it). */
  async idle(): Promise<void> {
    while (this.background.size > 0) await Promise.all([...this.background]);
  }

  /** Stops the scheduler and waits for background writes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.scheduler.stop();
    await Promise.all([...this.background]);
  }
}

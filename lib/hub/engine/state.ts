/**
 * The engine's working state and the one way it changes: apply a pure rule
 * (queue.ts / feedback.ts) after the deadlines already due, translate its
 * effects (events, feedback records, wake-ups), reschedule the next deadline,
 * and hand back the store ops to commit. Every change goes through here, so a
 * late timer never lets an expired lock or message through, and the scheduler
 * always knows each queue's next deadline.
 */
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../common/clock';
import type { HubLimits } from '../../common/limits';
import { LAZY_SETTLE, type HubEvents } from '../api';
import type { C2DMessage } from '../../common/message';
import * as F from './feedback';
import * as Q from './queue';
import { DeviceQueues } from './device-queues';
import { Scheduler } from './scheduler';
import type { Store, StoreOp, StoredState } from './store';
import { translateFeedback, translateQueue } from './translate';

const FEEDBACK_KEY = 'f';
/** Deferred queues loaded per event-loop turn after a restart (~50 messages each at most: a few ms). */
const DEFERRED_SLICE = 50;
const deviceKey = (id: string): string => `d:${id}`;

export interface Wake {
  /** Something of the device became Enqueued. */
  device(deviceId: string): void;
  /** A feedback batch became available. */
  feedback(): void;
}

export class EngineState {
  readonly queues = new DeviceQueues();
  feedback: F.FeedbackState = F.EMPTY_FEEDBACK;
  private readonly scheduler: Scheduler;
  /** Writes nobody awaits (deadlines fired by the scheduler, receivers detaching); close() waits for them. */
  private readonly background = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly limits: HubLimits,
    private readonly events: HubEvents,
    private readonly wake: Wake,
  ) {
    this.scheduler = new Scheduler(clock, (key) => this.onDue(key));
  }

  /**
   * Rebuilds memory from the store. Locks were not persisted: every message
   * comes back Enqueued, with its stored deliveryCount. Deadlines that passed
   * while the hub was down apply now; returns the ops that records.
   */
  recover(s: StoredState): StoreOp[] {
    for (const d of s.devices) this.queues.set(d.deviceId, Q.emptyQueue(d.deviceId, d.generationId, s.sequences.get(d.deviceId) ?? 0));
    this.feedback = { pending: s.pendingFeedback, batches: s.feedbackBatches };
    const ops: StoreOp[] = [];
    const loadQueue = this.store.loadQueue?.bind(this.store);
    if (s.messagesDeferred && loadQueue) {
      // Each queue is read in when first touched, or by the background pass; its deadlines apply then.
      this.queues.defer([...this.queues.keys()], (id) => {
        this.install(id, loadQueue(id));
        this.commitLater(this.applyQueue(id, (q) => ({ queue: q, effects: [] })).ops);
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
      for (const id of this.queues.keys()) ops.push(...this.applyQueue(id, (q) => ({ queue: q, effects: [] })).ops);
    }
    ops.push(...this.applyFeedback((st) => ({ state: st, effects: [] })));
    return ops;
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
   */
  applyQueue<T extends Q.Transition>(deviceId: string, rule: (q: Q.DeviceQueue, now: number) => T): { result: T; ops: StoreOp[] } {
    const now = this.clock.now();
    const due = Q.applyDeadlines(this.queues.get(deviceId)!, now, this.limits);
    let dueOps: StoreOp[] = [];
    if (due.effects.length > 0) {
      this.queues.set(deviceId, due.queue);
      dueOps = this.queueEffects(deviceId, due.effects);
    }
    let result: T;
    try {
      // queueEffects emitted events (lockExpired...) whose listeners may have
      // re-entered and changed this queue (an MQTT connection hands out the
      // freed slot at once): run the rule on the queue as it is now, not on
      // `due.queue`, or the nested lock is overwritten and the message is
      // delivered twice (found by test/reliability/slow-peers).
      result = rule(this.queues.get(deviceId) ?? due.queue, now);
    } catch (e) {
      this.commitLater(dueOps);
      throw e;
    }
    this.queues.set(deviceId, result.queue);
    return { result, ops: [...dueOps, ...this.queueEffects(deviceId, result.effects)] };
  }

  private queueEffects(deviceId: string, effects: readonly Q.QueueEffect[]): StoreOp[] {
    const q = this.queues.get(deviceId);
    const next = q && Q.nextDeadline(q);
    if (next !== undefined) this.scheduler.schedule(deviceKey(deviceId), next);
    if (effects.length === 0) return [];
    const t = translateQueue(effects, this.events, q?.lastSequenceNumber ?? 0);
    if (t.feedback.length > 0) t.ops.push(...this.applyFeedback((s, now) => F.addRecords(s, t.feedback, now, this.limits, randomUUID)));
    if (t.wake) queueMicrotask(() => this.wake.device(deviceId));
    return t.ops;
  }

  /** Like applyQueue, for the hub-wide feedback queue. */
  applyFeedback(rule: (s: F.FeedbackState, now: number) => F.FeedbackTransition): StoreOp[] {
    const now = this.clock.now();
    const due = F.applyDeadlines(this.feedback, now, this.limits, randomUUID);
    this.feedback = due.state;
    const dueOps = this.feedbackEffects(due.effects);
    let t: F.FeedbackTransition;
    try {
      // As in applyQueue: listeners of the events just emitted may have re-entered.
      t = rule(this.feedback, now);
    } catch (e) {
      this.commitLater(dueOps);
      throw e;
    }
    this.feedback = t.state;
    return [...dueOps, ...this.feedbackEffects(t.effects)];
  }

  private feedbackEffects(effects: readonly F.FeedbackEffect[]): StoreOp[] {
    const next = F.nextDeadline(this.feedback, this.limits);
    if (next !== undefined) this.scheduler.schedule(FEEDBACK_KEY, next);
    if (effects.length === 0) return [];
    const out = translateFeedback(effects, this.events);
    if (out.wake) queueMicrotask(() => this.wake.feedback());
    return out.ops;
  }

  /** Commits ops nobody awaits; a failure is reported as a process warning (no secrets in it). */
  commitLater(ops: StoreOp[]): void {
    if (ops.length === 0) return;
    const p = this.store.write(ops, LAZY_SETTLE).catch((e: unknown) => {
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
      if (this.queues.has(id)) this.commitLater(this.applyQueue(id, (q) => ({ queue: q, effects: [] })).ops);
    }
  }

  /** Stops the scheduler and waits for background writes. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.scheduler.stop();
    await Promise.all([...this.background]);
  }
}

/**
 * The hub-wide feedback queue (c2d-semantics.md §4), as pure functions over
 * data, like queue.ts. Two parts:
 *
 * - Pending records wait to be batched. Batching rule (decided here): a batch
 *   is cut as soon as feedbackBatchMaxRecords records are pending, or
 *   feedbackBatchWindowMs after the OLDEST pending record was added, whichever
 *   comes first (so no record waits longer than the window). Records are
 *   added per event (one settlement, one purge, or everything of one device
 *   due at one instant); a window of 0 cuts a batch on every such addition.
 * - Batches are messages on the feedback queue with peek-lock semantics like a
 *   C2D message: receive locks (feedbackLockMs), complete removes, reject drops,
 *   abandon returns it with deliveryCount +1 and drops it once deliveryCount
 *   reaches feedbackMaxDeliveryCount, lock expiry returns it (counted only when
 *   lockExpiryCountsAsDelivery), and a batch older than feedbackTtlMs is dropped
 *   ("expired feedback is silently lost"). Batches are handed out oldest first.
 */
import { errors } from '../../common/errors';
import type { HubLimits } from '../../common/limits';
import type { FeedbackRecord } from '../../common/message';

export interface PendingRecord {
  readonly id: string;
  readonly record: FeedbackRecord;
  readonly addedAtUtc: number;
}

export interface FeedbackBatchState {
  readonly id: string;
  readonly records: readonly FeedbackRecord[];
  readonly enqueuedTimeUtc: number;
  readonly expiresAtUtc: number;
  readonly deliveryCount: number;
  readonly lockToken?: string;
  readonly lockedUntilUtc?: number;
}

export interface FeedbackState {
  readonly pending: readonly PendingRecord[];
  readonly batches: readonly FeedbackBatchState[];
}

export type FeedbackDropReason = 'completed' | 'rejected' | 'expired' | 'deliveryCountExceeded';

export type FeedbackEffect =
  | { type: 'recordAdded'; pending: PendingRecord }
  /** A batch was cut from pending records `fromIds`. */
  | { type: 'batchCreated'; batch: FeedbackBatchState; fromIds: string[] }
  | { type: 'batchLocked'; batch: FeedbackBatchState }
  /** Back to the queue (abandon or lock expiry), with its new deliveryCount. lostLock: the lock that ended without a settlement. */
  | { type: 'batchReturned'; batch: FeedbackBatchState; lostLock?: string }
  | { type: 'batchRemoved'; batch: FeedbackBatchState; reason: FeedbackDropReason; lostLock?: string }
  /** Pending records of a deleted device were dropped. */
  | { type: 'recordsDropped'; ids: string[] };

export interface FeedbackTransition {
  state: FeedbackState;
  effects: FeedbackEffect[];
}

export const EMPTY_FEEDBACK: FeedbackState = { pending: [], batches: [] };

function cut(s: FeedbackState, now: number, limits: HubLimits, newId: () => string): FeedbackTransition {
  const effects: FeedbackEffect[] = [];
  let pending = s.pending;
  const batches = s.batches.slice();
  while (pending.length > 0) {
    const take = pending.slice(0, limits.feedbackBatchMaxRecords);
    pending = pending.slice(take.length);
    const batch: FeedbackBatchState = {
      id: newId(),
      records: take.map((p) => p.record),
      enqueuedTimeUtc: now,
      expiresAtUtc: now + limits.feedbackTtlMs,
      deliveryCount: 0,
    };
    batches.push(batch);
    effects.push({ type: 'batchCreated', batch, fromIds: take.map((p) => p.id) });
  }
  return { state: { pending, batches }, effects };
}

/** Adds records; cuts batches when the size threshold (or a zero window) says so. */
export function addRecords(s: FeedbackState, records: readonly FeedbackRecord[], now: number, limits: HubLimits, newId: () => string): FeedbackTransition {
  if (records.length === 0) return { state: s, effects: [] };
  const added = records.map((record) => ({ id: newId(), record, addedAtUtc: now }));
  const effects: FeedbackEffect[] = added.map((pending) => ({ type: 'recordAdded', pending }));
  const next: FeedbackState = { ...s, pending: [...s.pending, ...added] };
  if (next.pending.length < limits.feedbackBatchMaxRecords && limits.feedbackBatchWindowMs > 0) return { state: next, effects };
  const c = cut(next, now, limits, newId);
  return { state: c.state, effects: [...effects, ...c.effects] };
}

/** Cuts every pending record into batches now (flushFeedback, tests, shutdown). */
export function flush(s: FeedbackState, now: number, limits: HubLimits, newId: () => string): FeedbackTransition {
  return cut(s, now, limits, newId);
}

function returned(b: FeedbackBatchState, deliveryCount: number, limits: HubLimits, lostLock?: string): FeedbackEffect {
  const back: FeedbackBatchState = { id: b.id, records: b.records, enqueuedTimeUtc: b.enqueuedTimeUtc, expiresAtUtc: b.expiresAtUtc, deliveryCount };
  const lost = lostLock !== undefined ? { lostLock } : {};
  if (deliveryCount >= limits.feedbackMaxDeliveryCount) return { type: 'batchRemoved', batch: back, reason: 'deliveryCountExceeded', ...lost };
  return { type: 'batchReturned', batch: back, ...lost };
}

function applyBatchEffects(s: FeedbackState, effects: FeedbackEffect[]): FeedbackState {
  let batches = s.batches.slice();
  for (const e of effects) {
    if (e.type === 'batchRemoved') batches = batches.filter((b) => b.id !== e.batch.id);
    else if (e.type === 'batchReturned' || e.type === 'batchLocked') batches = batches.map((b) => (b.id === e.batch.id ? e.batch : b));
  }
  return { ...s, batches };
}

/** Window flush, feedback TTL and lock expiry for everything due by `now`. */
export function applyDeadlines(s: FeedbackState, now: number, limits: HubLimits, newId: () => string): FeedbackTransition {
  const effects: FeedbackEffect[] = [];
  let state = s;
  if (state.pending.length > 0 && now >= state.pending[0]!.addedAtUtc + limits.feedbackBatchWindowMs) {
    const c = cut(state, now, limits, newId);
    state = c.state;
    effects.push(...c.effects);
  }
  const changes: FeedbackEffect[] = [];
  for (const b of state.batches) {
    if (now >= b.expiresAtUtc)
      changes.push({ type: 'batchRemoved', batch: b, reason: 'expired', ...(b.lockToken !== undefined ? { lostLock: b.lockToken } : {}) });
    else if (b.lockToken !== undefined && now >= (b.lockedUntilUtc ?? 0)) {
      changes.push(returned(b, b.deliveryCount + (limits.lockExpiryCountsAsDelivery ? 1 : 0), limits, b.lockToken));
    }
  }
  return { state: applyBatchEffects(state, changes), effects: [...effects, ...changes] };
}

/** Locks the oldest unlocked batch. */
export function receive(s: FeedbackState, lockToken: string, now: number, limits: HubLimits): FeedbackTransition & { batch?: FeedbackBatchState } {
  const b = s.batches.find((x) => x.lockToken === undefined);
  if (!b) return { state: s, effects: [] };
  const batch: FeedbackBatchState = { ...b, lockToken, lockedUntilUtc: now + limits.feedbackLockMs };
  const effects: FeedbackEffect[] = [{ type: 'batchLocked', batch }];
  return { state: applyBatchEffects(s, effects), effects, batch };
}

function locked(s: FeedbackState, lockToken: string, now: number): FeedbackBatchState {
  const b = s.batches.find((x) => x.lockToken === lockToken);
  if (!b || now >= (b.lockedUntilUtc ?? 0)) throw errors.lockLost(lockToken);
  return b;
}

export function settle(s: FeedbackState, lockToken: string, how: 'complete' | 'reject' | 'abandon', now: number, limits: HubLimits): FeedbackTransition {
  const b = locked(s, lockToken, now);
  const effects: FeedbackEffect[] =
    how === 'abandon'
      ? [returned(b, b.deliveryCount + 1, limits)]
      : [{ type: 'batchRemoved', batch: b, reason: how === 'complete' ? 'completed' : 'rejected' }];
  return { state: applyBatchEffects(s, effects), effects };
}

/** A lock given up early (receiver detached): treated as a lock expiry. */
export function release(s: FeedbackState, lockToken: string, now: number, limits: HubLimits, newId: () => string): FeedbackTransition {
  const b = s.batches.find((x) => x.lockToken === lockToken);
  if (!b) return { state: s, effects: [] };
  const early = applyBatchEffects(s, [{ type: 'batchLocked', batch: { ...b, lockedUntilUtc: now } }]);
  return applyDeadlines(early, now, limits, newId);
}

/** Deleting a device drops its records that are not yet batched (c2d-semantics.md §1.2). */
export function dropDevice(s: FeedbackState, deviceId: string): FeedbackTransition {
  const ids = s.pending.filter((p) => p.record.deviceId === deviceId).map((p) => p.id);
  if (ids.length === 0) return { state: s, effects: [] };
  return { state: { ...s, pending: s.pending.filter((p) => p.record.deviceId !== deviceId) }, effects: [{ type: 'recordsDropped', ids }] };
}

export function nextDeadline(s: FeedbackState, limits: HubLimits): number | undefined {
  let t = s.pending.length > 0 ? s.pending[0]!.addedAtUtc + limits.feedbackBatchWindowMs : undefined;
  for (const b of s.batches) {
    const d = b.lockToken !== undefined ? Math.min(b.expiresAtUtc, b.lockedUntilUtc ?? Infinity) : b.expiresAtUtc;
    if (t === undefined || d < t) t = d;
  }
  return t;
}

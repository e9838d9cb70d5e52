/**
 * What each effect of the pure rules (queue.ts, feedback.ts, dead-letters.ts)
 * means for the edges: the store operations that persist it, the hub events
 * that report it to observers, the feedback records it adds, the dead letters
 * it keeps, and what the device's receiver must be told (wake: something is
 * Enqueued again; locksLost: locks that ended without a settlement).
 */
import type { C2DMessage, FeedbackRecord } from '../../common/message';
import type { TransportName } from '../api';
import type { DeadLetter, DeadLetterEffect } from './dead-letters';
import type { FeedbackEffect } from './feedback';
import type { PendingEvent } from './outbox';
import type { QueueEffect } from './queue';
import type { StoreOp } from './store';

export interface QueueConsequences {
  ops: StoreOp[];
  events: PendingEvent[];
  feedback: FeedbackRecord[];
  /** Dead-lettered messages, for the dead-letter box (kept or not by its limits). */
  deadLettered: DeadLetter[];
  /** A message went back to Enqueued (abandon, lock expiry): wake the device's receiver. */
  wake: boolean;
  locksLost: string[];
}

export interface QueueContext {
  /** The queue's counter (see below). */
  lastSequenceNumber: number;
  now: number;
  /** Build event objects only when someone listens. */
  observed: boolean;
  /** The transport a delivery goes out on. */
  transport?: TransportName;
}

/**
 * `lastSequenceNumber` is persisted implicitly as the highest stored sequence
 * number, and explicitly (setSequence) only when the message holding it is
 * deleted: one write per send instead of two.
 */
export function queueConsequences(effects: readonly QueueEffect[], ctx: QueueContext): QueueConsequences {
  const out: QueueConsequences = { ops: [], events: [], feedback: [], deadLettered: [], wake: false, locksLost: [] };
  const ev = ctx.observed ? out.events : undefined;
  const remove = (m: C2DMessage): void => {
    out.ops.push({ t: 'deleteMessage', deviceId: m.deviceId, sequenceNumber: m.sequenceNumber });
    if (m.sequenceNumber === ctx.lastSequenceNumber) out.ops.push({ t: 'setSequence', deviceId: m.deviceId, sequenceNumber: m.sequenceNumber });
  };
  for (const e of effects) {
    switch (e.type) {
      case 'enqueued':
        out.ops.push({ t: 'insertMessage', message: e.message });
        ev?.push(['enqueued', { deviceId: e.message.deviceId, messageId: e.message.messageId, sequenceNumber: e.message.sequenceNumber }]);
        // No wake here: the hub pushes a new message only after its send committed.
        break;
      case 'delivered':
        ev?.push([
          'delivered',
          {
            deviceId: e.message.deviceId,
            messageId: e.message.messageId,
            lockToken: e.message.lockToken,
            deliveryCount: e.message.deliveryCount,
            ...(ctx.transport !== undefined ? { transport: ctx.transport } : {}),
          },
        ]);
        break;
      case 'completed':
        remove(e.message);
        if (e.feedback) out.feedback.push(e.feedback);
        ev?.push(['completed', { deviceId: e.message.deviceId, messageId: e.message.messageId }]);
        break;
      case 'abandoned':
        out.ops.push({ t: 'setDeliveryCount', deviceId: e.message.deviceId, sequenceNumber: e.message.sequenceNumber, deliveryCount: e.message.deliveryCount });
        ev?.push(['abandoned', { deviceId: e.message.deviceId, messageId: e.message.messageId, deliveryCount: e.message.deliveryCount }]);
        out.wake = true;
        break;
      case 'lockExpired':
        out.ops.push({ t: 'setDeliveryCount', deviceId: e.message.deviceId, sequenceNumber: e.message.sequenceNumber, deliveryCount: e.message.deliveryCount });
        ev?.push(['lockExpired', { deviceId: e.message.deviceId, messageId: e.message.messageId }]);
        out.locksLost.push(e.lockToken);
        out.wake = true;
        break;
      case 'deadLettered':
        remove(e.message);
        if (e.feedback) out.feedback.push(e.feedback);
        if (e.lockToken !== undefined) out.locksLost.push(e.lockToken);
        out.deadLettered.push({ message: e.message, reason: e.reason, deadLetteredTimeUtc: ctx.now });
        if (e.reason === 'Rejected') ev?.push(['rejected', { deviceId: e.message.deviceId, messageId: e.message.messageId }]);
        if (e.reason === 'Expired') ev?.push(['expired', { deviceId: e.message.deviceId, messageId: e.message.messageId }]);
        // 'deadLettered' itself is reported with the box's decision (kept or not): see deadLetterConsequences.
        break;
      case 'purged':
        for (const pm of e.messages) remove(pm);
        out.feedback.push(...e.feedback);
        out.locksLost.push(...e.lockTokens);
        // The 'purged' event (with the count) is emitted by the hub, which knows the device even when the queue was empty.
        break;
      case 'cancelled':
        remove(e.message);
        if (e.feedback) out.feedback.push(e.feedback);
        if (e.lockToken !== undefined) out.locksLost.push(e.lockToken);
        ev?.push(['cancelled', { deviceId: e.message.deviceId, messageId: e.message.messageId }]);
        break;
      case 'unsent':
        // Never committed, so nothing to persist or report.
        if (e.lockToken !== undefined) out.locksLost.push(e.lockToken);
        break;
    }
  }
  return out;
}

/** Store ops and events for what the dead-letter box did with the dead letters it was offered. */
export function deadLetterConsequences(
  offered: readonly DeadLetter[],
  effects: readonly DeadLetterEffect[],
  observed: boolean,
): { ops: StoreOp[]; events: PendingEvent[] } {
  const ops: StoreOp[] = [];
  const events: PendingEvent[] = [];
  const kept = new Set<DeadLetter>();
  for (const e of effects) {
    if (e.type === 'kept') {
      kept.add(e.deadLetter);
      ops.push({ t: 'insertDeadLetter', deadLetter: e.deadLetter });
    } else {
      ops.push({ t: 'deleteDeadLetters', deviceId: e.deviceId, sequenceNumbers: e.sequenceNumbers });
      if (observed) events.push(['deadLettersDropped', { deviceId: e.deviceId, sequenceNumbers: e.sequenceNumbers, why: e.why }]);
    }
  }
  if (observed) {
    // Reported before the drops they caused, in the order they happened.
    const dl: PendingEvent[] = offered.map((d) => [
      'deadLettered',
      { deviceId: d.message.deviceId, messageId: d.message.messageId, reason: d.reason, kept: kept.has(d) },
    ]);
    events.unshift(...dl);
  }
  return { ops, events };
}

export function feedbackConsequences(
  effects: readonly FeedbackEffect[],
  observed: boolean,
): { ops: StoreOp[]; events: PendingEvent[]; wake: boolean; locksLost: string[] } {
  const ops: StoreOp[] = [];
  const events: PendingEvent[] = [];
  const locksLost: string[] = [];
  let wake = false;
  for (const e of effects) {
    if ((e.type === 'batchReturned' || e.type === 'batchRemoved') && e.lostLock !== undefined) locksLost.push(e.lostLock);
    switch (e.type) {
      case 'recordAdded':
        ops.push({ t: 'insertPending', pending: e.pending });
        break;
      case 'batchCreated':
        ops.push({ t: 'insertBatch', batch: e.batch }, { t: 'deletePending', ids: e.fromIds });
        if (observed) events.push(['feedback', { records: [...e.batch.records] }]);
        wake = true;
        break;
      case 'batchLocked':
        break;
      case 'batchReturned':
        ops.push({ t: 'setBatchDeliveryCount', id: e.batch.id, deliveryCount: e.batch.deliveryCount });
        wake = true;
        break;
      case 'batchRemoved':
        ops.push({ t: 'deleteBatch', id: e.batch.id });
        break;
      case 'recordsDropped':
        ops.push({ t: 'deletePending', ids: e.ids });
        break;
    }
  }
  return { ops, events, wake, locksLost };
}

/**
 * Turns the effects of the pure rules (queue.ts, feedback.ts) into what the
 * edges need: store operations (persist), hub events (observe), feedback
 * records (the feedback queue) and which receivers to wake (dispatch).
 */
import type { C2DMessage, FeedbackRecord } from '../../common/message';
import type { HubEvents } from '../api';
import type { FeedbackEffect } from './feedback';
import type { QueueEffect } from './queue';
import type { StoreOp } from './store';

export interface Translated {
  ops: StoreOp[];
  feedback: FeedbackRecord[];
  /** A message went back to Enqueued (abandon, lock expiry): wake the device's receiver. */
  wake: boolean;
}

/**
 * `lastSequenceNumber` is the queue's counter. It is persisted implicitly as
 * the highest stored sequence number, and explicitly (setSequence) only when
 * the message holding it is deleted: one write per send instead of two.
 */
export function translateQueue(effects: readonly QueueEffect[], events: HubEvents, lastSequenceNumber: number): Translated {
  const out: Translated = { ops: [], feedback: [], wake: false };
  const remove = (m: C2DMessage): void => {
    out.ops.push({ t: 'deleteMessage', deviceId: m.deviceId, sequenceNumber: m.sequenceNumber });
    if (m.sequenceNumber === lastSequenceNumber) out.ops.push({ t: 'setSequence', deviceId: m.deviceId, sequenceNumber: m.sequenceNumber });
  };
  for (const e of effects) {
    switch (e.type) {
      case 'enqueued':
        out.ops.push({ t: 'insertMessage', message: e.message });
        events.emit('enqueued', { deviceId: e.message.deviceId, messageId: e.message.messageId, sequenceNumber: e.message.sequenceNumber });
        // No wake here: the hub pushes a new message only after its send committed.
        break;
      case 'delivered':
        events.emit('delivered', { deviceId: e.message.deviceId, messageId: e.message.messageId, lockToken: e.message.lockToken, deliveryCount: e.message.deliveryCount });
        break;
      case 'completed':
        remove(e.message);
        if (e.feedback) out.feedback.push(e.feedback);
        events.emit('completed', { deviceId: e.message.deviceId, messageId: e.message.messageId });
        break;
      case 'abandoned':
        out.ops.push({ t: 'setDeliveryCount', deviceId: e.message.deviceId, sequenceNumber: e.message.sequenceNumber, deliveryCount: e.message.deliveryCount });
        events.emit('abandoned', { deviceId: e.message.deviceId, messageId: e.message.messageId, deliveryCount: e.message.deliveryCount });
        out.wake = true;
        break;
      case 'lockExpired':
        out.ops.push({ t: 'setDeliveryCount', deviceId: e.message.deviceId, sequenceNumber: e.message.sequenceNumber, deliveryCount: e.message.deliveryCount });
        events.emit('lockExpired', { deviceId: e.message.deviceId, messageId: e.message.messageId });
        out.wake = true;
        break;
      case 'deadLettered':
        remove(e.message);
        if (e.feedback) out.feedback.push(e.feedback);
        if (e.reason === 'Rejected') events.emit('rejected', { deviceId: e.message.deviceId, messageId: e.message.messageId });
        if (e.reason === 'Expired') events.emit('expired', { deviceId: e.message.deviceId, messageId: e.message.messageId });
        events.emit('deadLettered', { deviceId: e.message.deviceId, messageId: e.message.messageId, reason: e.reason });
        break;
      case 'purged':
        for (const pm of e.messages) remove(pm);
        out.feedback.push(...e.feedback);
        // The 'purged' event (with the count) is emitted by the hub, which knows the device even when the queue was empty.
        break;
    }
  }
  return out;
}

export function translateFeedback(effects: readonly FeedbackEffect[], events: HubEvents): { ops: StoreOp[]; wake: boolean } {
  const ops: StoreOp[] = [];
  let wake = false;
  for (const e of effects) {
    switch (e.type) {
      case 'recordAdded':
        ops.push({ t: 'insertPending', pending: e.pending });
        break;
      case 'batchCreated':
        ops.push({ t: 'insertBatch', batch: e.batch }, { t: 'deletePending', ids: e.fromIds });
        events.emit('feedback', { records: [...e.batch.records] });
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
  return { ops, wake };
}

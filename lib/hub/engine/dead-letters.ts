/**
 * Kept dead letters, as pure functions over data (like queue.ts). IoT Hub
 * drops a dead-lettered message (rejected, expired, delivered too often) at
 * once and it can never be recovered; this hub keeps it, for inspection and
 * requeue, within two limits:
 *
 *   deadLetterTtlMs         a dead letter older than this is dropped
 *   deadLetterMaxPerDevice  beyond this many per device, the oldest is dropped
 *
 * Either limit at 0 is IoT Hub's behaviour: nothing is kept. A dead letter is
 * never delivered again by itself; requeue sends a copy as a new message.
 * Dead letters of a device are in the order they were dead-lettered.
 */
import { errors } from '../../common/errors';
import type { HubLimits } from '../../common/limits';
import type { C2DMessage, OutgoingMessage } from '../../common/message';
import type { DeadLetterReason } from './queue';

export interface DeadLetter {
  /** The message as it was when it was dead-lettered (its deliveryCount then). */
  readonly message: C2DMessage;
  readonly reason: DeadLetterReason;
  readonly deadLetteredTimeUtc: number;
}

/** Dead letters by device id; a device without any has no entry. */
export type DeadLetterBox = ReadonlyMap<string, readonly DeadLetter[]>;

export type DeadLetterEffect =
  | { type: 'kept'; deadLetter: DeadLetter }
  /** Dropped for age, for count, or on request (delete, requeue). */
  | { type: 'dropped'; deviceId: string; sequenceNumbers: number[]; why: 'age' | 'count' | 'deleted' | 'requeued' };

export interface DeadLetterTransition {
  box: DeadLetterBox;
  effects: DeadLetterEffect[];
}

export const EMPTY_BOX: DeadLetterBox = new Map();

export function keeps(limits: Pick<HubLimits, 'deadLetterTtlMs' | 'deadLetterMaxPerDevice'>): boolean {
  return limits.deadLetterTtlMs > 0 && limits.deadLetterMaxPerDevice > 0;
}

function withList(box: DeadLetterBox, deviceId: string, list: readonly DeadLetter[]): DeadLetterBox {
  const next = new Map(box);
  if (list.length === 0) next.delete(deviceId);
  else next.set(deviceId, list);
  return next;
}

/** Keeps a new dead letter, dropping the device's oldest beyond the count limit. Nothing when the limits keep none. */
export function keep(box: DeadLetterBox, d: DeadLetter, limits: HubLimits): DeadLetterTransition {
  if (!keeps(limits)) return { box, effects: [] };
  const deviceId = d.message.deviceId;
  const list = [...(box.get(deviceId) ?? []), d];
  const effects: DeadLetterEffect[] = [{ type: 'kept', deadLetter: d }];
  const over = list.length - limits.deadLetterMaxPerDevice;
  if (over > 0) {
    const gone = list.splice(0, over);
    effects.push({ type: 'dropped', deviceId, sequenceNumbers: gone.map((g) => g.message.sequenceNumber), why: 'count' });
  }
  return { box: withList(box, deviceId, list), effects };
}

/** When the device's oldest dead letter ages out; undefined when it has none. */
export function nextDeadline(box: DeadLetterBox, deviceId: string, limits: HubLimits): number | undefined {
  const first = box.get(deviceId)?.[0];
  return first ? first.deadLetteredTimeUtc + limits.deadLetterTtlMs : undefined;
}

/** Drops the device's dead letters that are `deadLetterTtlMs` old by `now`. */
export function applyDeadlines(box: DeadLetterBox, deviceId: string, now: number, limits: HubLimits): DeadLetterTransition {
  const list = box.get(deviceId);
  if (!list) return { box, effects: [] };
  const keepFrom = list.findIndex((d) => d.deadLetteredTimeUtc + limits.deadLetterTtlMs > now);
  const cut = keepFrom < 0 ? list.length : keepFrom;
  if (cut === 0) return { box, effects: [] };
  return {
    box: withList(box, deviceId, list.slice(cut)),
    effects: [{ type: 'dropped', deviceId, sequenceNumbers: list.slice(0, cut).map((d) => d.message.sequenceNumber), why: 'age' }],
  };
}

/**
 * The dead letter a caller names: by sequence number, or by messageId (the
 * most recent one carrying it). 404000 MessageNotFound when there is none.
 */
export function find(box: DeadLetterBox, deviceId: string, ref: { sequenceNumber?: number; messageId?: string }): DeadLetter {
  const list = box.get(deviceId) ?? [];
  let found: DeadLetter | undefined;
  for (let i = list.length - 1; i >= 0 && !found; i--) {
    const d = list[i]!;
    if (ref.sequenceNumber !== undefined ? d.message.sequenceNumber === ref.sequenceNumber : d.message.messageId === ref.messageId) found = d;
  }
  if (!found) {
    const what =
      ref.sequenceNumber !== undefined ? `dead letter with sequence number ${ref.sequenceNumber}` : `dead letter with message id '${String(ref.messageId)}'`;
    throw errors.messageNotFound(deviceId, what);
  }
  return found;
}

/** Removes one dead letter (delete, or requeue once its copy is sent). */
export function remove(box: DeadLetterBox, d: DeadLetter, why: 'deleted' | 'requeued'): DeadLetterTransition {
  const deviceId = d.message.deviceId;
  const list = (box.get(deviceId) ?? []).filter((x) => x !== d);
  return { box: withList(box, deviceId, list), effects: [{ type: 'dropped', deviceId, sequenceNumbers: [d.message.sequenceNumber], why }] };
}

/** Removes every dead letter of a device (the device was deleted). */
export function dropDevice(box: DeadLetterBox, deviceId: string): DeadLetterBox {
  return box.has(deviceId) ? withList(box, deviceId, []) : box;
}

/**
 * The new message a requeue sends: the same body, ids, ack and properties (so
 * feedback still correlates by messageId), with the time to live it was sent
 * with, counted from now and capped by the hub's maximum.
 */
export function requeueMessage(d: DeadLetter, now: number, limits: HubLimits): OutgoingMessage {
  const m = d.message;
  const ttl = Math.min(Math.max(m.expiryTimeUtc - m.enqueuedTimeUtc, 1), limits.maxTtlMs);
  return {
    body: m.body,
    messageId: m.messageId,
    ...(m.correlationId !== undefined ? { correlationId: m.correlationId } : {}),
    ...(m.userId !== undefined ? { userId: m.userId } : {}),
    ack: m.ack,
    ...(m.contentType !== undefined ? { contentType: m.contentType } : {}),
    ...(m.contentEncoding !== undefined ? { contentEncoding: m.contentEncoding } : {}),
    properties: { ...m.properties },
    expiryTimeUtc: now + ttl,
  };
}

/**
 * IoT Hub's per-device C2D queue rules (c2d-semantics.md §1.2), as pure
 * functions: (queue, event, now) -> { queue', effects }. No I/O, no clock, no
 * randomness: the caller passes `now` and fresh ids. Rule errors are thrown as
 * C2DError before anything changes. Read this file to learn the rules:
 *
 *   send      -> Enqueued  (sequenceNumber +1, expiry from the message or defaultTtlMs)
 *   receive   Enqueued  -> Invisible (fresh lockToken, locked for lockTimeoutMs), lowest sequence first
 *   complete  Invisible -> removed; feedback Success
 *   reject    Invisible -> dead lettered; feedback Rejected
 *   abandon   Invisible -> Enqueued, deliveryCount +1
 *   lock expiry Invisible -> Enqueued (+1 only when lockExpiryCountsAsDelivery)
 *   deliveryCount reaching maxDeliveryCount -> dead lettered; feedback DeliveryCountExceeded
 *   TTL expiry (Enqueued or Invisible) -> dead lettered; feedback Expired
 *   purge     every pending message -> removed; feedback Purged
 *   cancel    the pending messages with one messageId -> removed; feedback Purged
 *   unsend    a send whose commit failed -> removed again (it was never accepted)
 * Feedback records are only produced when the message's ack asks for them (ackWants).
 */
import { errors } from '../../common/errors';
import type { HubLimits } from '../../common/limits';
import {
  ackWants,
  deviceBoundAddress,
  FEEDBACK_DESCRIPTIONS,
  messageSize,
  type C2DMessage,
  type FeedbackRecord,
  type FeedbackStatusCode,
  type OutgoingMessage,
  type ReceivedMessage,
} from '../../common/message';

export type MessageState = 'Enqueued' | 'Invisible';

export interface QueuedMessage {
  readonly message: C2DMessage;
  readonly state: MessageState;
  /** Set while Invisible. */
  readonly lockToken?: string;
  readonly lockedUntilUtc?: number;
}

export interface DeviceQueue {
  readonly deviceId: string;
  readonly generationId: string;
  /** Last sequence number handed out; the next send gets this + 1. */
  readonly lastSequenceNumber: number;
  /** Pending messages (Enqueued and Invisible), ascending sequenceNumber: that is FIFO order. */
  readonly messages: readonly QueuedMessage[];
}

export type DeadLetterReason = 'Rejected' | 'Expired' | 'DeliveryCountExceeded';

/**
 * What happened, for the store (persist), the observers (events) and the
 * feedback queue. `lockToken` on a removal names the lock that ended with it
 * (the message was Invisible), so the receiver holding it can be told.
 */
export type QueueEffect =
  | { type: 'enqueued'; message: C2DMessage }
  | { type: 'delivered'; message: ReceivedMessage }
  | { type: 'completed'; message: C2DMessage; feedback?: FeedbackRecord }
  | { type: 'abandoned'; message: C2DMessage }
  | { type: 'lockExpired'; message: C2DMessage; lockToken: string }
  | { type: 'deadLettered'; message: C2DMessage; reason: DeadLetterReason; feedback?: FeedbackRecord; lockToken?: string }
  | { type: 'purged'; messages: C2DMessage[]; feedback: FeedbackRecord[]; lockTokens: string[] }
  | { type: 'cancelled'; message: C2DMessage; feedback?: FeedbackRecord; lockToken?: string }
  | { type: 'unsent'; message: C2DMessage; lockToken?: string };

export interface Transition {
  queue: DeviceQueue;
  effects: QueueEffect[];
}

export function emptyQueue(deviceId: string, generationId: string, lastSequenceNumber = 0): DeviceQueue {
  return { deviceId, generationId, lastSequenceNumber, messages: [] };
}

function feedbackFor(q: DeviceQueue, m: C2DMessage, status: FeedbackStatusCode, now: number): FeedbackRecord | undefined {
  if (!ackWants(m.ack, status)) return undefined;
  return {
    originalMessageId: m.messageId,
    deviceId: q.deviceId,
    deviceGenerationId: q.generationId,
    enqueuedTimeUtc: new Date(now).toISOString(),
    statusCode: status,
    description: FEEDBACK_DESCRIPTIONS[status],
  };
}

function deadLetter(q: DeviceQueue, m: C2DMessage, reason: DeadLetterReason, now: number, lockToken?: string): QueueEffect {
  const feedback = feedbackFor(q, m, reason, now);
  return { type: 'deadLettered', message: m, reason, ...(feedback ? { feedback } : {}), ...(lockToken !== undefined ? { lockToken } : {}) };
}

/**
 * A message goes back to Enqueued with `deliveryCount` attempts behind it.
 * Rule (decided here): the message is dead-lettered at the moment its
 * deliveryCount REACHES maxDeliveryCount, so with the default 10 a message
 * is delivered at most 10 times and the 10th abandon dead-letters it.
 */
function requeue(q: DeviceQueue, m: C2DMessage, limits: HubLimits, now: number): { kept?: QueuedMessage; effect?: QueueEffect } {
  if (m.deliveryCount >= limits.maxDeliveryCount) return { effect: deadLetter(q, m, 'DeliveryCountExceeded', now) };
  return { kept: { message: m, state: 'Enqueued' } };
}

/**
 * Applies every deadline that has passed by `now`: TTL expiry first (an expired
 * message is dead-lettered whatever its state), then lock expiry. Lock expiry
 * does not count as a delivery unless lockExpiryCountsAsDelivery: IoT Hub docs 2026-02.
 */
export function applyDeadlines(q: DeviceQueue, now: number, limits: HubLimits): Transition {
  const next = nextDeadline(q);
  if (next === undefined || next > now) return { queue: q, effects: [] };
  const effects: QueueEffect[] = [];
  let changed = false;
  const messages: QueuedMessage[] = [];
  for (const e of q.messages) {
    if (now >= e.message.expiryTimeUtc) {
      effects.push(deadLetter(q, e.message, 'Expired', now, e.state === 'Invisible' ? e.lockToken : undefined));
      changed = true;
    } else if (e.state === 'Invisible' && now >= (e.lockedUntilUtc ?? 0)) {
      changed = true;
      const m = limits.lockExpiryCountsAsDelivery ? { ...e.message, deliveryCount: e.message.deliveryCount + 1 } : e.message;
      effects.push({ type: 'lockExpired', message: m, lockToken: e.lockToken ?? '' });
      const r = requeue(q, m, limits, now);
      if (r.kept) messages.push(r.kept);
      if (r.effect) effects.push(r.effect);
    } else {
      messages.push(e);
    }
  }
  return { queue: changed ? { ...q, messages } : q, effects };
}

/**
 * Expiry check. 400011 MessageExpiryTimeInvalid is for an expiry that is not a
 * time at all (validate.ts); a well-formed expiry outside the allowed window
 * (not after now, or more than maxTtlMs from now) is 403009 InvalidMessageExpiryTime.
 */
function expiryOf(m: OutgoingMessage, now: number, limits: HubLimits): number {
  if (m.expiryTimeUtc === undefined) return now + limits.defaultTtlMs;
  if (m.expiryTimeUtc <= now) {
    throw errors.expiryOutOfRange('The message expiry time is not in the future.');
  }
  if (m.expiryTimeUtc > now + limits.maxTtlMs) {
    throw errors.expiryOutOfRange(`The message expiry time is more than ${limits.maxTtlMs} ms from now.`);
  }
  return m.expiryTimeUtc;
}

/** Service send: checks size (413001), expiry (403009) and depth (403004), then Enqueues. */
export function send(q: DeviceQueue, m: OutgoingMessage, messageId: string, now: number, limits: HubLimits): Transition {
  const size = messageSize(m);
  if (size > limits.maxMessageBytes) throw errors.tooLarge(size, limits.maxMessageBytes);
  const expiryTimeUtc = expiryOf(m, now, limits);
  // Every pending message (Enqueued and Invisible) counts toward the depth: c2d-semantics.md §7.2.
  if (q.messages.length >= limits.maxQueueDepth) throw errors.queueFull(q.deviceId, q.messages.length);
  const sequenceNumber = q.lastSequenceNumber + 1;
  const message: C2DMessage = {
    body: m.body,
    messageId: m.messageId ?? messageId,
    ...(m.correlationId !== undefined ? { correlationId: m.correlationId } : {}),
    ...(m.userId !== undefined ? { userId: m.userId } : {}),
    to: deviceBoundAddress(q.deviceId),
    expiryTimeUtc,
    ack: m.ack ?? 'none',
    ...(m.ack !== undefined ? { ackSetBySender: true as const } : {}),
    ...(m.contentType !== undefined ? { contentType: m.contentType } : {}),
    ...(m.contentEncoding !== undefined ? { contentEncoding: m.contentEncoding } : {}),
    properties: { ...(m.properties ?? {}) },
    deviceId: q.deviceId,
    sequenceNumber,
    enqueuedTimeUtc: now,
    deliveryCount: 0,
  };
  return {
    queue: { ...q, lastSequenceNumber: sequenceNumber, messages: [...q.messages, { message, state: 'Enqueued' }] },
    effects: [{ type: 'enqueued', message }],
  };
}

/** Locks the Enqueued message with the lowest sequence number; no effect when none is Enqueued. */
export function receive(q: DeviceQueue, lockToken: string, now: number, limits: HubLimits): Transition & { received?: ReceivedMessage } {
  const i = q.messages.findIndex((e) => e.state === 'Enqueued');
  if (i < 0) return { queue: q, effects: [] };
  const lockedUntilUtc = now + limits.lockTimeoutMs;
  const e = q.messages[i]!;
  const received: ReceivedMessage = { ...e.message, lockToken, lockedUntilUtc };
  const messages = q.messages.slice();
  messages[i] = { message: e.message, state: 'Invisible', lockToken, lockedUntilUtc };
  return { queue: { ...q, messages }, effects: [{ type: 'delivered', message: received }], received };
}

/** Index of the live lock `lockToken` holds, or 412002: unknown, stale, expired, or another device's token. */
function lockedIndex(q: DeviceQueue, lockToken: string, now: number): number {
  const i = q.messages.findIndex((e) => e.state === 'Invisible' && e.lockToken === lockToken);
  if (i < 0 || now >= (q.messages[i]!.lockedUntilUtc ?? 0)) throw errors.lockLost(lockToken);
  return i;
}

function without(q: DeviceQueue, i: number): QueuedMessage[] {
  return [...q.messages.slice(0, i), ...q.messages.slice(i + 1)];
}

export function complete(q: DeviceQueue, lockToken: string, now: number): Transition {
  const i = lockedIndex(q, lockToken, now);
  const m = q.messages[i]!.message;
  const feedback = feedbackFor(q, m, 'Success', now);
  return { queue: { ...q, messages: without(q, i) }, effects: [{ type: 'completed', message: m, ...(feedback ? { feedback } : {}) }] };
}

export function reject(q: DeviceQueue, lockToken: string, now: number): Transition {
  const i = lockedIndex(q, lockToken, now);
  return { queue: { ...q, messages: without(q, i) }, effects: [deadLetter(q, q.messages[i]!.message, 'Rejected', now)] };
}

/** Back to Enqueued at its own place (FIFO by sequence number), one more delivery behind it. */
export function abandon(q: DeviceQueue, lockToken: string, now: number, limits: HubLimits): Transition {
  const i = lockedIndex(q, lockToken, now);
  const m = { ...q.messages[i]!.message, deliveryCount: q.messages[i]!.message.deliveryCount + 1 };
  const effects: QueueEffect[] = [{ type: 'abandoned', message: m }];
  const r = requeue(q, m, limits, now);
  if (r.effect) effects.push(r.effect);
  const messages = r.kept ? q.messages.map((e, j) => (j === i ? r.kept! : e)) : without(q, i);
  return { queue: { ...q, messages }, effects };
}

/**
 * A lock given up before its deadline (the receiver detached, or the hub
 * restarted): handled exactly like a lock expiry. Unknown tokens are ignored.
 */
export function release(q: DeviceQueue, lockToken: string, now: number, limits: HubLimits): Transition {
  const i = q.messages.findIndex((e) => e.state === 'Invisible' && e.lockToken === lockToken);
  if (i < 0) return { queue: q, effects: [] };
  const messages = q.messages.slice();
  messages[i] = { ...messages[i]!, lockedUntilUtc: now };
  return applyDeadlines({ ...q, messages }, now, limits);
}

/** Removes every pending message (Enqueued and Invisible); Purged feedback where the ack asks for negatives. */
export function purge(q: DeviceQueue, now: number): Transition {
  const messages = q.messages.map((e) => e.message);
  const feedback = messages.map((m) => feedbackFor(q, m, 'Purged', now)).filter((f): f is FeedbackRecord => f !== undefined);
  const lockTokens = q.messages.flatMap((e) => (e.state === 'Invisible' && e.lockToken !== undefined ? [e.lockToken] : []));
  return { queue: { ...q, messages: [] }, effects: [{ type: 'purged', messages, feedback, lockTokens }] };
}

/**
 * Removes the pending messages (Enqueued or Invisible) that carry `messageId`
 * (usually one: ids are the sender's, so nothing stops a sender from reusing
 * one), each with Purged feedback where its ack asks for negatives, as a purge
 * of just those would. 404000 MessageNotFound when none does.
 */
export function cancel(q: DeviceQueue, messageId: string, now: number): Transition {
  const effects: QueueEffect[] = [];
  const messages: QueuedMessage[] = [];
  for (const e of q.messages) {
    if (e.message.messageId !== messageId) {
      messages.push(e);
      continue;
    }
    const feedback = feedbackFor(q, e.message, 'Purged', now);
    effects.push({
      type: 'cancelled',
      message: e.message,
      ...(feedback ? { feedback } : {}),
      ...(e.state === 'Invisible' && e.lockToken !== undefined ? { lockToken: e.lockToken } : {}),
    });
  }
  if (effects.length === 0) throw errors.messageNotFound(q.deviceId, `pending message with id '${messageId}'`);
  return { queue: { ...q, messages }, effects };
}

/**
 * Takes back a send whose store commit failed: the message was never accepted,
 * so it leaves the queue whatever happened to it meanwhile (an HTTP poll may
 * already hold its lock, which ends with it). Nothing to persist, no feedback.
 */
export function unsend(q: DeviceQueue, sequenceNumber: number): Transition {
  const i = q.messages.findIndex((e) => e.message.sequenceNumber === sequenceNumber);
  if (i < 0) return { queue: q, effects: [] };
  const e = q.messages[i]!;
  return {
    queue: { ...q, messages: without(q, i) },
    effects: [{ type: 'unsent', message: e.message, ...(e.state === 'Invisible' && e.lockToken !== undefined ? { lockToken: e.lockToken } : {}) }],
  };
}

/** A pending message as peek() shows it: nothing is locked or changed by looking. */
export interface PeekedMessage {
  message: C2DMessage;
  state: MessageState;
  lockedUntilUtc?: number;
}

/** The pending messages in delivery order (sequence number). */
export function peek(q: DeviceQueue): PeekedMessage[] {
  return q.messages.map((e) => ({
    message: e.message,
    state: e.state,
    ...(e.state === 'Invisible' && e.lockedUntilUtc !== undefined ? { lockedUntilUtc: e.lockedUntilUtc } : {}),
  }));
}

/** The earliest TTL or lock deadline, for the scheduler; undefined when the queue is empty. */
export function nextDeadline(q: DeviceQueue): number | undefined {
  let t: number | undefined;
  for (const e of q.messages) {
    const d = e.state === 'Invisible' ? Math.min(e.message.expiryTimeUtc, e.lockedUntilUtc ?? Infinity) : e.message.expiryTimeUtc;
    if (t === undefined || d < t) t = d;
  }
  return t;
}

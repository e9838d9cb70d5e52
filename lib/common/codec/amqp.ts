/**
 * C2D messages and feedback batches <-> rhea message objects. The hub and our
 * own clients both use this file, so what one encodes the other decodes.
 * Wire facts: sdk-wire.md §2.3, §5.1; c2d-semantics.md §3, §4.2.
 */
import { message as rheaMessage, types as rheaTypes } from 'rhea';
import { C2DError } from '../errors';
import {
  FEEDBACK_CONTENT_TYPE,
  deviceBoundAddress,
  isAckMode,
  type FeedbackRecord,
  type OutgoingMessage,
  type Properties,
  type ReceivedFeedbackBatch,
  type ReceivedMessage,
} from '../message';
import { deviceIdFromTo } from './amqp-address';

export * from './amqp-address';
export * from './amqp-error';

/** Application property carrying the feedback request. */
export const ACK_PROPERTY = 'iothub-ack';
/** Message annotations on a device delivery (and `iothub-enqueuedtime` on feedback). */
export const SEQUENCE_NUMBER_ANNOTATION = 'x-opt-sequence-number';
export const ENQUEUED_TIME_ANNOTATION = 'iothub-enqueuedtime';
export const DELIVERY_COUNT_ANNOTATION = 'iothub-deliverycount';
/** C# reads the lock token from here when present, else from the delivery tag. */
export const LOCK_TOKEN_ANNOTATION = 'x-opt-lock-token';

/** The rhea message shape we read and write (rhea's own type is `any`-keyed). */
export interface AmqpMessage {
  message_id?: unknown;
  correlation_id?: unknown;
  user_id?: unknown;
  to?: unknown;
  content_type?: unknown;
  content_encoding?: unknown;
  absolute_expiry_time?: unknown;
  application_properties?: Record<string, unknown>;
  message_annotations?: Record<string, unknown>;
  body?: unknown;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function uuidToString(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** 16 bytes for a canonical (lower-case) uuid string, else undefined. */
export function uuidBytes(s: string): Buffer | undefined {
  return UUID.test(s) ? Buffer.from(s.replace(/-/g, ''), 'hex') : undefined;
}

/**
 * An id as the model holds it: a uuid (16-byte Buffer from rhea) becomes its
 * canonical string, a ulong its decimal text. Binary ids have no IoT Hub form.
 */
export function idToString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return String(v);
  if (Buffer.isBuffer(v) && v.length === 16) return uuidToString(v);
  throw new C2DError('ArgumentInvalid', `${what} must be a string, a uuid or an unsigned integer.`);
}

/**
 * An id for the wire: a canonical uuid string goes out as the AMQP uuid type
 * (what the service SDKs send for uuid-shaped ids, so the type survives the
 * hub); anything else as a string. Only the canonical form is converted,
 * because decoding gives the canonical form back and the id must not change.
 */
export function idToWire(s: string | undefined): unknown {
  if (s === undefined) return undefined;
  const b = uuidBytes(s);
  return b ? rheaTypes.wrap_uuid(b) : s;
}

function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  throw new C2DError('ArgumentInvalid', `${what} must be a string.`);
}

/** rhea 3 decodes timestamps as Date; the model holds epoch milliseconds. */
export function timeToNumber(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw new C2DError('MessageExpiryTimeInvalid', `${what} must be an AMQP timestamp.`);
}

/** The body bytes: one or more data sections (concatenated), or an amqp-value binary/string. */
export function bodyToBuffer(body: unknown): Buffer {
  if (body === undefined || body === null) return Buffer.alloc(0);
  const section = body as { typecode?: number; content?: unknown; multiple?: boolean };
  if (section.typecode === 0x75) {
    const parts = section.multiple ? (section.content as unknown[]) : [section.content];
    return Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.alloc(0))));
  }
  if (Buffer.isBuffer(body)) return body;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  throw new C2DError('ArgumentInvalid', 'The message body must be a data section.');
}

function userIdToString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  return optionalString(v, 'user-id');
}

/** Application properties minus `iothub-ack`; values must be text (numbers and booleans are written as text). */
function splitProperties(ap: Record<string, unknown> | undefined): { ack?: unknown; properties: Properties } {
  const properties: Properties = {};
  let ack: unknown;
  for (const [k, v] of Object.entries(ap ?? {})) {
    if (k === ACK_PROPERTY) ack = v;
    else if (typeof v === 'string') properties[k] = v;
    else if (typeof v === 'number' || typeof v === 'boolean') properties[k] = String(v);
    else throw new C2DError('ArgumentInvalid', `Application property '${k}' must be a string.`);
  }
  return { ack, properties };
}

function applicationProperties(m: { ack?: string; properties?: Properties }): Record<string, string> | undefined {
  const ap: Record<string, string> = { ...(m.properties ?? {}) };
  if (m.ack !== undefined) ap[ACK_PROPERTY] = m.ack;
  return Object.keys(ap).length ? ap : undefined;
}

/** Drops undefined fields so rhea does not encode nulls for them. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

// ------------------------------------------------------------ service send

/** What a backend puts on `/messages/devicebound` (service SDK shape). */
export function encodeServiceSend(deviceId: string, m: OutgoingMessage): AmqpMessage {
  return compact({
    to: deviceBoundAddress(deviceId),
    message_id: idToWire(m.messageId),
    correlation_id: idToWire(m.correlationId),
    user_id: m.userId === undefined ? undefined : Buffer.from(m.userId, 'utf8'),
    content_type: m.contentType,
    content_encoding: m.contentEncoding,
    absolute_expiry_time: m.expiryTimeUtc,
    application_properties: applicationProperties(m),
    body: rheaMessage.data_section(m.body),
  });
}

/** Reads a send on `/messages/devicebound`: the target device (from `to`) and the message. Throws 400004. */
export function decodeServiceSend(msg: AmqpMessage): { deviceId: string; message: OutgoingMessage } {
  const deviceId = deviceIdFromTo(msg.to);
  if (deviceId === undefined) {
    throw new C2DError('ArgumentInvalid', `The message 'to' must be /devices/{deviceId}/messages/devicebound (got ${JSON.stringify(msg.to)}).`);
  }
  const { ack, properties } = splitProperties(msg.application_properties);
  if (ack !== undefined && !isAckMode(ack)) throw new C2DError('ArgumentInvalid', `Invalid ${ACK_PROPERTY} ${JSON.stringify(ack)}: use none, positive, negative or full.`);
  const message: OutgoingMessage = compact({
    body: bodyToBuffer(msg.body),
    messageId: idToString(msg.message_id, 'message-id'),
    correlationId: idToString(msg.correlation_id, 'correlation-id'),
    userId: userIdToString(msg.user_id),
    expiryTimeUtc: timeToNumber(msg.absolute_expiry_time, 'absolute-expiry-time'),
    ack,
    contentType: optionalString(msg.content_type, 'content-type'),
    contentEncoding: optionalString(msg.content_encoding, 'content-encoding'),
    properties,
  });
  return { deviceId, message };
}

// ------------------------------------------------------------ device delivery

/** A locked message for the device link, and its delivery tag (the lock token's 16 uuid bytes). */
export function encodeDeviceDelivery(m: ReceivedMessage): { message: AmqpMessage; tag: Buffer } {
  const message = compact({
    to: m.to,
    message_id: idToWire(m.messageId),
    correlation_id: idToWire(m.correlationId),
    user_id: m.userId === undefined ? undefined : Buffer.from(m.userId, 'utf8'),
    content_type: m.contentType,
    content_encoding: m.contentEncoding,
    absolute_expiry_time: m.expiryTimeUtc,
    application_properties: applicationProperties(m),
    message_annotations: {
      [SEQUENCE_NUMBER_ANNOTATION]: rheaTypes.wrap_ulong(m.sequenceNumber),
      [ENQUEUED_TIME_ANNOTATION]: rheaTypes.wrap_timestamp(m.enqueuedTimeUtc),
      [DELIVERY_COUNT_ANNOTATION]: rheaTypes.wrap_ubyte(Math.min(m.deliveryCount, 255)),
    },
    body: rheaMessage.data_section(m.body),
  });
  return { message, tag: lockTokenToTag(m.lockToken) };
}

/** What a device client reads from a delivery: the message, with the lock token taken from the tag. */
export function decodeDeviceDelivery(msg: AmqpMessage, tag: Buffer): Omit<ReceivedMessage, 'lockedUntilUtc'> {
  const { ack, properties } = splitProperties(msg.application_properties);
  const ma = msg.message_annotations ?? {};
  const to = optionalString(msg.to, 'to') ?? '';
  return compact({
    body: bodyToBuffer(msg.body),
    messageId: idToString(msg.message_id, 'message-id') ?? '',
    correlationId: idToString(msg.correlation_id, 'correlation-id'),
    userId: userIdToString(msg.user_id),
    to,
    expiryTimeUtc: timeToNumber(msg.absolute_expiry_time, 'absolute-expiry-time') ?? 0,
    ack: isAckMode(ack) ? ack : 'none',
    contentType: optionalString(msg.content_type, 'content-type'),
    contentEncoding: optionalString(msg.content_encoding, 'content-encoding'),
    properties,
    deviceId: deviceIdFromTo(to) ?? '',
    sequenceNumber: Number(ma[SEQUENCE_NUMBER_ANNOTATION] ?? 0),
    enqueuedTimeUtc: timeToNumber(ma[ENQUEUED_TIME_ANNOTATION], ENQUEUED_TIME_ANNOTATION) ?? 0,
    deliveryCount: Number(ma[DELIVERY_COUNT_ANNOTATION] ?? 0),
    lockToken: tagToLockToken(tag),
  });
}

/** Lock tokens are uuids; the tag is their 16 bytes (SDKs read it as a GUID). Other tokens go as UTF-8. */
export function lockTokenToTag(lockToken: string): Buffer {
  return uuidBytes(lockToken) ?? Buffer.from(lockToken, 'utf8');
}

export function tagToLockToken(tag: Buffer): string {
  return tag.length === 16 ? uuidToString(tag) : tag.toString('utf8');
}

// ------------------------------------------------------------ feedback

/** A feedback batch as one message: JSON array body in a data section (c2d-semantics.md §4.2). */
export function encodeFeedback(batch: ReceivedFeedbackBatch): { message: AmqpMessage; tag: Buffer } {
  const message = {
    content_type: FEEDBACK_CONTENT_TYPE,
    user_id: Buffer.from(batch.userId, 'utf8'),
    message_annotations: { [ENQUEUED_TIME_ANNOTATION]: rheaTypes.wrap_timestamp(batch.enqueuedTimeUtc) },
    body: rheaMessage.data_section(Buffer.from(JSON.stringify(batch.records), 'utf8')),
  };
  return { message, tag: lockTokenToTag(batch.lockToken) };
}

/** Reads a feedback message; throws 400004 on a wrong content type or body. */
export function decodeFeedback(msg: AmqpMessage, tag: Buffer): Omit<ReceivedFeedbackBatch, 'lockedUntilUtc' | 'deliveryCount'> {
  if (msg.content_type !== FEEDBACK_CONTENT_TYPE) {
    throw new C2DError('ArgumentInvalid', `Unsupported feedback content type ${JSON.stringify(msg.content_type)}.`);
  }
  let records: unknown;
  try {
    records = JSON.parse(bodyToBuffer(msg.body).toString('utf8'));
  } catch {
    throw new C2DError('ArgumentInvalid', 'The feedback body is not JSON.');
  }
  if (!Array.isArray(records)) throw new C2DError('ArgumentInvalid', 'The feedback body must be a JSON array.');
  return {
    records: records as FeedbackRecord[],
    enqueuedTimeUtc: timeToNumber(msg.message_annotations?.[ENQUEUED_TIME_ANNOTATION], ENQUEUED_TIME_ANNOTATION) ?? 0,
    userId: userIdToString(msg.user_id) ?? '',
    lockToken: tagToLockToken(tag),
  };
}

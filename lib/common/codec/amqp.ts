/**
 * C2D messages and feedback batches <-> rhea message objects. The hub and our
 * own clients both use this file, so what one encodes the other decodes.
 * Wire facts: sdk-wire.md §2.3, §5.1; c2d-semantics.md §3, §4.2.
 */
import { message as rheaMessage, types as rheaTypes } from 'rhea';
import { errors } from '../errors';
import { ownedCopy } from '../owned-bytes';
import {
  FEEDBACK_CONTENT_TYPE,
  deliveredAck,
  deviceBoundAddress,
  isAckMode,
  type DeviceMessage,
  type FeedbackRecord,
  type OutgoingMessage,
  type Properties,
  type ReceivedFeedbackBatch,
  type ReceivedMessage,
} from '../message';
import { deviceEventsLinkAddress, deviceIdFromTo } from './amqp-address';

import {
  ACK_PROPERTY,
  DELIVERY_COUNT_ANNOTATION,
  ENQUEUED_TIME_ANNOTATION,
  SEQUENCE_NUMBER_ANNOTATION,
  applicationProperties,
  bodyToBuffer,
  compact,
  idToString,
  idToWire,
  optionalString,
  splitProperties,
  timeToNumber,
  userIdToString,
  uuidBytes,
  uuidToString,
  type AmqpMessage,
} from './amqp-values';

export * from './amqp-address';
export * from './amqp-cbs';
export * from './amqp-error';
export * from './amqp-values';

// ------------------------------------------------------------ service send

/** The AMQP properties a sender may set, as both the service send and the device delivery carry them. */
function userSettableFields(m: OutgoingMessage, ack: string | undefined): AmqpMessage {
  return {
    message_id: idToWire(m.messageId),
    correlation_id: idToWire(m.correlationId),
    user_id: m.userId === undefined ? undefined : Buffer.from(m.userId, 'utf8'),
    content_type: m.contentType,
    content_encoding: m.contentEncoding,
    absolute_expiry_time: m.expiryTimeUtc,
    application_properties: applicationProperties(m.properties, ack),
  };
}

/** What a backend puts on `/messages/devicebound` (service SDK shape). */
export function encodeServiceSend(deviceId: string, m: OutgoingMessage): AmqpMessage {
  return compact({
    to: deviceBoundAddress(deviceId),
    ...userSettableFields(m, m.ack),
    body: rheaMessage.data_section(m.body),
  });
}

/** Reads a send on `/messages/devicebound`: the target device (from `to`) and the message. Throws 400004. */
export function decodeServiceSend(msg: AmqpMessage): { deviceId: string; message: OutgoingMessage } {
  const deviceId = deviceIdFromTo(msg.to);
  if (deviceId === undefined) {
    throw errors.invalid(`The message 'to' must be /devices/{deviceId}/messages/devicebound (got ${JSON.stringify(msg.to)}).`);
  }
  const { ack, properties } = splitProperties(msg.application_properties);
  if (ack !== undefined && !isAckMode(ack)) throw errors.invalid(`Invalid ${ACK_PROPERTY} ${JSON.stringify(ack)}: use none, positive, negative or full.`);
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

/**
 * A locked message for the device link, and its delivery tag (the lock
 * token's 16 uuid bytes). The header's delivery-count is the prior
 * unsuccessful deliveries (AMQP 1.0 §3.2.1), the same count as `iothub-deliverycount`.
 */
export function encodeDeviceDelivery(m: ReceivedMessage): { message: AmqpMessage; tag: Buffer } {
  const message = compact({
    delivery_count: m.deliveryCount,
    to: m.to,
    ...userSettableFields(m, deliveredAck(m)),
    message_annotations: {
      [SEQUENCE_NUMBER_ANNOTATION]: rheaTypes.wrap_ulong(m.sequenceNumber),
      [ENQUEUED_TIME_ANNOTATION]: rheaTypes.wrap_timestamp(m.enqueuedTimeUtc),
      [DELIVERY_COUNT_ANNOTATION]: rheaTypes.wrap_ubyte(Math.min(m.deliveryCount, 255)),
    },
    body: rheaMessage.data_section(m.body),
  });
  return { message, tag: lockTokenToTag(m.lockToken) };
}

/**
 * What a device client reads from a delivery: the message, with the lock token taken from the tag.
 * A field the delivery does not carry (a missing annotation, no expiry) stays absent.
 */
export function decodeDeviceDelivery(msg: AmqpMessage, tag: Buffer): Omit<DeviceMessage, 'lockedUntilUtc' | 'deviceId'> {
  const { ack, properties } = splitProperties(msg.application_properties);
  const ma = msg.message_annotations ?? {};
  const count = (v: unknown): number | undefined => (v === undefined || v === null ? undefined : Number(v));
  return compact({
    body: bodyToBuffer(msg.body),
    messageId: idToString(msg.message_id, 'message-id'),
    correlationId: idToString(msg.correlation_id, 'correlation-id'),
    userId: userIdToString(msg.user_id),
    to: optionalString(msg.to, 'to'),
    expiryTimeUtc: timeToNumber(msg.absolute_expiry_time, 'absolute-expiry-time'),
    ack: isAckMode(ack) ? ack : 'none',
    contentType: optionalString(msg.content_type, 'content-type'),
    contentEncoding: optionalString(msg.content_encoding, 'content-encoding'),
    properties,
    sequenceNumber: count(ma[SEQUENCE_NUMBER_ANNOTATION]),
    enqueuedTimeUtc: timeToNumber(ma[ENQUEUED_TIME_ANNOTATION], ENQUEUED_TIME_ANNOTATION),
    deliveryCount: count(ma[DELIVERY_COUNT_ANNOTATION]),
    lockToken: tagToLockToken(tag),
  });
}

// ------------------------------------------------------------ device-to-cloud

/** What a device puts on `/devices/{id}/messages/events`: `to` = that address, the properties, a data section (sdk-wire.md §2.3). */
export function encodeDeviceEvent(deviceId: string, body: Buffer, properties: Properties): AmqpMessage {
  return compact({
    to: deviceEventsLinkAddress(deviceId),
    application_properties: Object.keys(properties).length > 0 ? { ...properties } : undefined,
    body: rheaMessage.data_section(body),
  });
}

/**
 * Lock tokens are uuids; the tag is their 16 bytes (SDKs read it as a GUID).
 * Other tokens go as UTF-8. The tag stays with its delivery in rhea's session
 * until the peer settles it and every delivery ahead of it: its own 16 bytes,
 * not a view that keeps one of Node's shared 8 KB slabs alive.
 */
export function lockTokenToTag(lockToken: string): Buffer {
  return ownedCopy(uuidBytes(lockToken) ?? Buffer.from(lockToken, 'utf8'));
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
    throw errors.invalid(`Unsupported feedback content type ${JSON.stringify(msg.content_type)}.`);
  }
  let records: unknown;
  try {
    records = JSON.parse(bodyToBuffer(msg.body).toString('utf8'));
  } catch {
    throw errors.invalid('The feedback body is not JSON.');
  }
  if (!Array.isArray(records)) throw errors.invalid('The feedback body must be a JSON array.');
  return {
    records: records as FeedbackRecord[],
    enqueuedTimeUtc: timeToNumber(msg.message_annotations?.[ENQUEUED_TIME_ANNOTATION], ENQUEUED_TIME_ANNOTATION) ?? 0,
    userId: userIdToString(msg.user_id) ?? '',
    lockToken: tagToLockToken(tag),
  };
}

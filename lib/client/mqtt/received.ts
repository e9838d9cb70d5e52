/**
 * A device-bound PUBLISH as a ReceivedMessage. MQTT carries no sequence
 * number, enqueued time or delivery count (c2d-semantics.md §3): they are 0.
 * The lock token is local (a uuid mapped to the packet id by the session);
 * the lock time is IoT Hub's 60 s from arrival.
 */
import { randomUUID } from 'node:crypto';
import type { ParsedTopic, MqttMessageProperties } from '../../common/codec/mqtt';
import { DEFAULT_LIMITS } from '../../common/limits';
import { deviceBoundAddress, type Properties, type ReceivedMessage } from '../../common/message';

export function receivedFromTopic(parsed: ParsedTopic & { message: MqttMessageProperties & { properties: Properties } }, payload: Buffer): ReceivedMessage {
  const p = parsed.message;
  return {
    body: Buffer.from(payload),
    messageId: p.messageId ?? '',
    to: p.to ?? deviceBoundAddress(parsed.deviceId),
    expiryTimeUtc: p.expiryTimeUtc ?? 0,
    ack: p.ack ?? 'none',
    properties: p.properties,
    deviceId: parsed.deviceId,
    sequenceNumber: 0,
    enqueuedTimeUtc: 0,
    deliveryCount: 0,
    lockToken: randomUUID(),
    lockedUntilUtc: Date.now() + DEFAULT_LIMITS.lockTimeoutMs,
    ...(p.correlationId !== undefined ? { correlationId: p.correlationId } : {}),
    ...(p.userId !== undefined ? { userId: p.userId } : {}),
    ...(p.contentType !== undefined ? { contentType: p.contentType } : {}),
    ...(p.contentEncoding !== undefined ? { contentEncoding: p.contentEncoding } : {}),
  };
}

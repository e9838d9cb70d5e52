/**
 * A device-bound PUBLISH as a DeviceMessage: what the topic's property bag
 * carries, and nothing else. MQTT carries no sequence number, enqueued time
 * or delivery count (c2d-semantics.md §3): those stay absent. The lock token
 * is local (a uuid the session maps to the packet id); the lock's end is the
 * client's estimate from arrival (lock-estimate.ts).
 */
import { randomUUID } from 'node:crypto';
import type { ParsedTopic, MqttMessageProperties } from '../../common/codec/mqtt';
import type { DeviceMessage, Properties } from '../../common/message';

export function receivedFromTopic(
  parsed: ParsedTopic & { message: MqttMessageProperties & { properties: Properties } },
  payload: Buffer,
  lockedUntilUtc: number,
): DeviceMessage {
  const p = parsed.message;
  const m: DeviceMessage = {
    body: Buffer.from(payload),
    ack: p.ack ?? 'none',
    properties: p.properties,
    deviceId: parsed.deviceId,
    lockToken: randomUUID(),
    lockedUntilUtc,
  };
  if (p.messageId !== undefined) m.messageId = p.messageId;
  if (p.to !== undefined) m.to = p.to;
  if (p.expiryTimeUtc !== undefined) m.expiryTimeUtc = p.expiryTimeUtc;
  if (p.correlationId !== undefined) m.correlationId = p.correlationId;
  if (p.userId !== undefined) m.userId = p.userId;
  if (p.contentType !== undefined) m.contentType = p.contentType;
  if (p.contentEncoding !== undefined) m.contentEncoding = p.contentEncoding;
  return m;
}

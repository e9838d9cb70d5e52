/**
 * Node-RED msg <-> the typed client API. Bad input becomes a C2DError with
 * IoT Hub's code (400004 / 400011) before anything reaches a connection, so a
 * Catch node sees the same codes a hub would answer with.
 */
import { C2DError, errors } from '../../lib/common/errors';
import { isAckMode, type AckMode, type DeviceMessage, type OutgoingMessage, type Properties } from '../../lib/common/message';
import type { SendOptions } from '../../lib/client/types';
import { assertTtlMs } from '../../lib/common/validate';

export const JSON_CONTENT_TYPE = 'application/json';

export interface SendDefaults {
  deviceId?: string;
  ack?: AckMode;
  /** The node's send timeout, ms (absent: the client's default, one minute). */
  timeoutMs?: number;
}

export interface SendRequest {
  deviceId: string;
  message: OutgoingMessage;
  options: SendOptions;
}

type Msg = Record<string, unknown>;

function invalid(why: string): C2DError {
  return errors.invalid(why);
}

function optionalId(msg: Msg, key: string): string | undefined {
  const v = msg[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return String(v);
  if (typeof v !== 'string') throw invalid(`msg.${key} must be a string.`);
  return v;
}

/** msg.payload -> body: Buffer as is, string as UTF-8, anything else as JSON. */
export function bodyOf(payload: unknown): { body: Buffer; contentType?: string; contentEncoding?: string } {
  if (Buffer.isBuffer(payload)) return { body: payload };
  if (typeof payload === 'string') return { body: Buffer.from(payload, 'utf8') };
  if (payload === undefined) throw invalid('msg.payload is missing.');
  return { body: Buffer.from(JSON.stringify(payload), 'utf8'), contentType: JSON_CONTENT_TYPE, contentEncoding: 'utf-8' };
}

function propertiesOf(v: unknown): Properties | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('msg.properties must be an object of name: value pairs.');
  const out: Properties = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val === 'string') out[k] = val;
    else if (typeof val === 'number' || typeof val === 'boolean') out[k] = String(val);
    else throw invalid(`msg.properties.${k} must be a string, number or boolean.`);
  }
  return out;
}

function expiryOf(v: unknown): number {
  const t = v instanceof Date ? v.getTime() : typeof v === 'string' ? Date.parse(v) : v;
  if (typeof t !== 'number' || !Number.isFinite(t)) throw errors.badExpiry('msg.expiryTimeUtc must be a Date, an ISO-8601 time or epoch milliseconds.');
  return t;
}

/** Reads a c2d-send input msg. */
export function toSendRequest(msg: Msg, defaults: SendDefaults): SendRequest {
  const deviceId = optionalId(msg, 'deviceId') ?? (defaults.deviceId || undefined);
  if (!deviceId) throw invalid("No device id: set msg.deviceId or the node's Device ID.");
  const { body, contentType, contentEncoding } = bodyOf(msg.payload);
  const ack = msg.ack === undefined || msg.ack === '' ? defaults.ack : msg.ack;
  if (ack !== undefined && !isAckMode(ack)) throw invalid(`msg.ack must be none, positive, negative or full (got ${JSON.stringify(ack)}).`);
  const options: SendOptions = {};
  if (msg.ttl !== undefined && msg.expiryTimeUtc !== undefined) throw invalid('Give msg.ttl or msg.expiryTimeUtc, not both.');
  if (msg.ttl !== undefined) {
    assertTtlMs(msg.ttl, 'msg.ttl');
    options.ttlMs = msg.ttl;
  }
  if (msg.expiryTimeUtc !== undefined) options.expiryTimeUtc = expiryOf(msg.expiryTimeUtc);
  const timeout = msg.timeout === undefined || msg.timeout === '' ? defaults.timeoutMs : msg.timeout;
  if (timeout !== undefined) {
    if (typeof timeout !== 'number' || !Number.isFinite(timeout) || timeout < 0)
      throw invalid('msg.timeout must be a number of milliseconds, 0 or more (0: no timeout).');
    options.timeoutMs = timeout;
  }
  const message: OutgoingMessage = { body };
  const messageId = optionalId(msg, 'messageId');
  const correlationId = optionalId(msg, 'correlationId');
  const properties = propertiesOf(msg.properties);
  const ct = optionalId(msg, 'contentType') ?? contentType;
  const ce = optionalId(msg, 'contentEncoding') ?? contentEncoding;
  if (messageId !== undefined) message.messageId = messageId;
  if (correlationId !== undefined) message.correlationId = correlationId;
  if (ack !== undefined) message.ack = ack;
  if (ct !== undefined) message.contentType = ct;
  if (ce !== undefined) message.contentEncoding = ce;
  if (properties !== undefined) message.properties = properties;
  return { deviceId, message, options };
}

export type PayloadFormat = 'auto' | 'buffer' | 'string' | 'json';

function utf8OrBuffer(body: Buffer): string | Buffer {
  const s = body.toString('utf8');
  return Buffer.byteLength(s) === body.length && !s.includes('\ufffd') ? s : body;
}

/**
 * Body -> msg.payload. `auto`: parsed JSON when the content type says JSON,
 * else a string when the bytes are valid UTF-8, else the Buffer.
 * A body that is not JSON where JSON was asked for stays a string.
 */
export function payloadOf(body: Buffer, contentType: string | undefined, format: PayloadFormat): unknown {
  if (format === 'buffer') return body;
  if (format === 'string') return body.toString('utf8');
  const wantsJson = format === 'json' || (contentType !== undefined && /json/i.test(contentType));
  if (wantsJson) {
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      return format === 'json' ? body.toString('utf8') : utf8OrBuffer(body);
    }
  }
  return utf8OrBuffer(body);
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Where c2d-ack finds how to settle a received message (plain data: it survives msg cloning). */
export interface SettleRef {
  config: string;
  deviceId: string;
  lockToken: string;
}

/**
 * A received C2D message as the msg c2d-receive emits. A field the transport
 * did not carry (over MQTT: enqueuedTimeUtc, deliveryCount, sequenceNumber)
 * is no msg property at all, rather than a made-up 0 or 1970.
 */
export function receivedToMsg(m: DeviceMessage, format: PayloadFormat, configId: string): Msg {
  const msg: Msg = {
    topic: m.deviceId,
    payload: payloadOf(m.body, m.contentType, format),
    deviceId: m.deviceId,
    properties: { ...m.properties },
    lockToken: m.lockToken,
    ack: m.ack,
    _c2d: { config: configId, deviceId: m.deviceId, lockToken: m.lockToken } satisfies SettleRef,
  };
  if (m.messageId !== undefined) msg.messageId = m.messageId;
  if (m.deliveryCount !== undefined) msg.deliveryCount = m.deliveryCount;
  if (m.sequenceNumber !== undefined) msg.sequenceNumber = m.sequenceNumber;
  if (m.enqueuedTimeUtc !== undefined) msg.enqueuedTimeUtc = iso(m.enqueuedTimeUtc);
  if (m.expiryTimeUtc !== undefined) msg.expiryTimeUtc = iso(m.expiryTimeUtc);
  if (m.correlationId !== undefined) msg.correlationId = m.correlationId;
  if (m.contentType !== undefined) msg.contentType = m.contentType;
  if (m.contentEncoding !== undefined) msg.contentEncoding = m.contentEncoding;
  if (m.userId !== undefined) msg.userId = m.userId;
  return msg;
}

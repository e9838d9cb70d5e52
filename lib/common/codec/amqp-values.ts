/**
 * Value conversions between rhea's decoded AMQP values and the message model:
 * ids (uuid <-> canonical string), timestamps (Date <-> epoch ms), bodies
 * (data sections), application properties. Used by codec/amqp.ts.
 */
import { types as rheaTypes } from 'rhea';
import { errors } from '../errors';
import type { Properties } from '../message';
import { setOwn } from './own';

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
  /** Header: prior unsuccessful delivery attempts (AMQP 1.0 §3.2.1). */
  delivery_count?: unknown;
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
  throw errors.invalid(`${what} must be a string, a uuid or an unsigned integer.`);
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

export function optionalString(v: unknown, what: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  throw errors.invalid(`${what} must be a string.`);
}

/** rhea 3 decodes timestamps as Date; the model holds epoch milliseconds. */
export function timeToNumber(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (v instanceof Date) return v.getTime();
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  throw errors.badExpiry(`${what} must be an AMQP timestamp.`);
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
  throw errors.invalid('The message body must be a data section.');
}

export function userIdToString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (Buffer.isBuffer(v)) {
    // user-id is binary on the wire but text in the model: bytes that are not
    // UTF-8 would otherwise become U+FFFD silently (found by test/security/bad-messages).
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(v);
    } catch {
      throw errors.invalid('user-id must be UTF-8 text.');
    }
  }
  return optionalString(v, 'user-id');
}

/** Application properties minus `iothub-ack`; values must be text (numbers and booleans are written as text). */
export function splitProperties(ap: Record<string, unknown> | undefined): { ack?: unknown; properties: Properties } {
  const properties: Properties = {};
  let ack: unknown;
  for (const [k, v] of Object.entries(ap ?? {})) {
    if (k === ACK_PROPERTY) ack = v;
    else if (typeof v === 'string') setOwn(properties, k, v);
    else if (typeof v === 'number' || typeof v === 'boolean') setOwn(properties, k, String(v));
    else throw errors.invalid(`Application property '${k}' must be a string.`);
  }
  return { ack, properties };
}

/** The application properties of a message: its own, and `iothub-ack` when one is given. */
export function applicationProperties(properties: Properties | undefined, ack: string | undefined): Record<string, string> | undefined {
  const ap: Record<string, string> = { ...(properties ?? {}) };
  if (ack !== undefined) ap[ACK_PROPERTY] = ack;
  return Object.keys(ap).length ? ap : undefined;
}

/** Drops undefined fields so rhea does not encode nulls for them. */
export function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

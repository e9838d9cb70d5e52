/**
 * Character rules for ids and properties (c2d-semantics.md §2): checked at
 * every edge so that bad input gets 400004 instead of reaching the store.
 */
import { BOUNDS } from './limits';
import { C2DError } from './errors';
import { isAckMode, type OutgoingMessage } from './message';

// device id: ASCII alphanumerics plus - . + % _ # * ? ! ( ) , = @ $ '
const DEVICE_ID = /^[A-Za-z0-9\-.+%_#*?!(),=@$']{1,128}$/;
// message id: ASCII alphanumerics plus - : . + % _ # * ? ! ( ) , = @ ; $ '
const MESSAGE_ID = /^[A-Za-z0-9\-:.+%_#*?!(),=@;$']{1,128}$/;
// property names: ASCII alphanumerics plus ! # $ % & ' * + - . ^ _ ` | ~
const PROPERTY_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/;
// property values: printable ASCII (no control characters, so no header injection)
const PROPERTY_VALUE = /^[\x20-\x7e]*$/;

export function isValidDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID.test(id) && id !== '.' && id !== '..';
}

export function assertDeviceId(id: unknown): asserts id is string {
  if (!isValidDeviceId(id)) {
    throw new C2DError('ArgumentInvalid', `Invalid device id ${JSON.stringify(id)}: use 1 to ${BOUNDS.maxIdLength} ASCII letters, digits or - . + % _ # * ? ! ( ) , = @ $ '.`);
  }
}

export function isValidMessageId(id: unknown): id is string {
  return typeof id === 'string' && MESSAGE_ID.test(id);
}

export function isValidPropertyName(name: string): boolean {
  return PROPERTY_NAME.test(name) && !name.toLowerCase().startsWith('iothub-');
}

export function isValidPropertyValue(value: string): boolean {
  return PROPERTY_VALUE.test(value);
}

/**
 * Checks the user-settable parts of an outgoing message; throws 400004
 * naming the bad part. Size and expiry are checked by the hub against its limits.
 */
export function assertOutgoingMessage(m: OutgoingMessage): void {
  if (!Buffer.isBuffer(m.body)) throw new C2DError('ArgumentInvalid', 'Message body must be a Buffer.');
  for (const key of ['messageId', 'correlationId'] as const) {
    const v = m[key];
    if (v !== undefined && !isValidMessageId(v)) {
      throw new C2DError('ArgumentInvalid', `Invalid ${key} ${JSON.stringify(v)}: use 1 to 128 ASCII letters, digits or - : . + % _ # * ? ! ( ) , = @ ; $ '.`);
    }
  }
  if (m.userId !== undefined && (typeof m.userId !== 'string' || m.userId.length > BOUNDS.maxIdLength)) {
    throw new C2DError('ArgumentInvalid', 'userId must be a string of at most 128 characters.');
  }
  if (m.ack !== undefined && !isAckMode(m.ack)) {
    throw new C2DError('ArgumentInvalid', `Invalid ack ${JSON.stringify(m.ack)}: use none, positive, negative or full.`);
  }
  for (const key of ['contentType', 'contentEncoding'] as const) {
    const v = m[key];
    if (v !== undefined && (typeof v !== 'string' || !isValidPropertyValue(v) || v.length > 256)) {
      throw new C2DError('ArgumentInvalid', `Invalid ${key} ${JSON.stringify(v)}: use printable ASCII, at most 256 characters.`);
    }
  }
  if (m.expiryTimeUtc !== undefined && (typeof m.expiryTimeUtc !== 'number' || !Number.isFinite(m.expiryTimeUtc))) {
    throw new C2DError('MessageExpiryTimeInvalid', 'expiryTimeUtc must be a time in epoch milliseconds.');
  }
  for (const [k, v] of Object.entries(m.properties ?? {})) {
    if (!isValidPropertyName(k)) {
      throw new C2DError('ArgumentInvalid', `Invalid property name ${JSON.stringify(k)}: use ASCII letters, digits or ! # $ % & ' * + - . ^ _ \` | ~, and no iothub- prefix.`);
    }
    if (typeof v !== 'string' || !isValidPropertyValue(v)) {
      throw new C2DError('ArgumentInvalid', `Invalid value for property '${k}': use a string of printable ASCII.`);
    }
  }
}

/** Checks a device-to-cloud message's body and application properties; throws 400004 naming the bad part. */
export function assertDeviceEvent(body: unknown, properties: Record<string, unknown>): asserts body is Buffer {
  if (!Buffer.isBuffer(body)) throw new C2DError('ArgumentInvalid', 'The event body must be a Buffer.');
  if (typeof properties !== 'object' || properties === null || Array.isArray(properties)) {
    throw new C2DError('ArgumentInvalid', 'The event properties must be an object of name: string value pairs.');
  }
  assertOutgoingMessage({ body, properties: properties as Record<string, string> });
}

/**
 * A time to live given as a number of milliseconds: 400011 MessageExpiryTimeInvalid
 * (as for an expiry that is not a time) unless it is a positive finite number.
 * `what` names it for the reader (`ttlMs`, `msg.ttl`).
 */
export function assertTtlMs(v: unknown, what = 'ttlMs'): asserts v is number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    throw new C2DError('MessageExpiryTimeInvalid', `${what} must be a positive number of milliseconds (got ${JSON.stringify(v)}).`);
  }
}

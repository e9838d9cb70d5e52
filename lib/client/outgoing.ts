/**
 * send()'s arguments as one OutgoingMessage: a Buffer body plus options, or a
 * whole message (options then fill only what it leaves out). TTL becomes an
 * absolute expiry here, so every transport (and the in-process client) sends
 * the same thing.
 */
import { C2DError } from '../common/errors';
import { isAckMode, type OutgoingMessage } from '../common/message';
import { assertTtlMs } from '../common/validate';
import type { SendOptions } from './types';

export function toOutgoing(body: Buffer | OutgoingMessage, o: SendOptions, nowMs = Date.now()): OutgoingMessage {
  const base: OutgoingMessage = Buffer.isBuffer(body) ? { body } : { ...body };
  if (!Buffer.isBuffer(base.body)) throw new C2DError('ArgumentInvalid', 'The message body must be a Buffer.');
  if (o.ttlMs !== undefined && o.expiryTimeUtc !== undefined) throw new C2DError('ArgumentInvalid', 'Give ttlMs or expiryTimeUtc, not both.');
  if (o.ack !== undefined && !isAckMode(o.ack)) throw new C2DError('ArgumentInvalid', `Invalid ack '${String(o.ack)}': use none, positive, negative or full.`);
  if (o.ttlMs !== undefined) {
    assertTtlMs(o.ttlMs);
    base.expiryTimeUtc ??= nowMs + o.ttlMs;
  }
  if (o.expiryTimeUtc !== undefined) base.expiryTimeUtc ??= o.expiryTimeUtc instanceof Date ? o.expiryTimeUtc.getTime() : o.expiryTimeUtc;
  if (o.ack !== undefined) base.ack ??= o.ack;
  if (o.messageId !== undefined) base.messageId ??= o.messageId;
  if (o.correlationId !== undefined) base.correlationId ??= o.correlationId;
  if (o.userId !== undefined) base.userId ??= o.userId;
  if (o.contentType !== undefined) base.contentType ??= o.contentType;
  if (o.contentEncoding !== undefined) base.contentEncoding ??= o.contentEncoding;
  if (o.properties !== undefined) base.properties = { ...o.properties, ...(base.properties ?? {}) };
  return base;
}

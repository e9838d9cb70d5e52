/**
 * HTTP codec shared by the hub's HTTPS server and our HTTP device client, so
 * encode and decode cannot drift: C2D message <-> response headers, the lock
 * token in `ETag`/`If-Match`, and IoT Hub's error body.
 *
 * Wire choices (c2d-semantics.md §2.2, §3; sdk-wire.md §4, §5.2):
 * - `ETag` is the lock token in double quotes: the Node SDK strips the first
 *   and last character whatever they are, so it must be quoted.
 * - `iothub-expiry` and `iothub-enqueuedtime` are ISO-8601 UTC
 *   (`2026-01-01T00:00:00.000Z`): the Node SDK copies the string as is, C#
 *   parses it as a DateTime, and it reads in a log. The decoder also takes
 *   RFC 1123 dates and epoch milliseconds.
 * - The content type goes in `Content-Type` (application/octet-stream when
 *   none) and, when set, `iothub-contenttype`; the content encoding goes only
 *   in `iothub-contentencoding`. HTTP `Content-Encoding` is NOT set: clients
 *   and proxies read it as a compression coding (gzip...) and a C2D encoding
 *   is a charset such as `utf-8`.
 * - Application properties are `iothub-app-{name}` headers. HTTP header names
 *   are case-insensitive, so `Foo` and `foo` arrive as one lower-cased name.
 * - Header names are written as IoT Hub spells them (`ETag`, `Content-Type`,
 *   `iothub-messageid`...): HTTP says case does not matter, but the Azure IoT
 *   C SDK looks its headers up by exact name. Reads ignore case.
 * - Errors: lib/common/codec/http-errors.ts.
 */
import { errors } from '../errors';
import { DEFAULT_LIMITS } from '../limits';
import { deliveredAck, isAckMode, type AckMode, type DeviceMessage, type Properties, type ReceivedMessage } from '../message';

export const HTTP_HEADERS = {
  etag: 'ETag',
  ifMatch: 'If-Match',
  httpContentType: 'Content-Type',
  contentLength: 'Content-Length',
  allow: 'Allow',
  connection: 'Connection',
  messageId: 'iothub-messageid',
  to: 'iothub-to',
  expiry: 'iothub-expiry',
  correlationId: 'iothub-correlationid',
  userId: 'iothub-userid',
  ack: 'iothub-ack',
  sequenceNumber: 'iothub-sequencenumber',
  enqueuedTime: 'iothub-enqueuedtime',
  deliveryCount: 'iothub-deliverycount',
  contentType: 'iothub-contenttype',
  contentEncoding: 'iothub-contentencoding',
  errorCode: 'iothub-errorcode',
  appPrefix: 'iothub-app-',
} as const;

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
export const OCTET_STREAM = 'application/octet-stream';

/** Header values as Node gives them (`IncomingHttpHeaders`) or as a plain map. */
export type HeaderBag = Record<string, string | string[] | number | undefined>;

// ---------------------------------------------------------------- safety

const HEADER_SAFE = /^[\x20-\x7e]*$/;
const TOKEN_CHAR = /[A-Za-z0-9!#$%&'*+\-.^_`|~]/;

/**
 * A header value that cannot break the header block: anything outside
 * printable ASCII (CR, LF, NUL, non-ASCII) is percent-encoded as UTF-8.
 * Values that passed validate.ts come out unchanged.
 */
export function safeHeaderValue(v: string): string {
  if (HEADER_SAFE.test(v)) return v;
  return v.replace(/[^\x20-\x7e]/gu, (c) => encodeURIComponent(c));
}

/** A header-name-safe form of a property name: token characters kept, every other UTF-8 byte as %XX. */
function safeHeaderName(name: string): string {
  let out = '';
  for (const c of name) {
    if (TOKEN_CHAR.test(c)) out += c;
    else for (const b of Buffer.from(c)) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** One header's value, looked up case-insensitively (the first when repeated). */
export function headerValue(headers: HeaderBag, name: string): string | undefined {
  const lower = name.toLowerCase();
  const v = headers[name] ?? headers[lower] ?? headers[Object.keys(headers).find((k) => k.toLowerCase() === lower) ?? ''];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v[0] : String(v);
}

// ---------------------------------------------------------------- lock tokens

/** `ETag` value for a lock token: quoted. */
export function formatEtag(token: string): string {
  return `"${token}"`;
}

/** The token inside an `ETag` / `If-Match` value, bare or quoted (weak `W/` prefix allowed). */
export function parseEtag(value: string): string {
  let v = value.trim();
  if (v.startsWith('W/')) v = v.slice(2);
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
  return v;
}

// ---------------------------------------------------------------- time

export function formatHttpTime(epochMs: number): string {
  return new Date(epochMs).toISOString();
}

/** ISO-8601, RFC 1123 or epoch milliseconds; undefined when unreadable. */
export function parseHttpTime(v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (/^\d+$/.test(v)) return Number(v);
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

// ---------------------------------------------------------------- messages

/** Response headers of a device GET that returns a message (200). */
export function encodeC2DHeaders(m: ReceivedMessage): Record<string, string> {
  const h: Record<string, string> = {
    [HTTP_HEADERS.etag]: formatEtag(safeHeaderValue(m.lockToken)),
    [HTTP_HEADERS.messageId]: safeHeaderValue(m.messageId),
    [HTTP_HEADERS.to]: safeHeaderValue(m.to),
    [HTTP_HEADERS.expiry]: formatHttpTime(m.expiryTimeUtc),
    [HTTP_HEADERS.sequenceNumber]: String(m.sequenceNumber),
    [HTTP_HEADERS.enqueuedTime]: formatHttpTime(m.enqueuedTimeUtc),
    [HTTP_HEADERS.deliveryCount]: String(m.deliveryCount),
    [HTTP_HEADERS.httpContentType]: safeHeaderValue(m.contentType ?? OCTET_STREAM),
  };
  const ack = deliveredAck(m);
  if (ack !== undefined) h[HTTP_HEADERS.ack] = ack;
  if (m.correlationId !== undefined) h[HTTP_HEADERS.correlationId] = safeHeaderValue(m.correlationId);
  if (m.userId !== undefined) h[HTTP_HEADERS.userId] = safeHeaderValue(m.userId);
  if (m.contentType !== undefined) h[HTTP_HEADERS.contentType] = safeHeaderValue(m.contentType);
  if (m.contentEncoding !== undefined) h[HTTP_HEADERS.contentEncoding] = safeHeaderValue(m.contentEncoding);
  return Object.assign(h, encodeAppProperties(m.properties));
}

/** Application properties as `iothub-app-{name}` headers (C2D responses, device-to-cloud requests). */
export function encodeAppProperties(properties: Properties): Record<string, string> {
  const h: Record<string, string> = {};
  for (const [k, v] of Object.entries(properties)) h[`${HTTP_HEADERS.appPrefix}${safeHeaderName(k)}`] = safeHeaderValue(v);
  return h;
}

/** `iothub-app-*` headers as application properties (names lower-cased, as HTTP delivers them). */
export function decodeAppProperties(headers: HeaderBag): Properties {
  const props: Properties = {};
  for (const [k, v] of Object.entries(headers)) {
    const name = k.toLowerCase();
    if (name.startsWith(HTTP_HEADERS.appPrefix) && name.length > HTTP_HEADERS.appPrefix.length && v !== undefined) {
      props[name.slice(HTTP_HEADERS.appPrefix.length)] = Array.isArray(v) ? v.join(', ') : String(v);
    }
  }
  return props;
}

/**
 * A device GET's 200 response as a received message; a header that is not
 * there leaves its field absent. `receivedAtMs + lockTimeoutMs` stands in for
 * the lock's end, which HTTP does not carry (the client passes its estimate).
 */
export function decodeC2DResponse(
  headers: HeaderBag,
  body: Buffer,
  context: { deviceId: string; receivedAtMs: number; lockTimeoutMs?: number },
): DeviceMessage {
  const etag = headerValue(headers, HTTP_HEADERS.etag);
  if (!etag) throw errors.invalid('The response has no ETag (lock token).');
  const ack = headerValue(headers, HTTP_HEADERS.ack);
  const ct = headerValue(headers, HTTP_HEADERS.contentType) ?? headerValue(headers, HTTP_HEADERS.httpContentType);
  const ce = headerValue(headers, HTTP_HEADERS.contentEncoding) ?? headerValue(headers, 'content-encoding');
  const m: DeviceMessage = {
    body,
    ack: isAckMode(ack) ? (ack as AckMode) : 'none',
    properties: decodeAppProperties(headers),
    deviceId: context.deviceId,
    lockToken: parseEtag(etag),
    lockedUntilUtc: context.receivedAtMs + (context.lockTimeoutMs ?? DEFAULT_LIMITS.lockTimeoutMs),
  };
  const text = (name: string): string | undefined => headerValue(headers, name);
  const count = (name: string): number | undefined => {
    const v = text(name);
    return v !== undefined && /^\d{1,15}$/.test(v.trim()) ? Number(v) : undefined;
  };
  const set = <K extends keyof DeviceMessage>(k: K, v: DeviceMessage[K] | undefined): void => {
    if (v !== undefined) m[k] = v;
  };
  set('messageId', text(HTTP_HEADERS.messageId));
  set('correlationId', text(HTTP_HEADERS.correlationId));
  set('userId', text(HTTP_HEADERS.userId));
  set('to', text(HTTP_HEADERS.to));
  set('expiryTimeUtc', parseHttpTime(text(HTTP_HEADERS.expiry)));
  set('sequenceNumber', count(HTTP_HEADERS.sequenceNumber));
  set('enqueuedTimeUtc', parseHttpTime(text(HTTP_HEADERS.enqueuedTime)));
  set('deliveryCount', count(HTTP_HEADERS.deliveryCount));
  if (ct !== undefined && ct !== OCTET_STREAM) m.contentType = ct;
  if (ce !== undefined) m.contentEncoding = ce;
  return m;
}

/**
 * The MQTT face of a C2D message, shared by the hub's MQTT server and our own
 * MQTT device client so that encode and decode cannot drift.
 * Sources: c2d-semantics.md §3, §3.1, §5.2; sdk-wire.md §3.
 *
 * Device-bound topic: `devices/{deviceId}/messages/devicebound/{bag}`, always
 * with the `/` after `devicebound` (the Node SDK's dispatch regex needs it) and
 * the bag as the 5th `/`-separated segment, so every `/` inside the bag is
 * percent-encoded. The bag is `key=value` pairs joined by `&`, each side
 * percent-encoded like a URL query (`$` as `%24`); a null value is written as
 * the bare key, an empty one as `key=`.
 *
 * `$.exp` carries the absolute expiry as an ISO-8601 UTC string
 * (`2026-01-01T01:00:00.000Z`). IoT Hub does not document the format; the SDKs
 * keep it as an opaque string (Node: `expiryTimeUtc` is the string), and the
 * Python SDK sends ISO-8601 on D2C, so ISO-8601 is what a human and every SDK
 * can read. The parser also accepts epoch milliseconds.
 */
import { errors } from '../errors';
import type { AckMode, Properties } from '../message';
import { isAckMode } from '../message';
import { setOwn } from './own';

/** System property keys of the bag, in the order the hub writes them. */
export const MQTT_SYSTEM_KEYS = {
  messageId: '$.mid',
  to: '$.to',
  expiryTimeUtc: '$.exp',
  correlationId: '$.cid',
  userId: '$.uid',
  contentType: '$.ct',
  contentEncoding: '$.ce',
} as const;
export type MqttSystemProperty = keyof typeof MQTT_SYSTEM_KEYS;
const SYSTEM_ORDER = Object.keys(MQTT_SYSTEM_KEYS) as MqttSystemProperty[];
const SYSTEM_BY_KEY = new Map<string, MqttSystemProperty>(SYSTEM_ORDER.map((p) => [MQTT_SYSTEM_KEYS[p], p]));

/** The feedback request travels as a plain key, without the `$.` prefix. */
export const MQTT_ACK_KEY = 'iothub-ack';

/** One bag entry; `null` is a key written without `=`. */
export type BagEntry = readonly [key: string, value: string | null];

/** What encodeURIComponent leaves as it is: such text needs no escaping (most ids and values). */
const UNRESERVED = /^[A-Za-z0-9\-_.!~*'()]*$/;

function encodePart(s: string, what: string): string {
  // Fast path on every delivery: encodeURIComponent always allocates a new string.
  if (UNRESERVED.test(s)) return s;
  try {
    // encodeURIComponent encodes `/ & = % $ + :` and spaces, and writes non-ASCII as UTF-8 escapes.
    return encodeURIComponent(s);
  } catch {
    throw errors.invalid(`The ${what} '${s}' is not valid Unicode text and cannot be put in an MQTT topic.`);
  }
}

function decodePart(s: string): string {
  if (!s.includes('%')) return s; // nothing escaped: decodeURIComponent would only copy it
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // tolerant: a stray `%` is kept as written
  }
}

/**
 * Bag keys, raw to encoded and encoded to decoded, as seen so far: the system keys and the
 * app's property names repeat on every message, and `$.mid` and its kin always need escaping
 * (`%24`). Bounded in count and key length: the hub parses topics from the network.
 */
const KEY_MEMO_MAX = 256;
const KEY_MEMO_MAX_CHARS = 64;
const encodedKeys = new Map<string, string>();
const decodedKeys = new Map<string, string>();

function memoized(memo: Map<string, string>, s: string, convert: (s: string) => string): string {
  const known = memo.get(s);
  if (known !== undefined) return known;
  const converted = convert(s);
  if (memo.size < KEY_MEMO_MAX && s.length <= KEY_MEMO_MAX_CHARS) memo.set(s, converted);
  return converted;
}

const encodeKeyText = (key: string): string => encodePart(key, 'property name');
const encodeKey = (key: string): string => memoized(encodedKeys, key, encodeKeyText);
const decodeKey = (s: string): string => memoized(decodedKeys, s, decodePart);

/** `k1=v1&k2&k3=` from entries; throws 400004 for an empty key or text that is not valid Unicode. */
export function encodePropertyBag(entries: Iterable<BagEntry>): string {
  let bag = '';
  for (const [key, value] of entries) {
    if (key === '') throw errors.invalid('A property name must not be empty.');
    const k = encodeKey(key);
    const part = value === null ? k : `${k}=${encodePart(value, 'property value')}`;
    bag = bag === '' ? part : `${bag}&${part}`;
  }
  return bag;
}

/**
 * Decodes a bag leniently: empty segments are skipped; `$` or `%24` both work; bad escapes stay as written.
 * (One pass with indexOf, no intermediate arrays: a device runs this on every message.)
 */
export function parsePropertyBag(bag: string): BagEntry[] {
  const entries: BagEntry[] = [];
  for (let start = 0; start < bag.length;) {
    let end = bag.indexOf('&', start);
    if (end < 0) end = bag.length;
    if (end > start) {
      const eq = bag.indexOf('=', start);
      entries.push(eq < 0 || eq > end ? [decodeKey(bag.slice(start, end)), null] : [decodeKey(bag.slice(start, eq)), decodePart(bag.slice(eq + 1, end))]);
    }
    start = end + 1;
  }
  return entries;
}

/** The system and application properties a device-bound topic carries. */
export interface MqttMessageProperties {
  messageId?: string;
  to?: string;
  /** Epoch milliseconds. */
  expiryTimeUtc?: number;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  ack?: AckMode;
  properties?: Properties;
}

/** 9999-12-31T23:59:59.999Z: up to here toISOString writes a four-digit year, as the cached prefix assumes. */
const MAX_FOUR_DIGIT_YEAR_MS = 253402300799999;

/** The last whole second formatExpiry wrote, as `2026-01-01T01:00:00.` (messages sent together share it). */
let expirySecond = { ms: NaN, prefix: '' };

/** `$.exp` value for an epoch-milliseconds expiry. */
export function formatExpiry(ms: number): string {
  // toISOString is the dearest part of a topic's encoding; only the milliseconds change between
  // the messages sent in one second, so the rest is written once per second.
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_FOUR_DIGIT_YEAR_MS) return new Date(ms).toISOString();
  const milli = ms % 1000;
  const second = ms - milli;
  if (second !== expirySecond.ms) expirySecond = { ms: second, prefix: new Date(second).toISOString().slice(0, 20) };
  return `${expirySecond.prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/** Reads `$.exp` as ISO-8601 or epoch milliseconds; undefined when it is neither. */
export function parseExpiry(value: string): number | undefined {
  if (/^\d{1,16}$/.test(value)) return Number(value);
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** Bag entries in the hub's order: system keys, then `iothub-ack`, then application properties. */
export function messageBagEntries(m: MqttMessageProperties): BagEntry[] {
  // Field by field in SYSTEM_ORDER, not m[key] in a loop: this runs per delivery, and a
  // loop of keyed reads over seven names is a megamorphic lookup each time.
  const entries: BagEntry[] = [];
  const K = MQTT_SYSTEM_KEYS;
  if (m.messageId !== undefined) entries.push([K.messageId, m.messageId]);
  if (m.to !== undefined) entries.push([K.to, m.to]);
  if (m.expiryTimeUtc !== undefined) entries.push([K.expiryTimeUtc, formatExpiry(m.expiryTimeUtc)]);
  if (m.correlationId !== undefined) entries.push([K.correlationId, m.correlationId]);
  if (m.userId !== undefined) entries.push([K.userId, m.userId]);
  if (m.contentType !== undefined) entries.push([K.contentType, m.contentType]);
  if (m.contentEncoding !== undefined) entries.push([K.contentEncoding, m.contentEncoding]);
  if (m.ack !== undefined) entries.push([MQTT_ACK_KEY, m.ack]);
  for (const [k, v] of Object.entries(m.properties ?? {})) entries.push([k, v]);
  return entries;
}

/** Splits decoded bag entries back into system properties, `iothub-ack` and application properties. */
export function messageFromBag(entries: readonly BagEntry[]): MqttMessageProperties & { properties: Properties } {
  const out: MqttMessageProperties & { properties: Properties } = { properties: {} };
  for (const [key, value] of entries) {
    const sys = SYSTEM_BY_KEY.get(key);
    if (sys === 'expiryTimeUtc') {
      const ms = value === null ? undefined : parseExpiry(value);
      if (ms !== undefined) out.expiryTimeUtc = ms;
    } else if (sys !== undefined) {
      if (value !== null) out[sys] = value;
    } else if (key === MQTT_ACK_KEY && isAckMode(value)) {
      out.ack = value;
    } else {
      setOwn(out.properties, key, value ?? '');
    }
  }
  return out;
}

// ---------------------------------------------------------------- topics

const DEVICES = 'devices';
const MESSAGES = 'messages';
const DEVICE_BOUND = 'devicebound';
const EVENTS = 'events';
const TOPIC_HEAD = `${DEVICES}/`;

/** The one filter a device may subscribe to for C2D. */
export function deviceBoundFilter(deviceId: string): string {
  return `${DEVICES}/${deviceId}/${MESSAGES}/${DEVICE_BOUND}/#`;
}

/** `devices/{id}/messages/devicebound/{bag}`; the trailing `/` is always there. */
export function deviceBoundTopic(deviceId: string, m: MqttMessageProperties): string {
  return `${DEVICES}/${deviceId}/${MESSAGES}/${DEVICE_BOUND}/${encodePropertyBag(messageBagEntries(m))}`;
}

/** `devices/{id}/messages/events/{bag}`, what a device publishes for device-to-cloud. */
export function deviceToCloudTopic(deviceId: string, entries: Iterable<BagEntry> = []): string {
  return `${DEVICES}/${deviceId}/${MESSAGES}/${EVENTS}/${encodePropertyBag(entries)}`;
}

export interface ParsedTopic {
  deviceId: string;
  /** Decoded bag entries, in topic order. */
  entries: BagEntry[];
}

/**
 * Matches `devices/{id}/messages/{kind}[/{bag}]`. The device id is raw (the SDKs
 * do not encode it in topics); a bag holding a raw `/` is taken whole.
 */
const DEVICE_BOUND_MIDDLE = `/${MESSAGES}/${DEVICE_BOUND}`;
const EVENTS_MIDDLE = `/${MESSAGES}/${EVENTS}`;

function parseMessagesTopic(topic: string, middle: string): ParsedTopic | undefined {
  // `devices/` {id} `/messages/` {kind} [`/` {bag}], matched by position rather than by split():
  // this runs on every message a device receives.
  const head = TOPIC_HEAD;
  if (!topic.startsWith(head)) return undefined;
  const idEnd = topic.indexOf('/', head.length);
  if (idEnd <= head.length) return undefined;
  if (!topic.startsWith(middle, idEnd)) return undefined;
  const after = idEnd + middle.length;
  if (after < topic.length && topic[after] !== '/') return undefined;
  return { deviceId: topic.slice(head.length, idEnd), entries: parsePropertyBag(after < topic.length ? topic.slice(after + 1) : '') };
}

/** Parses a device-bound topic; undefined when the topic is not one. */
export function parseDeviceBoundTopic(topic: string): (ParsedTopic & { message: MqttMessageProperties & { properties: Properties } }) | undefined {
  const t = parseMessagesTopic(topic, DEVICE_BOUND_MIDDLE);
  return t && { deviceId: t.deviceId, entries: t.entries, message: messageFromBag(t.entries) };
}

/** Parses a D2C topic (`devices/{id}/messages/events[/{bag}]`); undefined when the topic is not one. */
export function parseDeviceToCloudTopic(topic: string): ParsedTopic | undefined {
  return parseMessagesTopic(topic, EVENTS_MIDDLE);
}

export * from './mqtt-username';

/**
 * IoT Hub's C2D limits and defaults, defined once. Every module that needs a
 * number imports it from here; a hub may override them through `HubLimits`.
 * Source: c2d-semantics.md §2 (IoT Hub docs, quotas and c2d dev guide).
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Hard bounds that IoT Hub enforces; a hub's settings must stay inside them. */
export const BOUNDS = {
  /** TTL and feedback TTL may be set from 1 minute to 2 days. */
  minTtlMs: MINUTE,
  maxTtlMs: 2 * DAY,
  /** maxDeliveryCount and feedback maxDeliveryCount: 1..100. */
  minDeliveryCount: 1,
  maxDeliveryCount: 100,
  /** Feedback lock duration: 5..300 s. */
  minFeedbackLockMs: 5 * SECOND,
  maxFeedbackLockMs: 300 * SECOND,
  /** Ids (device, message, correlation) are at most 128 characters. */
  maxIdLength: 128,
  /** Registry list returns at most 1000 devices per call. */
  maxListDevices: 1000,
  /** Devices one bulk registry request (`POST /devices`) may create, update or delete. */
  maxBulkDevices: 100,
} as const;

/** Per-hub settings with IoT Hub's defaults. All durations are milliseconds. */
export interface HubLimits {
  /** Pending (Enqueued + Invisible) messages per device; the next send fails 403004. */
  maxQueueDepth: number;
  /** Body + system property values + application property names and values, bytes; over it 413001. */
  maxMessageBytes: number;
  /** cloudToDevice.defaultTtlAsIso8601 (PT1H). */
  defaultTtlMs: number;
  /** Largest TTL a sender may ask for (2 days). */
  maxTtlMs: number;
  /** cloudToDevice.maxDeliveryCount (10, range 1..100). */
  maxDeliveryCount: number;
  /** Lock (visibility) timeout of a received message: fixed at 60 s on IoT Hub. */
  lockTimeoutMs: number;
  /**
   * Whether a lock expiry counts as a delivery attempt. The current IoT Hub docs
   * (2026-02) say only an explicit abandon increments the delivery count; older
   * docs counted every Enqueued -> Invisible transition.
   */
  lockExpiryCountsAsDelivery: boolean;
  /** feedback.ttlAsIso8601 (PT1H). */
  feedbackTtlMs: number;
  /** feedback.maxDeliveryCount (10). */
  feedbackMaxDeliveryCount: number;
  /** feedback.lockDurationAsIso8601 (60 s, 5..300 s). */
  feedbackLockMs: number;
  /** A feedback batch is flushed at this many records... */
  feedbackBatchMaxRecords: number;
  /** ...or this long after the previous flush, whichever comes first (15 s). */
  feedbackBatchWindowMs: number;
  /** C2D sends per second per hub before 429001 (0 = unlimited). */
  maxSendsPerSecond: number;
  /** Concurrent connections per hub (0 = unlimited). */
  maxConnections: number;
  /**
   * How long a dead-lettered message (rejected, expired, too many deliveries) is kept for
   * inspection and requeue (24 h). 0 = IoT Hub's behaviour: dropped at once.
   */
  deadLetterTtlMs: number;
  /** Dead letters kept per device, the oldest dropped first (100). 0 = dropped at once. */
  deadLetterMaxPerDevice: number;
  /** Lifecycle events the hub remembers for `trace(messageId)`, hub-wide, the oldest dropped first (10,000). 0 = no trace. */
  traceMaxEvents: number;
  /** How long a lifecycle event stays readable through `trace` (24 h). */
  traceTtlMs: number;
}

export const DEFAULT_LIMITS: Readonly<HubLimits> = Object.freeze({
  maxQueueDepth: 50,
  maxMessageBytes: 64 * 1024,
  defaultTtlMs: HOUR,
  maxTtlMs: 2 * DAY,
  maxDeliveryCount: 10,
  lockTimeoutMs: MINUTE,
  lockExpiryCountsAsDelivery: false,
  feedbackTtlMs: HOUR,
  feedbackMaxDeliveryCount: 10,
  feedbackLockMs: MINUTE,
  feedbackBatchMaxRecords: 64,
  feedbackBatchWindowMs: 15 * SECOND,
  maxSendsPerSecond: 0,
  maxConnections: 0,
  deadLetterTtlMs: DAY,
  deadLetterMaxPerDevice: 100,
  traceMaxEvents: 10_000,
  traceTtlMs: DAY,
});

/** Wire-level size bounds, checked before anything is parsed. */
export const WIRE_LIMITS = {
  /** Largest AMQP frame the hub accepts (a 64 KB message plus headroom). */
  amqpMaxFrameBytes: 256 * 1024,
  /** Largest MQTT packet the hub accepts. */
  mqttMaxPacketBytes: 256 * 1024,
  /** Largest HTTP request body (registry JSON, D2C). */
  httpMaxBodyBytes: 256 * 1024,
  /** Largest total size of HTTP request headers. */
  httpMaxHeaderBytes: 16 * 1024,
  /** Seconds a new connection may take to authenticate before it is dropped. */
  authTimeoutMs: 30 * SECOND,
} as const;

/**
 * IoT Hub's guidance for HTTPS C2D: devices poll no more often than every 25
 * minutes, or they are throttled (c2d-semantics.md §2.1; troubleshooting
 * guide, 403004). The clients default to it for an Azure host and warn below it.
 */
export const IOT_HUB_HTTP_MIN_POLL_MS = 25 * MINUTE;

/** HTTPS polling interval against the embedded hub (as the Node SDK's 1 s). */
export const LOCAL_HTTP_POLL_MS = SECOND;

/** Default ports, as IoT Hub's. */
export const DEFAULT_PORTS = {
  amqps: 5671,
  mqtts: 8883,
  https: 443,
} as const;

/** Path of the WebSocket endpoint for AMQP-WS and MQTT-WS. */
export const WEBSOCKET_PATH = '/$iothub/websocket';
export const WS_SUBPROTOCOL_AMQP = 'AMQPWSB10';
export const WS_SUBPROTOCOL_MQTT = 'mqtt';

/** Default REST api-version the clients send (what the Node SDKs send). */
export const API_VERSION = '2021-04-12';

/** Checks a limits object against IoT Hub's bounds; returns a list of problems. */
export function validateLimits(l: HubLimits): string[] {
  const problems: string[] = [];
  const intIn = (name: keyof HubLimits, lo: number, hi: number): void => {
    const v = l[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      problems.push(`${name} must be an integer from ${lo} to ${hi} (got ${String(v)})`);
    }
  };
  intIn('maxQueueDepth', 1, 100_000);
  intIn('maxMessageBytes', 1, 16 * 1024 * 1024);
  intIn('defaultTtlMs', BOUNDS.minTtlMs, BOUNDS.maxTtlMs);
  intIn('maxTtlMs', BOUNDS.minTtlMs, BOUNDS.maxTtlMs);
  intIn('maxDeliveryCount', BOUNDS.minDeliveryCount, BOUNDS.maxDeliveryCount);
  intIn('lockTimeoutMs', 1, 24 * HOUR);
  intIn('feedbackTtlMs', BOUNDS.minTtlMs, BOUNDS.maxTtlMs);
  intIn('feedbackMaxDeliveryCount', BOUNDS.minDeliveryCount, BOUNDS.maxDeliveryCount);
  intIn('feedbackLockMs', BOUNDS.minFeedbackLockMs, BOUNDS.maxFeedbackLockMs);
  intIn('feedbackBatchMaxRecords', 1, 64);
  intIn('feedbackBatchWindowMs', 0, 15 * SECOND);
  intIn('maxSendsPerSecond', 0, 1_000_000);
  intIn('maxConnections', 0, 10_000_000);
  intIn('deadLetterTtlMs', 0, 30 * DAY);
  intIn('deadLetterMaxPerDevice', 0, 10_000);
  intIn('traceMaxEvents', 0, 1_000_000);
  intIn('traceTtlMs', 0, 30 * DAY);
  if (typeof l.lockExpiryCountsAsDelivery !== 'boolean') problems.push('lockExpiryCountsAsDelivery must be a boolean');
  if (l.defaultTtlMs > l.maxTtlMs) problems.push('defaultTtlMs must not exceed maxTtlMs');
  return problems;
}

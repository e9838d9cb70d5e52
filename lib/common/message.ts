/**
 * The message model shared by the hub and the clients.
 * Names follow IoT Hub's (c2d-semantics.md §3, §4).
 */

/** `iothub-ack`: which outcomes produce a feedback record. */
export type AckMode = 'none' | 'positive' | 'negative' | 'full';
export const ACK_MODES: readonly AckMode[] = ['none', 'positive', 'negative', 'full'];

export function isAckMode(v: unknown): v is AckMode {
  return typeof v === 'string' && (ACK_MODES as readonly string[]).includes(v);
}

/** Application properties: string names and string values (IoT Hub allows ASCII text only). */
export type Properties = Record<string, string>;

/** What a backend asks the hub to deliver. */
export interface OutgoingMessage {
  body: Buffer;
  messageId?: string;
  correlationId?: string;
  userId?: string;
  /** Absolute expiry, epoch milliseconds. Absent: the hub's default TTL applies. */
  expiryTimeUtc?: number;
  ack?: AckMode;
  contentType?: string;
  contentEncoding?: string;
  properties?: Properties;
}

/** A C2D message as the hub stores it and delivers it. */
export interface C2DMessage {
  body: Buffer;
  messageId: string;
  correlationId?: string;
  userId?: string;
  /** `/devices/{deviceId}/messages/devicebound`. */
  to: string;
  /** Epoch milliseconds. */
  expiryTimeUtc: number;
  /** The feedback the hub gives: what the sender asked for, `none` when it asked for nothing. */
  ack: AckMode;
  /**
   * The sender set `ack` itself. IoT Hub writes `iothub-ack` on a delivery
   * only then (deliveredAck); absent on messages stored before the flag existed.
   */
  ackSetBySender?: true;
  contentType?: string;
  contentEncoding?: string;
  properties: Properties;
  // hub-side facts
  deviceId: string;
  /** Unique and increasing within one device queue. */
  sequenceNumber: number;
  /** Epoch milliseconds. */
  enqueuedTimeUtc: number;
  /** Times the message was handed out before this delivery (0 on first delivery). */
  deliveryCount: number;
}

/**
 * The `iothub-ack` a delivery carries on every transport: the sender's, or
 * none at all when the sender set none. A mode other than `none` can only
 * have come from the sender, which also covers messages stored without the flag.
 */
export function deliveredAck(m: Pick<C2DMessage, 'ack' | 'ackSetBySender'>): AckMode | undefined {
  return m.ackSetBySender || m.ack !== 'none' ? m.ack : undefined;
}

/** A message handed to a device, locked until `lockedUntilUtc`. */
export interface ReceivedMessage extends C2DMessage {
  lockToken: string;
  lockedUntilUtc: number;
}

/**
 * A C2D message as a device client reads it: only what its transport
 * carried, nothing made up. MQTT's topic carries no sequence number, enqueued
 * time or delivery count (c2d-semantics.md §3), so over MQTT those are absent
 * (undefined), not 0 or 1970; any field a hub leaves out is absent the same
 * way. A hub's ReceivedMessage, with every field, is one too (in-process).
 */
export interface DeviceMessage {
  body: Buffer;
  /** The receiving device (the client's own identity). */
  deviceId: string;
  lockToken: string;
  /**
   * When the client takes the lock for lost: its estimate, counted from the
   * message's arrival and erring early (DeviceClient's `lockTimeoutMs`).
   */
  lockedUntilUtc: number;
  properties: Properties;
  /** The feedback asked for; `none` when the message carries no `iothub-ack` (IoT Hub's default). */
  ack: AckMode;
  messageId?: string;
  correlationId?: string;
  userId?: string;
  to?: string;
  /** Epoch milliseconds. */
  expiryTimeUtc?: number;
  contentType?: string;
  contentEncoding?: string;
  sequenceNumber?: number;
  /** Epoch milliseconds. */
  enqueuedTimeUtc?: number;
  /** Times the message was handed out before this delivery. */
  deliveryCount?: number;
}

/** How a device settles a received message. */
export type Settlement = 'complete' | 'reject' | 'abandon';
export const SETTLEMENTS: readonly Settlement[] = ['complete', 'reject', 'abandon'];

/** Feedback `statusCode` values (c2d-semantics.md §4.2). */
export type FeedbackStatusCode = 'Success' | 'Expired' | 'DeliveryCountExceeded' | 'Rejected' | 'Purged';

/** The `description` text that goes with each status code. */
export const FEEDBACK_DESCRIPTIONS: Readonly<Record<FeedbackStatusCode, string>> = {
  Success: 'Success',
  Rejected: 'Message rejected',
  Expired: 'Message expired',
  DeliveryCountExceeded: 'Message delivery count exceeded',
  Purged: 'Message purged',
};

/** Which ack modes ask for a record with this status code. */
export function ackWants(ack: AckMode, status: FeedbackStatusCode): boolean {
  if (ack === 'full') return true;
  if (ack === 'positive') return status === 'Success';
  if (ack === 'negative') return status !== 'Success';
  return false;
}

/** One feedback record, in IoT Hub's JSON shape (camelCase, string status). */
export interface FeedbackRecord {
  originalMessageId: string;
  deviceId: string;
  deviceGenerationId: string;
  /** ISO-8601 time at which the outcome happened. */
  enqueuedTimeUtc: string;
  statusCode: FeedbackStatusCode;
  description: string;
}

/** A batch of feedback records as one message on the feedback queue. */
export interface FeedbackBatch {
  records: FeedbackRecord[];
  /** Epoch milliseconds at which the batch was created. */
  enqueuedTimeUtc: number;
  /** Hub name (AMQP user-id of the feedback message). */
  userId: string;
}

/** A feedback batch handed to a backend, locked until settled or timed out. */
export interface ReceivedFeedbackBatch extends FeedbackBatch {
  lockToken: string;
  lockedUntilUtc: number;
  deliveryCount: number;
}

export const FEEDBACK_CONTENT_TYPE = 'application/vnd.microsoft.iothub.feedback.json';

/** The `to` address of a C2D message, as IoT Hub sets it. */
export function deviceBoundAddress(deviceId: string): string {
  return `/devices/${encodeURIComponent(deviceId)}/messages/devicebound`;
}

/**
 * Size as IoT Hub measures it: body bytes + bytes of the system property
 * values + bytes of application property names and values (c2d-semantics.md §2).
 */
export function messageSize(m: OutgoingMessage): number {
  let n = m.body.length;
  for (const v of [m.messageId, m.correlationId, m.userId, m.contentType, m.contentEncoding, m.ack]) {
    if (v !== undefined) n += Buffer.byteLength(v);
  }
  if (m.expiryTimeUtc !== undefined) n += 8;
  for (const [k, v] of Object.entries(m.properties ?? {})) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

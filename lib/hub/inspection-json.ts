/**
 * The inspection API's results (peek, dead letters, requeue, trace) as plain
 * data for the two surfaces that hand them out: the HTTPS routes under /c2d
 * (JSON, bodies base64) and the c2d-hub node's msg.payload (bodies as
 * Buffers, Node-RED's binary type). Times become ISO-8601 strings, as in
 * IoT Hub's JSON and the c2d-receive node's msg.
 */
import type { DeadLetterView, FaultScheduled, MessageView, Page, PendingMessageView, SendResult, TraceEntry } from './api';

/** How a body is handed out: `base64` in JSON, `buffer` in a Node-RED msg. */
export type BodyEncoding = 'base64' | 'buffer';

const iso = (ms: number): string => new Date(ms).toISOString();

type Json = Record<string, unknown>;

function messageJson(v: MessageView, body: BodyEncoding): Json {
  const { enqueuedTimeUtc, expiryTimeUtc, body: bytes, ...rest } = v;
  return {
    ...rest,
    enqueuedTimeUtc: iso(enqueuedTimeUtc),
    expiryTimeUtc: iso(expiryTimeUtc),
    ...(bytes !== undefined ? { body: body === 'base64' ? bytes.toString('base64') : bytes } : {}),
  };
}

export function pendingJson(v: PendingMessageView, body: BodyEncoding): Json {
  const { lockedUntilUtc, ...rest } = v;
  return { ...messageJson(rest, body), ...(lockedUntilUtc !== undefined ? { lockedUntilUtc: iso(lockedUntilUtc) } : {}) };
}

export function deadLetterJson(v: DeadLetterView, body: BodyEncoding): Json {
  const { deadLetteredTimeUtc, ...rest } = v;
  return { ...messageJson(rest, body), deadLetteredTimeUtc: iso(deadLetteredTimeUtc) };
}

export function deadLetterPageJson(p: Page<DeadLetterView>, body: BodyEncoding): { total: number; items: Json[] } {
  // total first: it is what a person reads first in the debug sidebar.
  return { total: p.total, items: p.items.map((d) => deadLetterJson(d, body)) };
}

export function traceJson(entries: TraceEntry[]): Json[] {
  return entries.map((e) => ({ ...e, time: iso(e.time) }));
}

export function requeuedJson(deviceId: string, r: SendResult): Json {
  return { deviceId, messageId: r.messageId, sequenceNumber: r.sequenceNumber, enqueuedTimeUtc: iso(r.enqueuedTimeUtc) };
}

/** A scheduled fault (HubApi.injectFault) with its times as ISO-8601 strings. */
export function faultJson(f: FaultScheduled): Json {
  const { dueTimeUtc, untilUtc, ...rest } = f;
  return { ...rest, dueTimeUtc: iso(dueTimeUtc), ...(untilUtc !== undefined ? { untilUtc: iso(untilUtc) } : {}) };
}

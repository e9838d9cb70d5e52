/**
 * What the sidebar's read routes answer, built from a hub's inspection API:
 * the summary, a page of device rows, one device's queue and dead letters.
 * Plain JSON with no key, token or connection string in it: these go to
 * every user who may read (c2d.read).
 */
import { errors } from '../../lib/common/errors';
import { BOUNDS } from '../../lib/common/limits';
import type { DeadLetterView, HubApi, MessageView, PendingMessageView, TransportName } from '../../lib/hub/api';
import type { LiveHub, RateHistory } from './live';

/** Bytes of a body shown in the device view; the rest is cut. */
export const BODY_PREVIEW_BYTES = 1024;
/** Most device rows per page, and per dead-letter page. */
export const MAX_PAGE = 500;

export interface DeviceRow {
  deviceId: string;
  status: 'enabled' | 'disabled';
  /** The transports the device is connected over now; empty: offline. */
  connections: TransportName[];
  /** Pending messages (Enqueued + Invisible), as IoT Hub's cloudToDeviceMessageCount. */
  pending: number;
  /** Of those, locked to a receiver (Invisible). */
  locked: number;
  deadLetters: number;
  /** Epoch ms; undefined when the hub has not seen the device since it started. */
  lastActivityUtc?: number;
}

export interface BodyPreview {
  encoding: 'utf8' | 'base64';
  text: string;
  /** The whole body's length in bytes (the preview may be cut). */
  bytes: number;
  truncated: boolean;
}

export type MessageRow<T extends MessageView> = Omit<T, 'body'> & { body?: BodyPreview };

/** The hub's counts, as the summary and every live update show them. */
export interface HubCounts {
  devices: number;
  connectedDevices: number;
  queued: number;
  locked: number;
  deadLetters: number;
  feedbackPending: number;
  feedbackBatches: number;
}

export function countsOf(hub: HubApi): HubCounts {
  const s = hub.stats();
  return {
    devices: s.devices,
    connectedDevices: s.connectedDevices,
    queued: s.queued,
    locked: s.locked,
    deadLetters: s.deadLetters,
    feedbackPending: s.feedbackPending,
    feedbackBatches: s.feedbackBatches,
  };
}

export interface Summary extends HubCounts {
  id: string;
  hubName: string;
  /** Epoch ms: the hub's clock, so the editor can count lock times down against it. */
  now: number;
  ports: Record<string, number>;
  limits: { maxQueueDepth: number; lockTimeoutMs: number; maxDeliveryCount: number; deadLetterTtlMs: number; deadLetterMaxPerDevice: number };
  rates: RateHistory;
}

export function summaryOf(id: string, hub: HubApi, ports: Record<string, number>, live: LiveHub | undefined, now: number): Summary {
  const l = hub.limits;
  return {
    id,
    hubName: hub.hubName,
    now,
    ports,
    ...countsOf(hub),
    limits: {
      maxQueueDepth: l.maxQueueDepth,
      lockTimeoutMs: l.lockTimeoutMs,
      maxDeliveryCount: l.maxDeliveryCount,
      deadLetterTtlMs: l.deadLetterTtlMs,
      deadLetterMaxPerDevice: l.deadLetterMaxPerDevice,
    },
    rates: live?.rates() ?? { endSecond: Math.floor(now / 1000) - 1, in: [], out: [] },
  };
}

/** 404001 for a device the hub does not know. */
export function deviceRow(hub: HubApi, deviceId: string, live: LiveHub | undefined): DeviceRow {
  const d = hub.registry.getDevice(deviceId);
  if (!d) throw errors.notFound(`Device '${deviceId}' is not registered.`);
  const queue = hub.peek(deviceId);
  const seen = [live?.lastActivity(deviceId), Date.parse(d.lastActivityTime)].filter((t): t is number => typeof t === 'number' && Number.isFinite(t) && t > 0);
  return {
    deviceId,
    status: d.status,
    connections: hub.connectionsOf(deviceId),
    pending: queue.length,
    locked: queue.filter((m) => m.state === 'Invisible').length,
    deadLetters: hub.deadLetters({ deviceId, limit: 1 }).total,
    ...(seen.length > 0 ? { lastActivityUtc: Math.max(...seen) } : {}),
  };
}

export interface PageQuery {
  offset: number;
  limit: number;
  /** Case-insensitive part of the device id. */
  filter: string;
}

/** Reads offset, limit and filter from a query string; 400004 for anything else than what the routes take. */
export function pageQuery(q: Record<string, unknown>, defaultLimit: number): PageQuery {
  const int = (name: string, v: unknown, dflt: number, lo: number, hi: number): number => {
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (typeof v !== 'string' || !Number.isInteger(n) || n < lo || n > hi) throw errors.invalid(`${name} must be a whole number from ${lo} to ${hi}.`);
    return n;
  };
  const filter = q.filter === undefined ? '' : q.filter;
  if (typeof filter !== 'string' || filter.length > BOUNDS.maxIdLength)
    throw errors.invalid(`filter must be text of at most ${BOUNDS.maxIdLength} characters.`);
  return { offset: int('offset', q.offset, 0, 0, Number.MAX_SAFE_INTEGER), limit: int('limit', q.limit, defaultLimit, 1, MAX_PAGE), filter };
}

/**
 * One page of devices in id order, filtered by id. Only the rows on the page
 * are built (their queues peeked), so a hub of 10,000 devices answers as
 * quickly as one of a hundred.
 */
export function devicePage(hub: HubApi, q: PageQuery, live: LiveHub | undefined): { total: number; offset: number; items: DeviceRow[] } {
  const needle = q.filter.toLowerCase();
  const ids = hub.registry.deviceIds().filter((id) => needle === '' || id.toLowerCase().includes(needle));
  ids.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { total: ids.length, offset: q.offset, items: ids.slice(q.offset, q.offset + q.limit).map((id) => deviceRow(hub, id, live)) };
}

/** No control characters but tab and line breaks, and no bytes that are not UTF-8 (U+FFFD). */
function readsAsText(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0xfffd) return false;
  }
  return true;
}

export function bodyPreview(body: Buffer): BodyPreview {
  const cut = body.subarray(0, BODY_PREVIEW_BYTES);
  const text = cut.toString('utf8');
  // A cut through a multi-byte character leaves one U+FFFD at the end: still text.
  return readsAsText(text.replace(/\ufffd$/, ''))
    ? { encoding: 'utf8', text, bytes: body.length, truncated: body.length > cut.length }
    : { encoding: 'base64', text: cut.toString('base64'), bytes: body.length, truncated: body.length > cut.length };
}

function withPreview<T extends MessageView>(m: T): MessageRow<T> {
  const { body, ...rest } = m;
  return body ? { ...rest, body: bodyPreview(body) } : rest;
}

export interface DeviceDetail extends DeviceRow {
  authenticationType: string;
  statusReason: string | null;
  /** Epoch ms, the hub's clock (lock countdowns). */
  now: number;
  queue: Array<MessageRow<PendingMessageView>>;
  deadLetterPage: { total: number; offset: number; items: Array<MessageRow<DeadLetterView>> };
}

export function deviceDetail(
  hub: HubApi,
  deviceId: string,
  live: LiveHub | undefined,
  deadLetters: { offset: number; limit: number },
  now: number,
): DeviceDetail {
  const row = deviceRow(hub, deviceId, live);
  const d = hub.registry.getDevice(deviceId)!;
  const page = hub.deadLetters({ deviceId, offset: deadLetters.offset, limit: deadLetters.limit, includeBody: true });
  return {
    ...row,
    authenticationType: d.authentication.type,
    statusReason: d.statusReason,
    now,
    queue: hub.peek(deviceId, { includeBody: true }).map(withPreview),
    deadLetterPage: { total: page.total, offset: deadLetters.offset, items: page.items.map(withPreview) },
  };
}

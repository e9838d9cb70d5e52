/**
 * IoT Hub's REST paths (c2d-semantics.md §5.3, §7; sdk-wire.md §4, §5.2), built
 * by our HTTP clients and parsed by the hub, from one table.
 *
 * Parsing rules: every segment is URL-decoded (device ids arrive encoded),
 * literal segments match case-insensitively (`devicebound` from Node,
 * `deviceBound` from C# and the REST docs), a trailing slash is ignored, and
 * the query string is not part of the route (`api-version` is accepted and
 * ignored, as are unknown parameters).
 */
import { errors } from '../errors';
import { API_VERSION } from '../limits';

export type HubRoute =
  /** GET receive. */
  | { kind: 'deviceBound'; deviceId: string }
  /** DELETE complete (reject with the `reject` flag). */
  | { kind: 'deviceBoundLock'; deviceId: string; lockToken: string }
  /** POST abandon. */
  | { kind: 'deviceBoundAbandon'; deviceId: string; lockToken: string }
  /** POST device-to-cloud. */
  | { kind: 'deviceEvents'; deviceId: string }
  /** PUT, GET, DELETE one device identity. */
  | { kind: 'device'; deviceId: string }
  /** GET the device list. */
  | { kind: 'devices' }
  /** DELETE purges the device's queue. */
  | { kind: 'deviceCommands'; deviceId: string }
  /** GET a feedback batch. */
  | { kind: 'feedback' }
  /** DELETE completes a feedback batch (reject with the `reject` flag). */
  | { kind: 'feedbackLock'; lockToken: string }
  /** POST abandons a feedback batch. */
  | { kind: 'feedbackAbandon'; lockToken: string }
  // This hub's inspection routes, under INSPECTION_PREFIX (IoT Hub has none of them).
  /** GET the hub's counts. */
  | { kind: 'c2dStats' }
  /** GET peeks the device's pending messages. */
  | { kind: 'c2dQueue'; deviceId: string }
  /** DELETE cancels the pending message(s) with this messageId. */
  | { kind: 'c2dQueueMessage'; deviceId: string; messageId: string }
  /** GET the kept dead letters of every device. */
  | { kind: 'c2dDeadLetters' }
  /** GET the kept dead letters of one device. */
  | { kind: 'c2dDeviceDeadLetters'; deviceId: string }
  /** DELETE drops one dead letter (by sequence number, as written in the path). */
  | { kind: 'c2dDeadLetter'; deviceId: string; sequenceNumber: string }
  /** POST sends one dead letter again. */
  | { kind: 'c2dDeadLetterRequeue'; deviceId: string; sequenceNumber: string }
  /** GET the recent life of a message id. */
  | { kind: 'c2dTrace'; messageId: string }
  | { kind: 'c2dFault'; deviceId: string };

export type HubRouteKind = HubRoute['kind'];

const enc = encodeURIComponent;

/** Where the inspection routes live: a path IoT Hub does not use. */
export const INSPECTION_PREFIX = '/c2d';

/** Paths (with `?api-version=`) as the clients send them. */
export const hubPaths = {
  deviceBound: (deviceId: string) => withVersion(`/devices/${enc(deviceId)}/messages/devicebound`),
  deviceBoundLock: (deviceId: string, lockToken: string, reject = false) =>
    withVersion(`/devices/${enc(deviceId)}/messages/devicebound/${enc(lockToken)}`) + (reject ? '&reject' : ''),
  deviceBoundAbandon: (deviceId: string, lockToken: string) => withVersion(`/devices/${enc(deviceId)}/messages/devicebound/${enc(lockToken)}/abandon`),
  deviceEvents: (deviceId: string) => withVersion(`/devices/${enc(deviceId)}/messages/events`),
  device: (deviceId: string) => withVersion(`/devices/${enc(deviceId)}`),
  devices: (top?: number) => withVersion('/devices') + (top !== undefined ? `&top=${top}` : ''),
  deviceCommands: (deviceId: string) => withVersion(`/devices/${enc(deviceId)}/commands`),
  feedback: () => withVersion('/messages/serviceBound/feedback'),
  feedbackLock: (lockToken: string, reject = false) => withVersion(`/messages/serviceBound/feedback/${enc(lockToken)}`) + (reject ? '&reject' : ''),
  feedbackAbandon: (lockToken: string) => withVersion(`/messages/serviceBound/feedback/${enc(lockToken)}/abandon`),
};

/** The inspection routes' paths (no api-version: they are this hub's own). */
export const inspectionPaths = {
  stats: () => `${INSPECTION_PREFIX}/stats`,
  queue: (deviceId: string) => `${INSPECTION_PREFIX}/devices/${enc(deviceId)}/messages`,
  queueMessage: (deviceId: string, messageId: string) => `${INSPECTION_PREFIX}/devices/${enc(deviceId)}/messages/${enc(messageId)}`,
  deadLetters: (deviceId?: string) =>
    deviceId === undefined ? `${INSPECTION_PREFIX}/deadletters` : `${INSPECTION_PREFIX}/devices/${enc(deviceId)}/deadletters`,
  deadLetter: (deviceId: string, sequenceNumber: number) => `${INSPECTION_PREFIX}/devices/${enc(deviceId)}/deadletters/${sequenceNumber}`,
  requeue: (deviceId: string, sequenceNumber: number) => `${INSPECTION_PREFIX}/devices/${enc(deviceId)}/deadletters/${sequenceNumber}/requeue`,
  trace: (messageId: string) => `${INSPECTION_PREFIX}/messages/${enc(messageId)}/trace`,
  /** POST a fault request ({ type, closeReason, delayInSecs, durationInSecs }) for the device. */
  fault: (deviceId: string) => `${INSPECTION_PREFIX}/devices/${enc(deviceId)}/faults`,
};

function withVersion(path: string): string {
  return `${path}?api-version=${API_VERSION}`;
}

/**
 * The route a request path names, or undefined for a path the hub does not
 * serve. Throws 400004 for a segment with a broken percent-encoding.
 */
export function parseHubPath(pathname: string): HubRoute | undefined {
  const raw = pathname.split('/');
  if (raw[0] !== '') return undefined;
  raw.shift();
  if (raw.length > 1 && raw[raw.length - 1] === '') raw.pop();
  const seg = raw.map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw errors.invalid('The request path has a bad percent-encoding.');
    }
  });
  // Literal segments compare case-insensitively; decoded values (ids, tokens) keep their case.
  const is = (i: number, lit: string): boolean => seg[i]?.toLowerCase() === lit;
  const n = seg.length;
  if (is(0, 'devices')) {
    if (n === 1) return { kind: 'devices' };
    const deviceId = seg[1] ?? '';
    if (deviceId === '') return undefined;
    if (n === 2) return { kind: 'device', deviceId };
    if (n === 3 && is(2, 'commands')) return { kind: 'deviceCommands', deviceId };
    if (!is(2, 'messages')) return undefined;
    if (n === 4 && is(3, 'events')) return { kind: 'deviceEvents', deviceId };
    if (!is(3, 'devicebound')) return undefined;
    if (n === 4) return { kind: 'deviceBound', deviceId };
    const lockToken = seg[4] ?? '';
    if (lockToken === '') return undefined;
    if (n === 5) return { kind: 'deviceBoundLock', deviceId, lockToken };
    if (n === 6 && is(5, 'abandon')) return { kind: 'deviceBoundAbandon', deviceId, lockToken };
    return undefined;
  }
  if (is(0, INSPECTION_PREFIX.slice(1))) return parseInspectionPath(seg.slice(1), is);
  if (is(0, 'messages') && is(1, 'servicebound') && is(2, 'feedback')) {
    if (n === 3) return { kind: 'feedback' };
    const lockToken = seg[3] ?? '';
    if (lockToken === '') return undefined;
    if (n === 4) return { kind: 'feedbackLock', lockToken };
    if (n === 5 && is(4, 'abandon')) return { kind: 'feedbackAbandon', lockToken };
  }
  return undefined;
}

/** The segments after INSPECTION_PREFIX; `is(i, lit)` compares segment i + 1. */
function parseInspectionPath(seg: string[], isAt: (i: number, lit: string) => boolean): HubRoute | undefined {
  const is = (i: number, lit: string): boolean => isAt(i + 1, lit);
  const n = seg.length;
  if (n === 1 && is(0, 'stats')) return { kind: 'c2dStats' };
  if (n === 1 && is(0, 'deadletters')) return { kind: 'c2dDeadLetters' };
  if (n === 3 && is(0, 'messages') && seg[1] !== '' && is(2, 'trace')) return { kind: 'c2dTrace', messageId: seg[1]! };
  if (!is(0, 'devices') || n < 3 || seg[1] === '') return undefined;
  const deviceId = seg[1]!;
  const id = seg[3] ?? '';
  if (is(2, 'messages')) {
    if (n === 3) return { kind: 'c2dQueue', deviceId };
    if (n === 4 && id !== '') return { kind: 'c2dQueueMessage', deviceId, messageId: id };
  }
  if (n === 3 && is(2, 'faults')) return { kind: 'c2dFault', deviceId };
  if (is(2, 'deadletters')) {
    if (n === 3) return { kind: 'c2dDeviceDeadLetters', deviceId };
    if (n === 4 && id !== '') return { kind: 'c2dDeadLetter', deviceId, sequenceNumber: id };
    if (n === 5 && id !== '' && is(4, 'requeue')) return { kind: 'c2dDeadLetterRequeue', deviceId, sequenceNumber: id };
  }
  return undefined;
}

/**
 * Whether the query asks to reject instead of complete: the Node SDK appends a
 * bare `&reject`; `reject=true` is accepted too, `reject=false` is a complete.
 */
export function hasRejectFlag(query: URLSearchParams): boolean {
  if (!query.has('reject')) return false;
  const v = (query.get('reject') ?? '').toLowerCase();
  return v === '' || v === 'true';
}

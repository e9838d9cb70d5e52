/**
 * Management and inspection actions a c2d-hub node takes on its input
 * (msg.action). Device keys are left out of results unless msg.includeKeys is
 * true, so a debug sidebar does not show them by accident. Inspection results
 * are the shapes of lib/hub/inspection-json (times ISO-8601, bodies as
 * Buffers, only with msg.includeBody). Bad input is 400004; the engine's own
 * errors (404001 device, 404000 message, 403004 queue full) pass through.
 */
import { C2DError, errors } from '../../lib/common/errors';
import type { DeadLetterRef, Device, DeviceSpec, HubApi } from '../../lib/hub/api';
import { faultRequestFields } from '../../lib/common/fault-injection';
import { deadLetterPageJson, faultJson, pendingJson, requeuedJson, traceJson } from '../../lib/hub/inspection-json';

export const HUB_ACTIONS = [
  'createDevice',
  'deleteDevice',
  'getDevice',
  'listDevices',
  'purge',
  'stats',
  'peek',
  'deadLetters',
  'requeue',
  'deleteDeadLetter',
  'cancel',
  'trace',
  'fault',
] as const;
export type HubAction = (typeof HUB_ACTIONS)[number];

type Msg = Record<string, unknown>;

const invalid = (why: string): C2DError => errors.invalid(why);

function redact(d: Device, includeKeys: boolean): Device {
  if (includeKeys) return d;
  return { ...d, authentication: { ...d.authentication, symmetricKey: { primaryKey: null, secondaryKey: null } } };
}

function deviceIdOf(msg: Msg): string {
  const p = msg.payload as { deviceId?: unknown } | undefined;
  const id = msg.deviceId ?? (p && typeof p === 'object' ? p.deviceId : undefined);
  if (typeof id !== 'string' || id === '') throw invalid(`msg.deviceId is required for ${String(msg.action)}.`);
  return id;
}

function messageIdOf(msg: Msg): string {
  const id = msg.messageId;
  if (typeof id === 'number') return String(id);
  if (typeof id !== 'string' || id === '') throw invalid(`msg.messageId is required for ${String(msg.action)}.`);
  return id;
}

/** A whole number from msg (a number, or digits as a string, as an inject node gives them); undefined when absent. */
function wholeNumberOf(msg: Msg, key: string): number | undefined {
  const v = msg[key];
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid(`msg.${key} must be a whole number, 0 or more (got ${JSON.stringify(v)}).`);
  return n;
}

/** msg.sequenceNumber when given (it names one dead letter exactly), else msg.messageId (the most recent with it). */
function deadLetterRefOf(msg: Msg): DeadLetterRef {
  const sequenceNumber = wholeNumberOf(msg, 'sequenceNumber');
  if (sequenceNumber !== undefined) return { sequenceNumber };
  if (msg.messageId === undefined || msg.messageId === '') throw invalid(`msg.sequenceNumber or msg.messageId is required for ${String(msg.action)}.`);
  return { messageId: messageIdOf(msg) };
}

function includeBodyOf(msg: Msg): boolean {
  const v = msg.includeBody;
  if (v === undefined || v === null || v === false || v === 'false' || v === '') return false;
  if (v === true || v === 'true') return true;
  throw invalid(`msg.includeBody must be true or false (got ${JSON.stringify(v)}).`);
}

/** Runs msg.action and returns the result for msg.payload. */
export async function runHubAction(hub: HubApi, ports: Record<string, number>, msg: Msg): Promise<unknown> {
  const action = msg.action as HubAction;
  const keys = msg.includeKeys === true;
  switch (action) {
    case 'createDevice': {
      const spec = (msg.payload && typeof msg.payload === 'object' && !Buffer.isBuffer(msg.payload) ? msg.payload : {}) as Partial<DeviceSpec>;
      return redact(await hub.registry.createDevice({ ...spec, deviceId: deviceIdOf(msg) }), keys);
    }
    case 'deleteDevice': {
      const deviceId = deviceIdOf(msg);
      await hub.registry.deleteDevice(deviceId);
      return { deviceId, deleted: true };
    }
    case 'getDevice': {
      const deviceId = deviceIdOf(msg);
      const d = hub.registry.getDevice(deviceId);
      if (!d) throw errors.notFound(`Device '${deviceId}' is not registered.`);
      return redact(d, keys);
    }
    case 'listDevices':
      return hub.registry.listDevices().map((d) => redact(d, keys));
    case 'purge': {
      const deviceId = deviceIdOf(msg);
      return { deviceId, purged: await hub.purge(deviceId) };
    }
    case 'stats':
      return { ...hub.stats(), hubName: hub.hubName, ports };
    case 'peek':
      return hub.peek(deviceIdOf(msg), { includeBody: includeBodyOf(msg) }).map((v) => pendingJson(v, 'buffer'));
    case 'deadLetters': {
      // msg.deviceId narrows the list to one device; without it, every device's.
      const deviceId = msg.deviceId === undefined || msg.deviceId === '' ? undefined : deviceIdOf(msg);
      const offset = wholeNumberOf(msg, 'offset');
      const limit = wholeNumberOf(msg, 'limit');
      const page = hub.deadLetters({
        ...(deviceId !== undefined ? { deviceId } : {}),
        ...(offset !== undefined ? { offset } : {}),
        ...(limit !== undefined ? { limit } : {}),
        includeBody: includeBodyOf(msg),
      });
      return deadLetterPageJson(page, 'buffer');
    }
    case 'requeue': {
      const deviceId = deviceIdOf(msg);
      return requeuedJson(deviceId, await hub.requeueDeadLetter(deviceId, deadLetterRefOf(msg)));
    }
    case 'deleteDeadLetter': {
      const deviceId = deviceIdOf(msg);
      const ref = deadLetterRefOf(msg);
      await hub.deleteDeadLetter(deviceId, ref);
      return { deviceId, ...ref, deleted: true };
    }
    case 'cancel': {
      const deviceId = deviceIdOf(msg);
      const messageId = messageIdOf(msg);
      return { deviceId, messageId, cancelled: await hub.cancel(deviceId, messageId) };
    }
    case 'trace':
      return traceJson(hub.trace(messageIdOf(msg)));
    case 'fault':
      // { deviceId, type, closeReason, delayInSecs, durationInSecs } in msg.payload; the hub checks each (400004 naming the field).
      return faultJson(hub.injectFault(deviceIdOf(msg), faultRequestFields(msg.payload)));
    default:
      throw invalid(`msg.action must be one of ${HUB_ACTIONS.join(', ')} (got ${JSON.stringify(msg.action)}).`);
  }
}

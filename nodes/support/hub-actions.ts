/**
 * Management actions a c2d-hub node takes on its input (msg.action).
 * Device keys are left out of results unless msg.includeKeys is true, so a
 * debug sidebar does not show them by accident.
 */
import { C2DError } from '../../lib/common/errors';
import type { Device, DeviceSpec, HubApi } from '../../lib/hub/api';

export const HUB_ACTIONS = ['createDevice', 'deleteDevice', 'getDevice', 'listDevices', 'purge', 'stats'] as const;
export type HubAction = (typeof HUB_ACTIONS)[number];

type Msg = Record<string, unknown>;

function redact(d: Device, includeKeys: boolean): Device {
  if (includeKeys) return d;
  return { ...d, authentication: { ...d.authentication, symmetricKey: { primaryKey: null, secondaryKey: null } } };
}

function deviceIdOf(msg: Msg): string {
  const p = msg.payload as { deviceId?: unknown } | undefined;
  const id = msg.deviceId ?? (p && typeof p === 'object' ? p.deviceId : undefined);
  if (typeof id !== 'string' || id === '') throw new C2DError('ArgumentInvalid', `msg.deviceId is required for ${String(msg.action)}.`);
  return id;
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
      if (!d) throw new C2DError('DeviceNotFound', `Device '${deviceId}' is not registered.`);
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
    default:
      throw new C2DError('ArgumentInvalid', `msg.action must be one of ${HUB_ACTIONS.join(', ')} (got ${JSON.stringify(msg.action)}).`);
  }
}

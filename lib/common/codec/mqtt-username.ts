/**
 * The MQTT CONNECT username IoT Hub expects (c2d-semantics.md §5.2, sdk-wire.md §3):
 *   `{host}/{deviceId}/?api-version=2021-04-12&DeviceClientType=...`
 *   `{host}/{deviceId}/{moduleId}/?api-version=...` (modules)
 * The ids are written raw, as the SDKs do; query values are percent-encoded.
 */
import { errors } from '../errors';
import { API_VERSION } from '../limits';
import { setOwn } from './own';

export interface MqttUsername {
  /** HostName as the device wrote it (may carry a port, e.g. `localhost:8883`). */
  host: string;
  deviceId: string;
  moduleId?: string;
  /** `api-version`; absent when the username has none. */
  apiVersion?: string;
  /** Every query parameter, decoded (including `api-version`). */
  params: Record<string, string>;
}

/** Builds a username; `params` are appended after `api-version` in their order. */
export function buildMqttUsername(u: { host: string; deviceId: string; moduleId?: string; apiVersion?: string; params?: Record<string, string> }): string {
  const path = u.moduleId === undefined ? `${u.host}/${u.deviceId}/` : `${u.host}/${u.deviceId}/${u.moduleId}/`;
  const query = [`api-version=${encodeURIComponent(u.apiVersion ?? API_VERSION)}`];
  for (const [k, v] of Object.entries(u.params ?? {})) query.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  return `${path}?${query.join('&')}`;
}

function decodeLoose(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Parses a username. The query starts at the last `/?` (a device id may itself
 * hold `?`, but query values are encoded, so they never hold `/?`). Throws
 * 401003 when the shape is not `{host}/{deviceId}[/{moduleId}]/`.
 */
export function parseMqttUsername(username: string): MqttUsername {
  const q = username.lastIndexOf('/?');
  const path = q < 0 ? username : username.slice(0, q + 1);
  const query = q < 0 ? '' : username.slice(q + 2);
  const segments = path.endsWith('/') ? path.slice(0, -1).split('/') : path.split('/');
  if (segments.length < 2 || segments.length > 3 || segments.some((s) => s === '')) {
    throw errors.unauthorized("The MQTT username must be '{host}/{deviceId}/?api-version=...'.");
  }
  const params: Record<string, string> = {};
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) setOwn(params, decodeLoose(part), '');
    else setOwn(params, decodeLoose(part.slice(0, eq)), decodeLoose(part.slice(eq + 1)));
  }
  const [host, deviceId, moduleId] = segments as [string, string, string | undefined];
  return {
    host,
    deviceId,
    ...(moduleId !== undefined ? { moduleId } : {}),
    ...(params['api-version'] !== undefined ? { apiVersion: params['api-version'] } : {}),
    params,
  };
}

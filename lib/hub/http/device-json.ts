/**
 * Device JSON in request bodies (IoT Hub's Device and ExportImportDevice
 * shapes) as the registry's DeviceSpec: shared by the single-device routes
 * and the bulk operation. Read-only fields (etag, counts, times) are ignored.
 */
import type { DeviceSpec } from '../api';
import { errors } from '../../common/errors';

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A request body as JSON; 400004 when it is not. */
export function parseJsonBody(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw errors.invalid('The request body is not valid JSON.');
  }
}

/** A device description (a registry body, or one entry of a bulk request) as a DeviceSpec for `deviceId`. */
export function deviceSpecFromObject(deviceId: string, v: Record<string, unknown>): DeviceSpec {
  const spec: DeviceSpec = { deviceId };
  if (v.status !== undefined && v.status !== null) {
    const s = typeof v.status === 'string' ? v.status.toLowerCase() : '';
    if (s !== 'enabled' && s !== 'disabled') throw errors.invalid('status must be enabled or disabled.');
    spec.status = s;
  }
  if (v.statusReason !== undefined) {
    if (v.statusReason !== null && typeof v.statusReason !== 'string') throw errors.invalid('statusReason must be a string.');
    spec.statusReason = v.statusReason;
  }
  if (v.authentication !== undefined && v.authentication !== null) {
    if (!isObject(v.authentication)) throw errors.invalid('authentication must be an object.');
    // Shapes inside are checked by the registry (types, key encoding); here only objects vs not.
    const a = v.authentication;
    for (const k of ['symmetricKey', 'x509Thumbprint'] as const) {
      if (a[k] !== undefined && a[k] !== null && !isObject(a[k])) throw errors.invalid(`authentication.${k} must be an object.`);
    }
    spec.authentication = a as DeviceSpec['authentication'];
  }
  if (v.capabilities !== undefined && v.capabilities !== null) {
    if (!isObject(v.capabilities)) throw errors.invalid('capabilities must be an object.');
    spec.capabilities = v.capabilities as DeviceSpec['capabilities'];
  }
  return spec;
}

/**
 * The identity registry over HTTPS (c2d-semantics.md §7.3, sdk-wire.md §5.2):
 * PUT /devices/{id} creates (no If-Match; 409001 when present) or updates
 * (If-Match etag or `*`; 412001 on a mismatch), GET reads one or lists
 * (`top`), DELETE removes (If-Match), POST /devices does up to 100 of
 * these at once (registry-bulk.ts). Reads need RegistryRead, writes
 * RegistryWrite. Replies are JSON with IoT Hub's content type.
 */
import type { Device, DeviceSpec } from '../api';
import { BOUNDS } from '../../common/limits';
import { errors } from '../../common/errors';
import { HTTP_HEADERS, formatEtag, parseEtag } from '../../common/codec/http';
import { authenticateService } from './auth';
import { header, json, noContent, type RequestContext, type Reply, type RouteTable } from './context';
import { bulkRegistryOperation } from './registry-bulk';
import { deviceSpecFromObject, isObject, parseJsonBody } from './device-json';

type DeviceCtx = RequestContext<{ kind: 'device'; deviceId: string }>;

const deviceReply = (d: Device): Reply => json(200, d, { [HTTP_HEADERS.etag]: formatEtag(d.etag) });

function ifMatchOf(ctx: RequestContext): string | undefined {
  const v = header(ctx, HTTP_HEADERS.ifMatch);
  return v === undefined ? undefined : parseEtag(v);
}

/** The body of PUT /devices/{id} as a DeviceSpec; a deviceId in it must be the path's. */
export function deviceSpecFromJson(pathId: string, body: Buffer): DeviceSpec {
  const v = parseJsonBody(body);
  if (!isObject(v)) throw errors.invalid('The request body must be a device JSON object.');
  if (v.deviceId !== undefined && v.deviceId !== pathId) {
    throw errors.invalid(`The body's deviceId ${JSON.stringify(v.deviceId)} differs from the path's '${pathId}'.`);
  }
  return deviceSpecFromObject(pathId, v);
}

async function put(ctx: DeviceCtx): Promise<Reply> {
  const { deviceId } = ctx.route;
  await authenticateService(ctx, 'RegistryWrite', `/devices/${deviceId}`);
  const spec = deviceSpecFromJson(deviceId, ctx.body);
  const ifMatch = ifMatchOf(ctx);
  // No If-Match means "create": IoT Hub answers 409 rather than overwrite.
  const d = ifMatch === undefined ? await ctx.hub.registry.createDevice(spec) : await ctx.hub.registry.updateDevice(spec, ifMatch);
  return deviceReply(d);
}

async function get(ctx: DeviceCtx): Promise<Reply> {
  const { deviceId } = ctx.route;
  await authenticateService(ctx, 'RegistryRead', `/devices/${deviceId}`);
  const d = ctx.hub.registry.getDevice(deviceId);
  if (!d) throw errors.deviceNotFound(deviceId);
  return deviceReply(d);
}

async function remove(ctx: DeviceCtx): Promise<Reply> {
  const { deviceId } = ctx.route;
  await authenticateService(ctx, 'RegistryWrite', `/devices/${deviceId}`);
  await ctx.hub.registry.deleteDevice(deviceId, ifMatchOf(ctx));
  return noContent();
}

async function list(ctx: RequestContext<{ kind: 'devices' }>): Promise<Reply> {
  await authenticateService(ctx, 'RegistryRead', '/devices');
  const top = ctx.query.get('top');
  let max: number = BOUNDS.maxListDevices;
  if (top !== null && top !== '') {
    if (!/^\d{1,9}$/.test(top) || Number(top) < 1) throw errors.invalid('`top` must be a positive integer.');
    max = Math.min(Number(top), BOUNDS.maxListDevices);
  }
  return json(200, ctx.hub.registry.listDevices(max));
}

export const registryRoutes: RouteTable = {
  device: { PUT: put, GET: get, DELETE: remove },
  devices: { GET: list, POST: bulkRegistryOperation },
};

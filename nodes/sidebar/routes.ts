/**
 * The C2D sidebar's admin routes, on Node-RED's admin app (RED.httpAdmin,
 * under httpAdminRoot). Reading needs c2d.read and never answers with a key;
 * changing, and the connection strings, need c2d.write (permissions.ts).
 * Bodies are JSON; an error is `{ code, name, message }` with IoT Hub's code
 * and HTTP status (404001 unknown device, 403004 queue full, 400004 bad input).
 *
 *   GET    /c2d/hubs                                            read
 *   GET    /c2d/hubs/:hub                                       read   summary, rates; keeps live updates coming
 *   GET    /c2d/hubs/:hub/devices?offset&limit&filter           read   a page of device rows
 *   GET    /c2d/hubs/:hub/devices/:device?offset&limit          read   queue (peek) and a page of dead letters
 *   GET    /c2d/hubs/:hub/trace/:messageId                      read
 *   GET    /c2d/hubs/:hub/devices/:device/connection-strings    write
 *   POST   /c2d/hubs/:hub/devices                               write  { deviceId }
 *   PATCH  /c2d/hubs/:hub/devices/:device                       write  { status: enabled | disabled }
 *   DELETE /c2d/hubs/:hub/devices/:device                       write
 *   POST   /c2d/hubs/:hub/devices/:device/messages              write  { body, properties, ack, messageId?, contentType? }
 *   DELETE /c2d/hubs/:hub/devices/:device/messages              write  purge
 *   DELETE /c2d/hubs/:hub/devices/:device/messages/:messageId   write  cancel
 *   POST   /c2d/hubs/:hub/devices/:device/dead-letters/:seq/requeue  write
 *   DELETE /c2d/hubs/:hub/devices/:device/dead-letters/:seq          write
 *   POST   /c2d/hubs/:hub/devices/:device/faults              write  { type, closeReason?, delayInSecs?, durationInSecs? }
 */
import type { Request, RequestHandler, Response } from 'express';
import { formatConnectionString, hostNameFor } from '../../lib/common/connection-string';
import { C2DError, errors } from '../../lib/common/errors';
import { HttpWireError } from '../../lib/common/codec/http-errors';
import { DEFAULT_PORTS } from '../../lib/common/limits';
import { isAckMode, type Properties } from '../../lib/common/message';
import { faultRequestFields } from '../../lib/common/fault-injection';
import { faultJson } from '../../lib/hub/inspection-json';
import type { DeviceStatus } from '../../lib/hub/api';
import type { RED } from '../support/red';
import { deployedHubs, runningHub, type RunningHub } from './hubs';
import type { LiveHub } from './live';
import { canRead, canWrite } from './permissions';
import { deviceDetail, devicePage, deviceRow, pageQuery, summaryOf } from './views';

export const ROUTE_PREFIX = '/c2d/hubs';

export interface SidebarState {
  live(hubId: string): LiveHub | undefined;
  now(): number;
}

type Handler = (req: Request, hub: RunningHub) => unknown;

interface AdminApp {
  get(path: string, ...h: RequestHandler[]): void;
  post(path: string, ...h: RequestHandler[]): void;
  patch(path: string, ...h: RequestHandler[]): void;
  delete(path: string, ...h: RequestHandler[]): void;
}

function sendError(res: Response, e: unknown): void {
  if (e instanceof C2DError || e instanceof HttpWireError) {
    const name = e instanceof C2DError ? e.name : e.errorName;
    res.status(e.httpStatus).json({ code: e.code, name, message: e.message });
    return;
  }
  // Not ours: say nothing about it (it could name internals), as the hub's HTTPS does.
  res.status(500).json({ code: 500001, name: 'ServerError', message: 'The hub failed to handle the request.' });
}

function param(req: Request, name: string): string {
  const v = (req.params as Record<string, string | undefined>)[name];
  if (typeof v !== 'string' || v === '') throw errors.invalid(`${name} is missing.`);
  return v;
}

function sequenceNumber(req: Request): number {
  const n = Number(param(req, 'seq'));
  if (!Number.isSafeInteger(n) || n < 0) throw errors.invalid('A dead letter is named by its sequence number, a whole number.');
  return n;
}

function bodyOf(req: Request): Record<string, unknown> {
  const b = req.body as unknown;
  return b && typeof b === 'object' && !Array.isArray(b) ? (b as Record<string, unknown>) : {};
}

function testMessage(b: Record<string, unknown>): {
  body: Buffer;
  properties: Properties;
  ack: 'none' | 'positive' | 'negative' | 'full';
  messageId?: string;
  contentType?: string;
} {
  const text = b.body ?? '';
  if (typeof text !== 'string') throw errors.invalid('body must be text.');
  const props = b.properties ?? {};
  if (!props || typeof props !== 'object' || Array.isArray(props) || Object.values(props).some((v) => typeof v !== 'string')) {
    throw errors.invalid('properties must be an object of text values.');
  }
  const ack = b.ack ?? 'none';
  if (!isAckMode(ack)) throw errors.invalid('ack must be none, positive, negative or full.');
  for (const k of ['messageId', 'contentType'] as const) {
    if (b[k] !== undefined && b[k] !== '' && typeof b[k] !== 'string') throw errors.invalid(`${k} must be text.`);
  }
  return {
    body: Buffer.from(text, 'utf8'),
    properties: props as Properties,
    ack,
    ...(typeof b.messageId === 'string' && b.messageId !== '' ? { messageId: b.messageId } : {}),
    ...(typeof b.contentType === 'string' && b.contentType !== '' ? { contentType: b.contentType, contentEncoding: 'utf-8' } : {}),
  };
}

export function mountRoutes(red: RED, state: SidebarState): void {
  const app = (red as unknown as { httpAdmin?: AdminApp }).httpAdmin;
  if (!app) return; // httpAdminRoot: false: no editor, no sidebar
  const read = canRead(red);
  const write = canWrite(red);

  const withHub =
    (h: Handler): RequestHandler =>
    (req, res) => {
      void (async () => {
        const id = param(req, 'hub');
        const hub = runningHub(red, id);
        if (!hub) throw new HttpWireError('GenericNotFound', `No running c2d-hub node '${id}': deploy one, or see its status for why it did not start.`);
        const out = await h(req, hub);
        res.status(req.method === 'POST' ? 201 : 200).json(out ?? {});
      })().catch((e: unknown) => sendError(res, e));
    };
  const device = (req: Request): string => param(req, 'device');

  app.get(ROUTE_PREFIX, ...read, (_req, res) => {
    res.json(deployedHubs(red));
  });

  app.get(
    `${ROUTE_PREFIX}/:hub`,
    ...read,
    withHub((_req, h) => {
      const live = state.live(h.id);
      live?.watch();
      return summaryOf(h.id, h.hub, h.ports, live, state.now());
    }),
  );

  app.get(
    `${ROUTE_PREFIX}/:hub/devices`,
    ...read,
    withHub((req, h) => devicePage(h.hub, pageQuery(req.query as Record<string, unknown>, 100), state.live(h.id))),
  );

  app.get(
    `${ROUTE_PREFIX}/:hub/devices/:device`,
    ...read,
    withHub((req, h) => {
      const q = pageQuery(req.query as Record<string, unknown>, 100);
      return deviceDetail(h.hub, device(req), state.live(h.id), q, state.now());
    }),
  );

  app.get(
    `${ROUTE_PREFIX}/:hub/trace/:messageId`,
    ...read,
    withHub((req, h) => {
      const messageId = param(req, 'messageId');
      return { messageId, entries: h.hub.trace(messageId) };
    }),
  );

  app.get(
    `${ROUTE_PREFIX}/:hub/devices/:device/connection-strings`,
    ...write,
    withHub((req, h) => {
      const deviceId = device(req);
      const d = h.hub.registry.getDevice(deviceId);
      if (!d) throw errors.notFound(`Device '${deviceId}' is not registered.`);
      const key = d.authentication.symmetricKey.primaryKey;
      if (d.authentication.type !== 'sas' || !key)
        throw errors.invalid(`Device '${deviceId}' authenticates with ${d.authentication.type}, not a shared access key: it has no key connection string.`);
      const connectionStrings: Record<string, string> = {};
      for (const p of Object.keys(DEFAULT_PORTS) as Array<keyof typeof DEFAULT_PORTS>) {
        const port = h.ports[p];
        if (port !== undefined)
          connectionStrings[p] = formatConnectionString({ HostName: hostNameFor(h.hub.hubName, p, port), DeviceId: deviceId, SharedAccessKey: key });
      }
      return { deviceId, connectionStrings };
    }),
  );

  app.post(
    `${ROUTE_PREFIX}/:hub/devices`,
    ...write,
    withHub(async (req, h) => {
      const deviceId = bodyOf(req).deviceId;
      if (typeof deviceId !== 'string') throw errors.invalid('deviceId is required.');
      await h.hub.registry.createDevice({ deviceId });
      return deviceRow(h.hub, deviceId, state.live(h.id));
    }),
  );

  app.patch(
    `${ROUTE_PREFIX}/:hub/devices/:device`,
    ...write,
    withHub(async (req, h) => {
      const deviceId = device(req);
      const status = bodyOf(req).status as DeviceStatus;
      if (status !== 'enabled' && status !== 'disabled') throw errors.invalid('status must be enabled or disabled.');
      if (!h.hub.registry.getDevice(deviceId)) throw errors.notFound(`Device '${deviceId}' is not registered.`);
      await h.hub.registry.updateDevice({ deviceId, status }, '*');
      return deviceRow(h.hub, deviceId, state.live(h.id));
    }),
  );

  app.delete(
    `${ROUTE_PREFIX}/:hub/devices/:device`,
    ...write,
    withHub(async (req, h) => {
      const deviceId = device(req);
      await h.hub.registry.deleteDevice(deviceId);
      return { deviceId, deleted: true };
    }),
  );

  app.post(
    `${ROUTE_PREFIX}/:hub/devices/:device/messages`,
    ...write,
    withHub((req, h) => h.hub.send(device(req), testMessage(bodyOf(req)))),
  );

  app.delete(
    `${ROUTE_PREFIX}/:hub/devices/:device/messages`,
    ...write,
    withHub(async (req, h) => ({ purged: await h.hub.purge(device(req)) })),
  );

  app.delete(
    `${ROUTE_PREFIX}/:hub/devices/:device/messages/:messageId`,
    ...write,
    withHub(async (req, h) => ({ cancelled: await h.hub.cancel(device(req), param(req, 'messageId')) })),
  );

  app.post(
    `${ROUTE_PREFIX}/:hub/devices/:device/dead-letters/:seq/requeue`,
    ...write,
    withHub((req, h) => h.hub.requeueDeadLetter(device(req), { sequenceNumber: sequenceNumber(req) })),
  );

  app.delete(
    `${ROUTE_PREFIX}/:hub/devices/:device/dead-letters/:seq`,
    ...write,
    withHub(async (req, h) => {
      await h.hub.deleteDeadLetter(device(req), { sequenceNumber: sequenceNumber(req) });
      return { deleted: true };
    }),
  );

  // A fault on the device's connections (the device row's "drop connection" is KillTcp, delay 0); the hub checks each field.
  app.post(
    `${ROUTE_PREFIX}/:hub/devices/:device/faults`,
    ...write,
    withHub((req, h) => faultJson(h.hub.injectFault(device(req), faultRequestFields(bodyOf(req))))),
  );
}

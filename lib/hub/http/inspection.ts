/**
 * This hub's inspection and repair over HTTPS, under INSPECTION_PREFIX (/c2d,
 * a path IoT Hub does not use), so the c2d-hub command and any tool can look
 * into a hub: its counts, a device's pending messages (peek), kept dead
 * letters (list, requeue, delete), cancelling one message, a message's
 * trace, and injecting a fault on a device's connections (to test its
 * reconnect logic). Reading needs a policy with RegistryRead, changing one with
 * ServiceConnect (the right IoT Hub asks for purge). JSON in IoT Hub's
 * content type; times ISO-8601, bodies base64 (inspection-json.ts).
 */
import type { DeadLetterRef } from '../api';
import type { Right } from '../../common/sas';
import { errors } from '../../common/errors';
import { INSPECTION_PREFIX, type HubRoute } from '../../common/codec/http-paths';
import { faultRequestFields } from '../../common/fault-injection';
import { deadLetterPageJson, faultJson, pendingJson, requeuedJson, traceJson } from '../inspection-json';
import { parseJsonBody } from './device-json';
import { authenticateService } from './auth';
import { json, noContent, type RequestContext, type Reply, type RouteTable } from './context';

/** A whole number from the query (offset, limit), or undefined when absent; 400004 otherwise. */
function wholeNumber(ctx: RequestContext, name: string): number | undefined {
  const v = ctx.query.get(name);
  if (v === null || v === '') return undefined;
  if (!/^\d{1,9}$/.test(v)) throw errors.invalid(`${name} must be a whole number, 0 or more (got '${v}').`);
  return Number(v);
}

/** `includeBody=true` (or `1`); absent or `false` (`0`) = no bodies; 400004 for anything else. */
function includeBody(ctx: RequestContext): boolean {
  const v = ctx.query.get('includeBody');
  if (v === null || v === '' || v === 'false' || v === '0') return false;
  if (v === 'true' || v === '1') return true;
  throw errors.invalid(`includeBody must be true or false (got '${v}').`);
}

function deadLetterRef(sequenceNumber: string): DeadLetterRef {
  if (!/^\d{1,15}$/.test(sequenceNumber)) {
    throw errors.invalid(
      `A dead letter is named by its sequence number (got '${sequenceNumber}'); GET ${INSPECTION_PREFIX}/devices/{id}/deadletters lists them.`,
    );
  }
  return { sequenceNumber: Number(sequenceNumber) };
}

/** A policy token with `right` whose `sr` is the hub (or `<hub>/c2d`). */
async function allow(ctx: RequestContext, right: Right): Promise<void> {
  await authenticateService(ctx, right, INSPECTION_PREFIX);
}

type Ctx<K extends HubRoute['kind']> = RequestContext<Extract<HubRoute, { kind: K }>>;

async function stats(ctx: Ctx<'c2dStats'>): Promise<Reply> {
  await allow(ctx, 'RegistryRead');
  return json(200, { hubName: ctx.hub.hubName, ...ctx.hub.stats() });
}

async function peek(ctx: Ctx<'c2dQueue'>): Promise<Reply> {
  await allow(ctx, 'RegistryRead');
  const body = includeBody(ctx);
  return json(
    200,
    ctx.hub.peek(ctx.route.deviceId, { includeBody: body }).map((v) => pendingJson(v, 'base64')),
  );
}

async function cancel(ctx: Ctx<'c2dQueueMessage'>): Promise<Reply> {
  await allow(ctx, 'ServiceConnect');
  const { deviceId, messageId } = ctx.route;
  return json(200, { deviceId, messageId, cancelled: await ctx.hub.cancel(deviceId, messageId) });
}

async function listDeadLetters(ctx: RequestContext, deviceId?: string): Promise<Reply> {
  await allow(ctx, 'RegistryRead');
  const offset = wholeNumber(ctx, 'offset');
  const limit = wholeNumber(ctx, 'limit');
  const page = ctx.hub.deadLetters({
    ...(deviceId !== undefined ? { deviceId } : {}),
    ...(offset !== undefined ? { offset } : {}),
    ...(limit !== undefined ? { limit } : {}),
    includeBody: includeBody(ctx),
  });
  return json(200, deadLetterPageJson(page, 'base64'));
}

async function requeue(ctx: Ctx<'c2dDeadLetterRequeue'>): Promise<Reply> {
  await allow(ctx, 'ServiceConnect');
  const { deviceId } = ctx.route;
  return json(200, requeuedJson(deviceId, await ctx.hub.requeueDeadLetter(deviceId, deadLetterRef(ctx.route.sequenceNumber))));
}

async function deleteDeadLetter(ctx: Ctx<'c2dDeadLetter'>): Promise<Reply> {
  await allow(ctx, 'ServiceConnect');
  await ctx.hub.deleteDeadLetter(ctx.route.deviceId, deadLetterRef(ctx.route.sequenceNumber));
  return noContent();
}

async function trace(ctx: Ctx<'c2dTrace'>): Promise<Reply> {
  await allow(ctx, 'RegistryRead');
  return json(200, traceJson(ctx.hub.trace(ctx.route.messageId)));
}

/** A fault request ({ type, closeReason, delayInSecs, durationInSecs }); the hub checks each field (400004 naming it, 404001 for the device). */
async function fault(ctx: Ctx<'c2dFault'>): Promise<Reply> {
  await allow(ctx, 'ServiceConnect');
  const request = faultRequestFields(parseJsonBody(ctx.body));
  return json(200, faultJson(ctx.hub.injectFault(ctx.route.deviceId, request)));
}

export const inspectionRoutes: RouteTable = {
  c2dStats: { GET: stats },
  c2dQueue: { GET: peek },
  c2dQueueMessage: { DELETE: cancel },
  c2dDeadLetters: { GET: async (ctx) => listDeadLetters(ctx) },
  c2dDeviceDeadLetters: { GET: async (ctx) => listDeadLetters(ctx, ctx.route.deviceId) },
  c2dDeadLetter: { DELETE: deleteDeadLetter },
  c2dDeadLetterRequeue: { POST: requeue },
  c2dTrace: { GET: trace },
  c2dFault: { POST: fault },
};

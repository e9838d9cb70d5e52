/**
 * A device's C2D endpoints over HTTPS (c2d-semantics.md §5.3, sdk-wire.md §4):
 * GET receives (204 when the queue is empty), DELETE completes or, with the
 * `reject` flag, rejects, POST .../abandon abandons. Settlements answer 204,
 * or 412 + 412002 when the lock is gone.
 */
import { errors } from '../../common/errors';
import { HTTP_HEADERS, encodeC2DHeaders, parseEtag } from '../../common/codec/http';
import { hasRejectFlag } from '../../common/codec/http-paths';
import { authenticateDevice } from './auth';
import { header, noContent, type RequestContext, type Reply, type RouteTable } from './context';

async function receive(ctx: RequestContext<{ kind: 'deviceBound'; deviceId: string }>): Promise<Reply> {
  const { deviceId } = ctx.route;
  authenticateDevice(ctx, deviceId);
  const m = await ctx.hub.receive(deviceId);
  if (!m) return noContent();
  return { status: 200, headers: encodeC2DHeaders(m), body: m.body };
}

/**
 * The path names the lock; `If-Match` (Node: bare, C#: quoted) may repeat it.
 * A different token there is a contradiction we refuse rather than guess at.
 */
function checkIfMatch(ctx: RequestContext, lockToken: string): void {
  const ifMatch = header(ctx, HTTP_HEADERS.ifMatch);
  if (ifMatch === undefined) return;
  const t = parseEtag(ifMatch);
  if (t !== '*' && t !== lockToken) {
    throw errors.precondition('If-Match names a different lock token than the path.');
  }
}

async function completeOrReject(ctx: RequestContext<{ kind: 'deviceBoundLock'; deviceId: string; lockToken: string }>): Promise<Reply> {
  const { deviceId, lockToken } = ctx.route;
  authenticateDevice(ctx, deviceId);
  checkIfMatch(ctx, lockToken);
  if (hasRejectFlag(ctx.query)) await ctx.hub.reject(deviceId, lockToken);
  else await ctx.hub.complete(deviceId, lockToken);
  return noContent();
}

async function abandon(ctx: RequestContext<{ kind: 'deviceBoundAbandon'; deviceId: string; lockToken: string }>): Promise<Reply> {
  const { deviceId, lockToken } = ctx.route;
  authenticateDevice(ctx, deviceId);
  checkIfMatch(ctx, lockToken);
  await ctx.hub.abandon(deviceId, lockToken);
  return noContent();
}

export const deviceMessageRoutes: RouteTable = {
  deviceBound: { GET: receive },
  deviceBoundLock: { DELETE: completeOrReject },
  deviceBoundAbandon: { POST: abandon },
};

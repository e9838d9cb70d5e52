/**
 * Device-to-cloud over HTTPS: POST /devices/{id}/messages/events. The hub
 * does not store D2C; it reports it (hub event `deviceToCloud`) and answers 204.
 */
import { decodeAppProperties } from '../../common/codec/http';
import { authenticateDevice } from './auth';
import { noContent, type RequestContext, type Reply, type RouteTable } from './context';

async function postEvent(ctx: RequestContext<{ kind: 'deviceEvents'; deviceId: string }>): Promise<Reply> {
  const { deviceId } = ctx.route;
  authenticateDevice(ctx, deviceId);
  ctx.hub.noteDeviceToCloud(deviceId, ctx.body, decodeAppProperties(ctx.req.headers));
  return noContent();
}

export const deviceEventRoutes: RouteTable = {
  deviceEvents: { POST: postEvent },
};

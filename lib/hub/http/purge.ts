/**
 * Purge a device's C2D queue: DELETE /devices/{id}/commands -> 200
 * `{"deviceId","totalMessagesPurged"}` (c2d-semantics.md §7.1). ServiceConnect,
 * because IoT Hub groups purge with C2D, not with the registry.
 */
import { authenticateService } from './auth';
import { json, type RequestContext, type Reply, type RouteTable } from './context';

async function purge(ctx: RequestContext<{ kind: 'deviceCommands'; deviceId: string }>): Promise<Reply> {
  const { deviceId } = ctx.route;
  await authenticateService(ctx, 'ServiceConnect', `/devices/${deviceId}/commands`);
  const totalMessagesPurged = await ctx.hub.purge(deviceId);
  return json(200, { deviceId, totalMessagesPurged });
}

export const purgeRoutes: RouteTable = {
  deviceCommands: { DELETE: purge },
};

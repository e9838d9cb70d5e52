/**
 * `c2d-send`: msg -> one C2D message to a device. The output is the same msg
 * with `msg.c2d` once the hub has committed the message; failures go to
 * done(err) with IoT Hub's code in err.code, so a Catch node sees them.
 */
import type { AckMode } from '../lib/common/message';
import type { ServiceConnection } from '../lib/client/types';
import type { Node, NodeDef, RED } from './support/red';
import { onInput } from './support/red';
import { toSendRequest } from './support/message-map';
import { CONNECT_WAIT_MS, joinConfig } from './support/user';

interface Def extends NodeDef {
  hub?: string;
  deviceId?: string;
  ack?: AckMode | '';
}

export = function register(RED: RED): void {
  function C2DSend(this: Node, def: Def): void {
    RED.nodes.createNode(this, def);
    const cfg = joinConfig(RED, this, def.hub, 'service');
    const defaults = { deviceId: def.deviceId?.trim() || undefined, ack: def.ack || undefined };
    onInput(this, async (msg) => {
        if (!cfg) throw new Error('No c2d-hub-config with the service role.');
        const req = toSendRequest(msg, defaults);
        const conn = (await cfg.shared.ready(CONNECT_WAIT_MS)) as ServiceConnection;
        const r = await conn.send(req.deviceId, req.message, req.options);
        msg.c2d = {
          messageId: r.messageId,
          deviceId: r.deviceId,
          ...(r.enqueuedTimeUtc !== undefined ? { enqueuedTimeUtc: new Date(r.enqueuedTimeUtc).toISOString() } : {}),
        };
        return msg;
    });
  }
  RED.nodes.registerType('c2d-send', C2DSend as never);
};

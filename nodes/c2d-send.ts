/**
 * `c2d-send`: msg -> one C2D message to a device. The output is the same msg
 * with `msg.c2d` once the hub has committed the message; failures go to
 * done(err) with IoT Hub's code in err.code, so a Catch node sees them. A send
 * gives up after the node's timeout (or msg.timeout) with 503001, and may
 * still have been committed (README, Timeouts).
 */
import type { AckMode } from '../lib/common/message';
import type { ServiceConnection } from '../lib/client/types';
import type { Node, NodeDef, RED } from './support/red';
import { onInput } from './support/red';
import { toSendRequest } from './support/message-map';
import { CONNECT_WAIT_MS, joinConfig } from './support/join-config';

interface Def extends NodeDef {
  hub?: string;
  deviceId?: string;
  ack?: AckMode | '';
  /** Send timeout in seconds (blank: one minute, the client's default; 0: none). */
  timeout?: string | number;
}

function timeoutMsOf(v: string | number | undefined): number | undefined {
  if (v === undefined || v === '') return undefined;
  const s = Number(v);
  if (!Number.isFinite(s) || s < 0) throw new Error(`The timeout must be a number of seconds, 0 or more (got '${String(v)}').`);
  return s * 1000;
}

export = function register(RED: RED): void {
  function C2DSend(this: Node, def: Def): void {
    RED.nodes.createNode(this, def);
    const cfg = joinConfig(RED, this, def.hub, 'service');
    let timeoutMs: number | undefined;
    try {
      timeoutMs = timeoutMsOf(def.timeout);
    } catch (e) {
      this.error((e as Error).message);
    }
    const defaults = { deviceId: def.deviceId?.trim() || undefined, ack: def.ack || undefined, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
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

/**
 * `c2d-ack`: settles a message c2d-receive emitted — complete, reject or
 * abandon (the node's setting, or msg.action). The lock token and the config
 * it came through travel in msg._c2d. Lock lost (412002), a missing token
 * (400004) and reject/abandon over MQTT (405001) reach Catch via done(err).
 */
import { errors } from '../lib/common/errors';
import { SETTLEMENTS, type Settlement } from '../lib/common/message';
import type { DeviceConnection } from '../lib/client/types';
import type { HubConfigNode } from './support/hub-config';
import type { Msg, Node, NodeDef, RED } from './support/red';
import { onInput } from './support/red';
import type { SettleRef } from './support/message-map';
import { CONNECT_WAIT_MS, joinConfig } from './support/join-config';

interface Def extends NodeDef {
  hub?: string;
  action?: Settlement | 'msg';
}

function settlementOf(msg: Msg, fallback: Settlement | 'msg'): Settlement {
  const a = msg.action ?? (fallback === 'msg' ? undefined : fallback);
  if (typeof a !== 'string' || !(SETTLEMENTS as readonly string[]).includes(a)) {
    throw errors.invalid(`msg.action must be complete, reject or abandon (got ${JSON.stringify(a)}).`);
  }
  return a as Settlement;
}

export = function register(RED: RED): void {
  function C2DAck(this: Node, def: Def): void {
    RED.nodes.createNode(this, def);
    const fallback = def.action ?? 'complete';
    // With a config of its own the node keeps that connection open and shows its status;
    // without one it settles through the config named in msg._c2d (the c2d-receive's).
    if (def.hub) joinConfig(RED, this, def.hub, 'device');
    onInput(this, async (msg) => {
      const action = settlementOf(msg, fallback);
      const ref = (msg._c2d ?? {}) as Partial<SettleRef>;
      const lockToken = ref.lockToken ?? msg.lockToken;
      if (typeof lockToken !== 'string' || lockToken === '') throw errors.invalid('No lock token: pass the msg from c2d-receive (msg._c2d or msg.lockToken).');
      const configId = ref.config || def.hub;
      const cfg = configId ? (RED.nodes.getNode(configId) as HubConfigNode | null) : null;
      if (!cfg || cfg.settings.role !== 'device') throw errors.invalid("No device c2d-hub-config for this message (msg._c2d.config or the node's setting).");
      const conn = (await cfg.shared.ready(CONNECT_WAIT_MS)) as DeviceConnection;
      // Reject and abandon over MQTT fail here with 405001 (the client's one check of that rule).
      await conn[action](lockToken);
      msg.settlement = { action, lockToken, deviceId: conn.deviceId, messageId: msg.messageId };
      return msg;
    });
  }
  RED.nodes.registerType('c2d-ack', C2DAck as never);
};

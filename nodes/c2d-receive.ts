/**
 * `c2d-receive`: emits each C2D message sent to the config's device.
 * Settlement: `auto` completes once the nodes wired to the output are done
 * with it (abandons if one failed; see support/auto-settle), `emit` completes
 * right after emitting (simplest, but a crash mid-flow loses the message),
 * `manual` leaves it to a c2d-ack node (unsettled: redelivered after the lock timeout).
 */
import type { DeviceMessage } from '../lib/common/message';
import type { DeviceConnection } from '../lib/client/types';
import type { Msg, Node, NodeDef, RED } from './support/red';
import { closeWith, emit, hooksOf } from './support/red';
import { receivedToMsg, type PayloadFormat } from './support/message-map';
import { AutoSettler } from './support/auto-settle';
import { joinConfig } from './support/join-config';

type SettleMode = 'auto' | 'emit' | 'manual';

interface Def extends NodeDef {
  hub?: string;
  format?: PayloadFormat;
  settle?: SettleMode;
  /** HTTP polling interval, seconds (http transport only). */
  pollInterval?: string | number;
}

export = function register(RED: RED): void {
  function C2DReceive(this: Node & { wires?: string[][] }, def: Def): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- Node-RED's constructor idiom: closures need the node
    const node = this;
    const format: PayloadFormat = def.format ?? 'auto';
    const mode: SettleMode = def.settle ?? 'auto';
    const settler = mode === 'auto' ? new AutoSettler(hooksOf(RED), node.id) : undefined;
    let configId = '';

    const settle = (m: DeviceMessage, outcome: 'complete' | 'abandon', msg: Msg): void => {
      const conn = cfg?.shared.connection as DeviceConnection | undefined;
      if (!conn) return; // disconnected: the hub has put the message back already
      conn[outcome](m.lockToken).catch((e: unknown) => node.error(e instanceof Error ? e : new Error(String(e)), msg));
    };

    const onMessage = (m: DeviceMessage): void => {
      const msg: Msg = receivedToMsg(m, format, configId);
      msg._msgid = RED.util.generateId();
      const downstream = node.wires?.[0] ?? [];
      if (settler && downstream.length > 0) {
        settler.track(msg._msgid, downstream, m.lockedUntilUtc, (outcome) => settle(m, outcome, msg));
      }
      emit(node, msg);
      if (mode === 'emit' || (settler && downstream.length === 0)) settle(m, 'complete', msg);
    };

    const poll = Number(def.pollInterval);
    const connectOptions = Number.isFinite(poll) && poll > 0 ? { httpPollIntervalMs: poll * 1000 } : {};
    const cfg = joinConfig(RED, node, def.hub, 'device', { onMessage, connectOptions });
    configId = cfg?.id ?? '';
    closeWith(node, async () => settler?.close());
  }
  RED.nodes.registerType('c2d-receive', C2DReceive as never);
};

/**
 * `c2d-hub`: the embedded hub. Starts on deploy, stops on close (every port
 * released before done), publishes itself to in-process configs through
 * support/hub-registry (with how to reach it over the network), emits hub
 * events, takes management and inspection actions (support/hub-actions), and
 * shows its ports, devices and pending messages in its status.
 * A start failure (e.g. EADDRINUSE) shows in the status and the log; it
 * never throws out of the node.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { HUB_EVENT_NAMES } from '../lib/hub/api';
import type { Node, NodeDef, RED } from './support/red';
import { onInput } from './support/red';
import { closeWith, emit } from './support/red';
import { runningHubs } from './support/hub-registry';
import { runHubAction } from './support/hub-actions';
import { statusReason } from './support/shared-connection';
import { connectHostFor, startHub, type StartedHub } from './support/start-hub';
import { hubOptionsOf, type HubDef } from './support/hub-settings';
import { tlsConfigOf } from './support/red-conventions';
import { HubMetrics } from '../lib/hub/admin/metrics';
import { followHubStatus } from './support/hub-status';

/**
 * Hub events put on the output, as `{ topic: <event>, payload }`. `deviceToCloud`'s
 * payload is `{ deviceId, body: Buffer, properties }` (a device's sendEvent, any transport).
 */
const EVENTS = HUB_EVENT_NAMES;

interface Creds {
  deviceKey?: string;
  serviceKey?: string;
}

export = function register(RED: RED): void {
  function C2DHub(this: Node<Creds> & { wires?: string[][] }, def: HubDef & NodeDef): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- Node-RED's constructor idiom: closures need the node
    const node = this;
    const userDir = (RED.settings as { userDir?: string }).userDir ?? path.join(os.homedir(), '.node-red');
    let running: StartedHub | undefined;
    const unhook: Array<() => void> = [];

    const starting = (async () => {
      node.status({ fill: 'yellow', shape: 'ring', text: 'node-red:common.status.connecting' });
      const opts = hubOptionsOf(def, node.credentials ?? {}, path.join(userDir, 'c2d-hub', node.id.replace(/[^A-Za-z0-9._-]/g, '_')));
      const tls = tlsConfigOf(RED, def.tls, 'this c2d-hub');
      if (tls) opts.tls = { ...(tls.cert ? { cert: tls.cert } : {}), ...(tls.key ? { key: tls.key } : {}), ...(tls.ca ? { ca: tls.ca } : {}) };
      // Node-RED's metrics logging: each hub counter, every time it moves, through node.metric().
      const metrics = node.metric() ? new HubMetrics({ processMetrics: false }) : undefined;
      if (metrics) {
        metrics.on('count', (c) => node.metric([c.name, ...Object.values(c.labels)].join('.'), {}, c.total));
        opts.onCommit = metrics.onCommit;
        opts.onAccess = metrics.onAccess;
      }
      running = await startHub(opts);
      if (metrics) {
        const hub = running.hub;
        unhook.push(metrics.attach(hub));
      }
      if ((node.wires?.[0]?.length ?? 0) > 0) {
        for (const name of EVENTS) {
          const listener = (payload: unknown): void => emit(node, { topic: name, payload });
          running.hub.events.on(name, listener as never);
          unhook.push(() => running?.hub.events.off(name, listener as never));
        }
      }
      const r = running;
      unhook.push(
        followHubStatus(
          r.hub,
          () => r.ports as Record<string, number>,
          (s) => node.status(s),
        ),
      );
      const endpoint = r.ca && Object.keys(r.ports).length > 0 ? { connectHost: connectHostFor(opts.host), ports: r.ports, ca: r.ca } : undefined;
      runningHubs.up(node.id, r.hub, endpoint);
    })().catch((e: unknown) => {
      node.status({ fill: 'red', shape: 'ring', text: statusReason(e) });
      node.error(`Hub did not start: ${e instanceof Error ? e.message : String(e)}`);
    });
    // For tests and diagnostics: resolves once started (or failed); the bound ports (also read by the C2D sidebar).
    Object.defineProperties(node, {
      ready: { value: starting },
      ports: { get: () => running?.ports ?? {} },
    });

    onInput(this, async (msg) => {
      await starting;
      if (!running) throw new Error('The hub is not running (see its status).');
      msg.payload = await runHubAction(running.hub, running.ports as Record<string, number>, msg);
      return msg;
    });

    closeWith(node, async () => {
      await starting;
      runningHubs.down(node.id);
      for (const u of unhook.splice(0)) u();
      const r = running;
      running = undefined;
      await r?.close();
      node.status({});
    });
  }

  RED.nodes.registerType('c2d-hub', C2DHub as never, {
    credentials: { deviceKey: { type: 'password' }, serviceKey: { type: 'password' } },
  });
};

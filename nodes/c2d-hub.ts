/**
 * `c2d-hub`: the embedded hub. Starts on deploy, stops on close (every port
 * released before done), publishes itself to in-process configs through
 * support/hub-registry, emits hub events, and takes management actions.
 * A start failure (e.g. EADDRINUSE) shows in the status and the log; it
 * never throws out of the node.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import type { HubEventName } from '../lib/hub/api';
import type { Node, NodeDef, RED } from './support/red';
import { onInput } from './support/red';
import { closeWith, emit } from './support/red';
import { runningHubs } from './support/hub-registry';
import { runHubAction } from './support/hub-actions';
import { describe } from './support/shared-connection';
import { startHub, type Protocol, type StartedHub } from './support/start-hub';
import { hubOptionsOf, type HubDef } from './support/hub-settings';

/** Hub events put on the output, as `{ topic: <event>, payload }`. */
const EVENTS: HubEventName[] = [
  'enqueued', 'delivered', 'completed', 'rejected', 'abandoned', 'lockExpired', 'expired', 'deadLettered',
  'purged', 'cancelled', 'requeued', 'deadLettersDropped', 'feedback',
  'deviceConnected', 'deviceDisconnected', 'deviceCreated', 'deviceDeleted', 'deviceToCloud',
];

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
      running = await startHub(opts);
      if ((node.wires?.[0]?.length ?? 0) > 0) {
        for (const name of EVENTS) {
          const listener = (payload: unknown): void => emit(node, { topic: name, payload });
          running.hub.events.on(name, listener as never);
          unhook.push(() => running?.hub.events.off(name, listener as never));
        }
      }
      const ports = running.ports;
      const text = (Object.keys(ports) as Protocol[]).map((p) => `${p}:${ports[p]}`).join(' ') || 'in-process';
      node.status({ fill: 'green', shape: 'dot', text });
      runningHubs.up(node.id, running.hub);
    })().catch((e: unknown) => {
      node.status({ fill: 'red', shape: 'ring', text: describe(e) });
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

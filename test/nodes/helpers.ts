/**
 * Node tests run the real Node-RED runtime (node-red-node-test-helper) with
 * the real nodes and a real embedded hub on a temporary data folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { EventEmitter } from 'node:events';

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const helper = require('node-red-node-test-helper') as TestHelper;
helper.init(require.resolve('node-red'));

export interface TestHelper {
  init(path: string, settings?: Record<string, unknown>): void;
  /** Runtime settings for the next load: RED.settings merged with these (`{}` restores the defaults). */
  settings(userSettings?: Record<string, unknown>): Record<string, unknown>;
  load(nodes: unknown[], flow: object[], credentials?: Record<string, Record<string, string>>): Promise<void>;
  setFlows(flow: object[], type: 'full' | 'flows' | 'nodes', credentials?: Record<string, Record<string, string>>): Promise<void>;
  unload(): Promise<void>;
  getNode(id: string): TestNode;
  startServer(): Promise<void>;
  stopServer(): Promise<void>;
}

export interface TestNode extends EventEmitter {
  id: string;
  receive(msg: object): void;
  /** A sinon spy on Node.prototype: its calls are every node's, so filter by thisValue. */
  status: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> } & ((s: object) => void);
  credentials?: Record<string, string>;
  ready?: Promise<void>;
}

/* eslint-disable @typescript-eslint/no-require-imports */
export const ALL_NODES = [
  require('../../nodes/c2d-hub'),
  require('../../nodes/c2d-hub-config'),
  require('../../nodes/c2d-send'),
  require('../../nodes/c2d-receive'),
  require('../../nodes/c2d-ack'),
  require('../../nodes/c2d-feedback'),
  require('./sink-node'),
  require('@node-red/nodes/core/common/25-catch.js'),
  require('@node-red/nodes/core/common/25-status.js'),
];
/* eslint-enable @typescript-eslint/no-require-imports */

/**
 * helper.setFlows, without the test helper's fixed 300 ms wait for the
 * runtime's 'flows:started' (a loaded machine takes longer, and the helper
 * then rejects although the deploy goes on): on that timeout, wait instead
 * until every node of the new flow exists.
 */
export async function deploy(flow: object[], type: 'full' | 'flows' | 'nodes' = 'full', credentials?: Record<string, Record<string, string>>): Promise<void> {
  try {
    await helper.setFlows(flow, type, credentials);
    return;
  } catch (e) {
    if ((e as Error).message !== 'timeout waiting event') throw e;
  }
  const ids = (flow as { id: string; type: string }[]).filter((n) => n.type !== 'tab').map((n) => n.id);
  const deadline = Date.now() + 60_000;
  while (!ids.every((id) => helper.getNode(id))) {
    if (Date.now() > deadline) throw new Error(`the deployed flow did not start: ${ids.filter((id) => !helper.getNode(id)).join(', ')} missing`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function tempDir(): { dir: string; remove(): void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-nodes-'));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** Resolves with the next msg a helper node gets (assertions run by the caller). */
export function nextMsg(node: TestNode, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no msg at ${node.id} within ${timeoutMs} ms`)), timeoutMs);
    node.once('input', (msg: Record<string, unknown>) => {
      clearTimeout(t);
      resolve(msg);
    });
  });
}

/** Resolves with the next error a Catch node passes on. */
export const nextCaught = nextMsg;

/** The last status this node set. */
export function lastStatus(node: TestNode): Record<string, unknown> | undefined {
  return node.status
    .getCalls()
    .filter((c) => c.thisValue === node)
    .at(-1)?.args[0] as Record<string, unknown> | undefined;
}

/** Waits until a node's status() was last called with something matching `pred`. */
export function statusReaches(node: TestNode, pred: (s: Record<string, unknown>) => boolean, timeoutMs = 10_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const last = lastStatus(node);
    if (last && pred(last)) return resolve(last);
    const t = setTimeout(
      () => reject(new Error(`status of ${node.id} did not match within ${timeoutMs} ms; last ${JSON.stringify(lastStatus(node))}`)),
      timeoutMs,
    );
    const on = (call: { args: unknown[] }): void => {
      const s = call.args[0] as Record<string, unknown>;
      if (!pred(s)) return;
      clearTimeout(t);
      node.off('call:status', on);
      resolve(s);
    };
    node.on('call:status', on);
  });
}

export const isConnected = (s: Record<string, unknown>): boolean => s.fill === 'green';

/** The usual flow: a tab, an embedded hub, a service and a device config. */
export function baseFlow(dataDir: string, hub: Record<string, unknown> = {}): object[] {
  return [
    { id: 'f1', type: 'tab' },
    {
      id: 'hub',
      z: 'f1',
      type: 'c2d-hub',
      dataDir,
      devices: 'dev1',
      amqpsPort: '',
      mqttsPort: '',
      httpsPort: '',
      feedbackWindow: '0',
      wires: [[]],
      ...hub,
    },
    { id: 'svc', type: 'c2d-hub-config', target: 'embedded', hub: 'hub', role: 'service' },
    { id: 'dev', type: 'c2d-hub-config', target: 'embedded', hub: 'hub', role: 'device', deviceId: 'dev1' },
  ];
}

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_NODES, helper, isConnected, statusReaches, tempDir } from './helpers';
import { NEEDS_AZURE, STORIES } from './example-stories';

const dir = path.resolve(__dirname, '../../../examples');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
const NODE_TYPES = ['c2d-hub', 'c2d-send', 'c2d-receive', 'c2d-ack', 'c2d-feedback'];

type N = Record<string, unknown> & { id: string; type: string };

/* eslint-disable @typescript-eslint/no-require-imports */
const CORE_NODES = [
  require('@node-red/nodes/core/common/20-inject.js'),
  require('@node-red/nodes/core/common/21-debug.js'),
  require('@node-red/nodes/core/common/90-comment.js'),
  require('@node-red/nodes/core/function/10-function.js'),
  require('@node-red/nodes/core/function/10-switch.js'),
  require('@node-red/nodes/core/function/15-change.js'),
];
/** Where the runtime's RED.comms.publish goes in the test helper (the debug node's output to the sidebar). */
const runtimeEvents = (require('@node-red/util') as { events: NodeJS.EventEmitter }).events;
/* eslint-enable @typescript-eslint/no-require-imports */

describe('examples', function () {
  it('use every non-config node type between them', () => {
    const used = new Set(files.flatMap((f) => (JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as N[]).map((n) => n.type)));
    for (const t of NODE_TYPES) assert.ok(used.has(t), t);
  });

  it('every example but the Azure one has its story here', () => {
    assert.deepEqual(Object.keys(STORIES).sort(), files.filter((f) => f !== NEEDS_AZURE).sort());
  });

  for (const f of files) {
    it(`${f}: a comment node, every config reference resolves, no credentials, no duplicate ids`, () => {
      const flow = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as N[];
      const ids = new Set(flow.map((n) => n.id));
      assert.equal(ids.size, flow.length);
      assert.ok(flow.some((n) => n.type === 'comment'));
      for (const n of flow) {
        assert.equal(n.credentials, undefined, `${n.id} carries credentials`);
        if (typeof n.hub === 'string' && n.hub !== '') assert.ok(ids.has(n.hub), `${n.id}.hub -> ${n.hub}`);
        for (const out of (n.wires as string[][] | undefined) ?? []) for (const w of out) assert.ok(ids.has(w), `${n.id} wired to ${w}`);
      }
      assert.doesNotMatch(JSON.stringify(flow), /SharedAccessKey=[A-Za-z0-9+/]{20,}/);
    });
  }
});

/**
 * Each example as imported, on a real Node-RED runtime with the core nodes it
 * uses: nothing typed, no credentials given. Every c2d node turns green and
 * the debug nodes show the example's story. The only change: a fixed port
 * (5671 in "two Node-REDs") becomes 0, so the test does not collide with
 * whatever else holds it on this machine; the configs find the port the hub bound.
 */
describe('examples on a real runtime: green and their whole story in the debug sidebar, nothing typed', function () {
  this.timeout(90_000);
  let tmp: ReturnType<typeof tempDir>;
  let debugged: Array<{ name: string; msg: string }>;
  let onDebug: () => void = () => undefined;
  const onComms = (e: { topic: string; data: { name?: string; msg?: unknown } }): void => {
    if (e.topic !== 'debug') return;
    debugged.push({ name: String(e.data.name ?? ''), msg: typeof e.data.msg === 'string' ? e.data.msg : JSON.stringify(e.data.msg) });
    onDebug();
  };
  beforeEach(() => {
    tmp = tempDir();
    debugged = [];
    // The hubs' default data folder is <userDir>/c2d-hub/<node id>: keep it in the temp folder.
    helper.settings({ userDir: tmp.dir });
    runtimeEvents.on('comms', onComms);
  });
  afterEach(async () => {
    runtimeEvents.off('comms', onComms);
    await helper.unload();
    helper.settings({});
    tmp.remove();
  });

  for (const [file, story] of Object.entries(STORIES)) {
    it(file.replace(/\.json$/, ''), async () => {
      const flow = (JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as N[]).map((n) =>
        n.type === 'c2d-hub' ? { ...n, ...Object.fromEntries(['amqpsPort', 'mqttsPort', 'httpsPort'].filter((p) => n[p] !== '').map((p) => [p, '0'])) } : n,
      );
      await helper.load([...ALL_NODES, ...CORE_NODES], flow);
      const statusNodes = flow.filter((n) => ['c2d-hub', 'c2d-send', 'c2d-receive', 'c2d-feedback'].includes(n.type));
      for (const n of statusNodes) await statusReaches(helper.getNode(n.id), isConnected, 30_000);
      const missing = (): string[] =>
        story.flatMap(([name, ...shows]) =>
          shows.filter((re) => !debugged.some((d) => d.name === name && re.test(d.msg))).map((re) => `${name}: ${re.source}`),
        );
      // Checked on every debug message, up to 45 s.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 45_000);
        onDebug = () => {
          if (missing().length > 0) return;
          clearTimeout(timer);
          resolve();
        };
        onDebug();
      });
      onDebug = () => undefined;
      assert.deepEqual(missing(), [], `debug sidebar had: ${debugged.map((d) => `[${d.name}] ${d.msg.slice(0, 200)}`).join('\n')}`);
      // Still green at the end of the story: nothing failed along the way.
      for (const n of statusNodes) assert.equal((await statusReaches(helper.getNode(n.id), () => true)).fill, 'green', n.id);
    });
  }

  it(`${NEEDS_AZURE.replace(/\.json$/, '')}: until its connection strings are given, every node says so in words: "no connection string"`, async () => {
    const flow = JSON.parse(fs.readFileSync(path.join(dir, NEEDS_AZURE), 'utf8')) as N[];
    await helper.load([...ALL_NODES, ...CORE_NODES], flow);
    for (const n of flow.filter((x) => ['c2d-send', 'c2d-receive', 'c2d-feedback'].includes(x.type))) {
      const s = await statusReaches(helper.getNode(n.id), (x) => x.fill === 'red', 20_000);
      assert.deepEqual(s, { fill: 'red', shape: 'ring', text: 'no connection string' }, n.id);
    }
  });
});

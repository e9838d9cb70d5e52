/**
 * 100 full redeploys under traffic: before every redeploy a message goes to
 * c2d-send (every other one confirmed before the redeploy, the rest cut off
 * in flight), and c2d-receive (settle on emit) completes what
 * arrives. Every send the hub confirmed (c2d-send's output) must reach the
 * receiver in the end, and no handle, timer or socket may be left behind.
 */
import { strict as assert } from 'node:assert';
import { ALL_NODES, baseFlow, helper, isConnected, statusReaches, tempDir, deploy } from './helpers';

type M = Record<string, unknown>;
type Listener = { on(e: 'input', f: (m: M) => void): void };

function resourceCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

describe('nodes: 100 redeploys under traffic', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('lose no confirmed message and leak nothing', async () => {
    const flow = (n: number): object[] => [
      ...baseFlow(tmp.dir, { ttl: String(3600 + n) }),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', deviceId: 'dev1', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', settle: 'emit', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
    ];
    const confirmed = new Set<string>();
    const seen = new Set<string>();
    let wake: (() => void) | undefined;
    /** Listens on the helper nodes of the flow now deployed (a redeploy makes new ones). */
    const listen = (): void => {
      (helper.getNode('sent') as unknown as Listener).on('input', (m) => {
        confirmed.add(String((m.c2d as M | undefined)?.messageId));
        wake?.();
      });
      (helper.getNode('got') as unknown as Listener).on('input', (m) => {
        seen.add(String(m.messageId));
        wake?.();
      });
    };
    await helper.load(ALL_NODES, flow(0));
    listen();
    await statusReaches(helper.getNode('recv'), isConnected);
    const baseline = resourceCounts();
    const heap0 = process.memoryUsage().heapUsed;
    for (let i = 1; i <= 100; i++) {
      // Every other send is confirmed before the redeploy (so the queue holds messages across it);
      // the rest are not awaited: the redeploy stops c2d-send while they may be in flight.
      helper.getNode('send').receive({ payload: `t${i}`, messageId: `t${i}` });
      while (i % 2 === 0 && !confirmed.has(`t${i}`)) await new Promise<void>((resolve) => (wake = resolve));
      await deploy(flow(i), 'full');
      listen();
    }
    // One more send on the settled flow, so the run ends with traffic that surely flows.
    helper.getNode('send').receive({ payload: 'last', messageId: 'last' });
    const missing = (): string[] => [...confirmed].filter((id) => !seen.has(id));
    while (!confirmed.has('last') || missing().length > 0) {
      await new Promise<void>((resolve) => (wake = resolve));
    }
    console.log(`      100 redeploys under traffic: ${confirmed.size} sends confirmed, all ${confirmed.size} received (${seen.size} distinct ids seen)`);
    assert.ok(confirmed.size >= 50, `some sends were confirmed between redeploys (${confirmed.size})`);
    const after = resourceCounts();
    for (const [kind, n] of after) assert.ok(n <= (baseline.get(kind) ?? 0) + 2, `${kind}: ${baseline.get(kind) ?? 0} -> ${n}`);
    const grownMb = (process.memoryUsage().heapUsed - heap0) / 1e6;
    assert.ok(grownMb < 80, `heap grew ${grownMb.toFixed(1)} MB over 100 redeploys`);
  });
});

import { strict as assert } from 'node:assert';
import { ALL_NODES, baseFlow, helper, isConnected, statusReaches, tempDir, deploy } from './helpers';

type M = Record<string, unknown>;
const SECRETS = {
  connectionString: 'HostName=127.0.0.1:1;SharedAccessKeyName=iothubowner;SharedAccessKey=c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==',
  clientSecret: 'client-secret-value-42',
};

let hasServers = true;
try {
  require.resolve('../../lib/hub/embedded');
} catch {
  hasServers = false;
}

interface RedNodes {
  getFlows(): { flows: object[] };
  getCredentialDefinition(type: string): Record<string, { type: string }>;
}

function redNodes(): RedNodes {
  return (helper as unknown as { _redNodes: RedNodes })._redNodes;
}

function resourceCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const r of process.getActiveResourcesInfo()) m.set(r, (m.get(r) ?? 0) + 1);
  return m;
}

describe('nodes: lifecycle and secrets', function () {
  this.timeout(120_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('credentials stay out of the flow JSON and the log; secret fields are password credentials', async () => {
    await helper.load(
      ALL_NODES,
      [
        { id: 'f1', type: 'tab' },
        { id: 'net', type: 'c2d-hub-config', target: 'network', role: 'service', transport: 'amqp', auth: 'connection-string' },
        { id: 's1', z: 'f1', type: 'c2d-send', hub: 'net', wires: [[]] },
      ],
      { net: SECRETS },
    );
    // The connection is refused (port 1): the status names the error while retrying, never the key.
    const s = await statusReaches(helper.getNode('s1'), (x) => /ECONNREFUSED/.test(String(x.text)));
    assert.doesNotMatch(JSON.stringify(s), /SharedAccessKey|c2VjcmV0/);
    const flows = JSON.stringify(redNodes().getFlows().flows);
    for (const v of Object.values(SECRETS)) assert.ok(!flows.includes(v), 'secret in flow JSON');
    const log = JSON.stringify((helper as unknown as { log(): { args: unknown[] } }).log().args);
    assert.ok(!log.includes('c2VjcmV0'), 'key in the log');
    const def = redNodes().getCredentialDefinition('c2d-hub-config');
    for (const k of ['connectionString', 'sasToken', 'key', 'passphrase', 'clientSecret']) assert.equal(def[k]?.type, 'password', k);
    assert.equal(redNodes().getCredentialDefinition('c2d-hub').deviceKey.type, 'password');
  });

  it('100 full redeploys leave no handles, timers or hooks behind, with bounded memory, and lose no queued message', async () => {
    const flow = (n: number): object[] => [
      // With the servers in this build, every hub binds three ephemeral ports (on 127.0.0.1 and ::1).
      ...baseFlow(tmp.dir, { ttl: String(3600 + n), ...(hasServers ? { host: 'localhost', amqpsPort: '0', mqttsPort: '0', httpsPort: '0' } : {}) }),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', deviceId: 'dev1', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', settle: 'manual', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
      { id: 'fb', z: 'f1', type: 'c2d-feedback', hub: 'svc', wires: [[]] },
    ];
    await helper.load(ALL_NODES, flow(0));
    await statusReaches(helper.getNode('recv'), isConnected);
    const settle = async (): Promise<void> => {
      // a full redeploy waits for the previous hub to close, then starts a new one
      await statusReaches(helper.getNode('recv'), isConnected);
      await statusReaches(helper.getNode('send'), isConnected);
    };
    const messageIdArrives = (id: string): Promise<void> =>
      new Promise((resolve) => {
        const node = helper.getNode('got');
        const on = (m: M): void => {
          if (m.messageId !== id) return;
          node.off('input', on);
          resolve();
        };
        node.on('input', on);
      });
    const baseline = resourceCounts();
    global.gc?.();
    const heap0 = process.memoryUsage().heapUsed;
    for (let i = 1; i <= 100; i++) {
      await deploy(flow(i), 'full');
      if (i % 25 === 0) {
        await settle();
        // One message per checkpoint, sent and left locked (manual): each redeploy releases the locks, so
        // the earlier ones come again too; wait for this one.
        const got = messageIdArrives(`m${i}`);
        helper.getNode('send').receive({ payload: `m${i}`, messageId: `m${i}` });
        await got;
      }
    }
    await settle();
    // After one more redeploy every message sent is delivered again: none was lost, none completed.
    await deploy(flow(101), 'full');
    const seen = new Set<string>();
    await new Promise<void>((resolve) => {
      helper.getNode('got').on('input', (m: M) => {
        seen.add(m.messageId as string);
        if (seen.size === 4) resolve();
      });
    });
    assert.deepEqual([...seen].sort(), ['m100', 'm25', 'm50', 'm75']);
    const after = resourceCounts();
    for (const [kind, n] of after) assert.ok(n <= (baseline.get(kind) ?? 0) + 2, `${kind}: ${baseline.get(kind) ?? 0} -> ${n}`);
    global.gc?.();
    const grownMb = (process.memoryUsage().heapUsed - heap0) / 1e6;
    assert.ok(grownMb < 50, `heap grew ${grownMb.toFixed(1)} MB over 100 redeploys`);
    console.log(
      `      100 redeploys: resources ${JSON.stringify(Object.fromEntries(baseline))} -> ${JSON.stringify(Object.fromEntries(after))}, heap +${grownMb.toFixed(1)} MB`,
    );
  });
});

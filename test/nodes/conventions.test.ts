/**
 * Node-RED's own conventions, on a real Node-RED runtime with the core
 * tls-config and http proxy nodes: the c2d-hub's certificate from a
 * tls-config node; a c2d-hub-config's CA and X.509 device certificate from
 * one; the WebSocket transports through an http proxy node (basic auth)
 * and through HTTPS_PROXY; `${NAME}` in credentials; the hub's counters
 * through node.metric() when metrics logging is on.
 */
import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import * as tls from 'node:tls';
import { ensureTlsMaterial } from '../../lib/hub/tls';
import { runningHubs } from '../../nodes/support/hub-registry';
import { ALL_NODES, baseFlow, helper, isConnected, nextMsg, statusReaches, tempDir, type TestNode } from './helpers';

/* eslint-disable @typescript-eslint/no-require-imports */
const CORE = [require('@node-red/nodes/core/network/05-tls.js'), require('@node-red/nodes/core/network/06-httpproxy.js')];
/* eslint-enable @typescript-eslint/no-require-imports */
const NODES = [...ALL_NODES, ...CORE];
const KEY = Buffer.alloc(32, 7).toString('base64');

type HubNode = TestNode & { ready: Promise<void>; ports: Record<string, number> };

async function startProxy(auth?: { user: string; password: string }): Promise<{ port: number; connects: boolean[]; close(): Promise<void> }> {
  const { createProxy } = await import('proxy');
  const server = createProxy(http.createServer());
  const connects: boolean[] = [];
  const expected = auth ? `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}` : undefined;
  server.authenticate = (req) => {
    const ok = !expected || req.headers['proxy-authorization'] === expected;
    connects.push(ok);
    return ok;
  };
  // CONNECT tunnels leave the server's own connection tracking: close() destroys them itself.
  const tunnels = new Set<import('node:stream').Duplex>();
  server.on('connect', (_req: http.IncomingMessage, socket: import('node:stream').Duplex) => {
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connects,
    close: () =>
      new Promise((resolve) => {
        for (const t of tunnels) t.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A device config over the network (`netdev<suffix>`), a c2d-receive on it and a helper after it. */
function deviceFlow(config: Record<string, unknown>, suffix = ''): object[] {
  return [
    { id: `netdev${suffix}`, type: 'c2d-hub-config', target: 'network', role: 'device', auth: 'connection-string', deviceId: 'dev1', ...config },
    { id: `recv${suffix}`, z: 'f1', type: 'c2d-receive', hub: `netdev${suffix}`, settle: 'auto', wires: [[`got${suffix}`]] },
    { id: `got${suffix}`, z: 'f1', type: 'helper' },
  ];
}

describe('nodes: Node-RED conventions (tls-config, http proxy, ${ENV} credentials, node.metric)', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  const savedEnv = { ...process.env };
  beforeEach(async () => {
    tmp = tempDir();
    // The hub's self-signed certificate, made now so a flow can carry it as a CA before the hub starts.
    await ensureTlsMaterial(tmp.dir);
  });
  afterEach(async () => {
    await helper.unload();
    for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
    Object.assign(process.env, savedEnv);
    tmp.remove();
  });

  /** Starts a hub with an HTTPS port and dev1 (key KEY); returns its node and the CA to trust. */
  async function hubWith(
    extra: object[] = [],
    hub: Record<string, unknown> = {},
    creds: Record<string, Record<string, string>> = {},
  ): Promise<{ hubNode: HubNode; ca: string; flow: object[] }> {
    const flow = [...baseFlow(tmp.dir, { host: '127.0.0.1', httpsPort: '0', mqttsPort: '0', ...hub }), ...extra];
    await helper.load(NODES, flow, { hub: { deviceKey: KEY }, ...creds });
    const hubNode = helper.getNode('hub') as HubNode;
    await hubNode.ready;
    const caFile = path.join(tmp.dir, 'tls', 'cert.pem');
    return { hubNode, ca: fs.existsSync(caFile) ? fs.readFileSync(caFile, 'utf8') : '', flow };
  }

  /** Sends one message in-process and waits for c2d-receive to emit it. */
  async function delivered(hubNode: HubNode, body: string, deviceId = 'dev1', suffix = ''): Promise<void> {
    await statusReaches(helper.getNode(`recv${suffix}`), isConnected, 20_000);
    const got = nextMsg(helper.getNode(`got${suffix}`), 30_000);
    await hubNode.ready;
    await (await runningHubs.whenUp('hub')).send(deviceId, { body: Buffer.from(body) });
    assert.equal((await got).payload, body);
  }

  it('c2d-hub serves the certificate and key of a tls-config node instead of its self-signed one', async () => {
    const mine = await ensureTlsMaterial(path.join(tmp.dir, 'mine'));
    const { hubNode } = await hubWith(
      [{ id: 'tlsconf', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true }],
      { tls: 'tlsconf', dataDir: path.join(tmp.dir, 'hubdata') },
      { tlsconf: { certdata: mine.cert, keydata: mine.key } },
    );
    const socket = tls.connect({ host: '127.0.0.1', port: hubNode.ports.https!, ca: mine.cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    assert.equal(socket.getPeerX509Certificate()?.fingerprint256, mine.fingerprint256, 'the tls-config certificate');
    socket.destroy();
    assert.ok(!fs.existsSync(path.join(tmp.dir, 'hubdata', 'tls', 'cert.pem')), 'no self-signed certificate was made');
  });

  it("c2d-hub-config trusts the CA of a tls-config node, and takes a device's X.509 certificate and key from it", async () => {
    const { generate } = await import('selfsigned');
    const client = await generate([{ name: 'commonName', value: 'cam1' }], { keySize: 2048, algorithm: 'sha256' });
    const thumbprint = new X509Certificate(client.cert).fingerprint.replace(/:/g, '');
    const { hubNode, ca } = await hubWith();
    const hub = await runningHubs.whenUp('hub');
    await hub.registry.createDevice({ deviceId: 'cam1', authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumbprint } } });
    const flow = [
      ...baseFlow(tmp.dir, { host: '127.0.0.1', httpsPort: '0', mqttsPort: '0' }),
      { id: 'tlsca', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true },
      { id: 'tlsx509', type: 'tls-config', cert: '', key: '', ca: '', verifyservercert: true },
      ...deviceFlow({ tls: 'tlsca', transport: 'mqtt' }),
      {
        id: 'camcfg',
        type: 'c2d-hub-config',
        target: 'network',
        role: 'device',
        auth: 'x509',
        deviceId: 'cam1',
        hostName: `localhost:${hubNode.ports.mqtts}`,
        transport: 'mqtt',
        tls: 'tlsx509',
      },
      { id: 'camrecv', z: 'f1', type: 'c2d-receive', hub: 'camcfg', settle: 'auto', wires: [['camgot']] },
      { id: 'camgot', z: 'f1', type: 'helper' },
    ];
    await helper.setFlows(flow, 'nodes', {
      hub: { deviceKey: KEY },
      tlsca: { cadata: ca },
      tlsx509: { cadata: ca, certdata: client.cert, keydata: client.private },
      netdev: { connectionString: `HostName=localhost:${hubNode.ports.mqtts};DeviceId=dev1;SharedAccessKey=${KEY}` },
    });
    await delivered(hubNode, 'trusted through tls-config');
    await statusReaches(helper.getNode('camrecv'), isConnected, 30_000);
    const got = nextMsg(helper.getNode('camgot'), 30_000);
    await hub.send('cam1', { body: Buffer.from('to an X.509 device') });
    assert.equal((await got).payload, 'to an X.509 device');
  });

  /** A loopback port free now (bound and released), for a hub whose port the flow must name up front. */
  async function freePort(): Promise<number> {
    const s = http.createServer();
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const port = (s.address() as AddressInfo).port;
    await new Promise((resolve) => s.close(resolve));
    return port;
  }

  for (const transport of ['amqp-ws', 'mqtt-ws']) {
    for (const via of ['an http proxy node with basic auth', 'HTTPS_PROXY (no proxy node)']) {
      it(`${transport}: a c2d-hub-config reaches the hub through ${via}`, async () => {
        const node = via.startsWith('an http proxy');
        const proxy = await startProxy(node ? { user: 'nr', password: 'pa:ss' } : undefined);
        try {
          if (!node) process.env.HTTPS_PROXY = `http://127.0.0.1:${proxy.port}`;
          const port = await freePort();
          const cs = `HostName=localhost:${port};DeviceId=dev1;SharedAccessKey=${KEY}`;
          const extra = [
            ...(node ? [{ id: 'prox', type: 'http proxy', url: `http://127.0.0.1:${proxy.port}`, noproxy: ['example.org'] }] : []),
            ...deviceFlow({ transport, ...(node ? { proxy: 'prox' } : {}) }),
          ];
          const { hubNode } = await hubWith(
            extra,
            { httpsPort: String(port) },
            {
              ...(node ? { prox: { username: 'nr', password: 'pa:ss' } } : {}),
              netdev: { connectionString: cs, ca: fs.readFileSync(path.join(tmp.dir, 'tls', 'cert.pem'), 'utf8') },
            },
          );
          await delivered(hubNode, `through the proxy over ${transport}`);
          // One CONNECT per attempt (the first may come before the hub has bound its port), each authorized.
          assert.ok(proxy.connects.length >= 1 && proxy.connects.every(Boolean), JSON.stringify(proxy.connects));
        } finally {
          await proxy.close();
        }
      });
    }
  }

  it('${NAME} in credentials: inside a connection string and as a whole value, from the environment; an unset one is named, never the key', async () => {
    const { hubNode, ca } = await hubWith();
    process.env.C2D_TEST_DEVICE = 'dev1';
    process.env.C2D_TEST_DEVICE_KEY = KEY;
    process.env.C2D_TEST_CA = ca;
    const flow = [...baseFlow(tmp.dir, { host: '127.0.0.1', httpsPort: '0', mqttsPort: '0' }), ...deviceFlow({ transport: 'mqtt' })];
    const cs = `HostName=localhost:${hubNode.ports.mqtts};DeviceId=\${C2D_TEST_DEVICE};SharedAccessKey=\${C2D_TEST_DEVICE_KEY}`;
    await helper.setFlows(flow, 'nodes', { hub: { deviceKey: KEY }, netdev: { connectionString: cs, ca: '${C2D_TEST_CA}' } });
    await delivered(hubNode, 'one flow, a fleet of devices');

    delete process.env.C2D_TEST_DEVICE_KEY;
    await helper.setFlows([...flow, ...deviceFlow({ transport: 'mqtt' }, '2')], 'nodes', {
      hub: { deviceKey: KEY },
      netdev: { connectionString: cs, ca: '${C2D_TEST_CA}' },
      netdev2: { connectionString: cs, ca: '${C2D_TEST_CA}' },
    });
    const netdev = helper.getNode('netdev2') as TestNode & { warn: { getCalls(): Array<{ thisValue: unknown; args: unknown[] }> } };
    const warned = (): string[] =>
      netdev.warn
        .getCalls()
        .filter((c) => c.thisValue === netdev)
        .map((c) => String(c.args[0]));
    const deadline = Date.now() + 10_000;
    while (warned().length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.match(warned().join('\n'), /C2D_TEST_DEVICE_KEY \(in the connectionString credential\) is not set/);
    assert.ok(!warned().join('').includes(KEY));
    const s = await statusReaches(helper.getNode('recv2'), (x) => x.fill === 'red');
    assert.equal(s.text, '400004 ArgumentInvalid');
  });

  it("reports the hub's counters through node.metric() when metrics logging is on", async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const log = require('@node-red/util').log as { init(s: object): void };
    log.init({ logging: { console: { level: 'off', metrics: true } } });
    try {
      const flow = [...baseFlow(tmp.dir), { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', wires: [['sent']] }, { id: 'sent', z: 'f1', type: 'helper' }];
      await helper.load(NODES, flow);
      await (helper.getNode('hub') as HubNode).ready;
      const sent = nextMsg(helper.getNode('sent'));
      helper.getNode('send').receive({ payload: 'counted', deviceId: 'dev1' });
      await sent;
      const metrics = (helper as unknown as { log(): { args: Array<Array<{ level?: number; event?: string; value?: unknown; nodeid?: string }>> } })
        .log()
        .args.map((a) => a[0]!)
        .filter((m) => m.level === 99 && m.nodeid === 'hub');
      assert.ok(
        metrics.some((m) => m.event === 'node.c2d-hub.c2d_sends_total' && m.value === 1),
        JSON.stringify(metrics.map((m) => m.event)),
      );
      assert.ok(metrics.some((m) => m.event === 'node.c2d-hub.c2d_store_commits_total'));
    } finally {
      log.init({ logging: { console: { level: 'off' } } });
    }
  });
});

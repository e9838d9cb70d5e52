/**
 * The `embedded-network` target of c2d-hub-config: a c2d-hub of this
 * Node-RED over its real sockets, with the port, the CA and the key read from
 * the running hub, so nothing is typed and no secret is in the flow. Every
 * device transport, both service transports; and the status a person reads
 * when a config cannot connect ("no connection string", "hub has no mqtts port").
 */
import { strict as assert } from 'node:assert';
import type { DeviceTransport } from '../../lib/client/types';
import { runningHubs } from '../../nodes/support/hub-registry';
import { ALL_NODES, baseFlow, deploy, helper, isConnected, nextMsg, statusReaches, tempDir } from './helpers';

type M = Record<string, unknown>;

const TRANSPORTS: DeviceTransport[] = ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'];
const deviceOf = (t: DeviceTransport): string => `dev-${t}`;

describe('nodes: the embedded-network target (a c2d-hub of this Node-RED, over its sockets)', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  const cfg = (id: string, role: string, transport: string, deviceId = ''): M => ({
    id,
    type: 'c2d-hub-config',
    target: 'embedded-network',
    hub: 'hub',
    role,
    transport,
    deviceId,
  });

  it('every device transport and both service transports connect with nothing typed; messages go over the network and feedback comes back', async () => {
    const flow: M[] = [
      ...(baseFlow(tmp.dir, { amqpsPort: '0', mqttsPort: '0', httpsPort: '0', devices: TRANSPORTS.map(deviceOf).join(', ') }) as M[]),
      cfg('svc-amqp', 'service', 'amqp'),
      cfg('svc-ws', 'service', 'amqp-ws'),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc-amqp', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'send-ws', z: 'f1', type: 'c2d-send', hub: 'svc-ws', wires: [['sent']] },
      { id: 'fb', z: 'f1', type: 'c2d-feedback', hub: 'svc-ws', wires: [['fbout']] },
      { id: 'fbout', z: 'f1', type: 'helper' },
      ...TRANSPORTS.flatMap((t) => [
        cfg(`cfg-${t}`, 'device', t, deviceOf(t)),
        { id: `recv-${t}`, z: 'f1', type: 'c2d-receive', hub: `cfg-${t}`, settle: 'emit', pollInterval: '0.2', wires: [[`got-${t}`]] },
        { id: `got-${t}`, z: 'f1', type: 'helper' },
      ]),
    ];
    // No credentials at all: the configs take what they need from the hub node.
    await helper.load(ALL_NODES, flow);
    const records: M[] = [];
    helper.getNode('fbout').on('input', (m: M) => records.push(m.payload as M));
    for (const id of ['send', 'send-ws', 'fb', ...TRANSPORTS.map((t) => `recv-${t}`)]) await statusReaches(helper.getNode(id), isConnected, 30_000);
    for (const id of ['svc-amqp', 'svc-ws', ...TRANSPORTS.map((t) => `cfg-${t}`)]) {
      assert.deepEqual(helper.getNode(id).credentials ?? {}, {}, `${id} holds no secret`);
    }
    const hub = runningHubs.get('hub')!;
    const ids: string[] = [];
    for (const [i, t] of TRANSPORTS.entries()) {
      const got = nextMsg(helper.getNode(`got-${t}`), 30_000);
      const messageId = `over-${t}`;
      ids.push(messageId);
      helper.getNode(i % 2 ? 'send-ws' : 'send').receive({ payload: { via: t }, deviceId: deviceOf(t), messageId, ack: 'positive' });
      const m = await got;
      assert.deepEqual([m.messageId, m.payload], [messageId, { via: t }]);
    }
    const deadline = Date.now() + 30_000;
    while (records.length < ids.length && Date.now() < deadline) await nextMsg(helper.getNode('fbout'), 30_000);
    assert.deepEqual(records.map((r) => [r.originalMessageId, r.statusCode]).sort(), ids.map((id) => [id, 'Success']).sort());
    // Each delivery went over the transport asked for (not in-process).
    for (const t of TRANSPORTS) {
      const delivered = hub.trace(`over-${t}`).find((e) => e.event === 'delivered');
      assert.equal(delivered?.transport, t, `${t}: ${JSON.stringify(hub.trace(`over-${t}`))}`);
    }
  });

  it('connects where the hub listens while tokens name the hub: a hub name that resolves nowhere still works', async () => {
    const flow: M[] = [
      ...(baseFlow(tmp.dir, { hubName: 'c2d-test-hub.invalid', amqpsPort: '0', mqttsPort: '0', httpsPort: '0', devices: 'dev1' }) as M[]),
      cfg('scfg', 'service', 'amqp'),
      cfg('wscfg', 'service', 'amqp-ws'),
      cfg('dcfg', 'device', 'mqtt', 'dev1'),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'scfg', deviceId: 'dev1', wires: [[]] },
      { id: 'send-ws', z: 'f1', type: 'c2d-send', hub: 'wscfg', deviceId: 'dev1', wires: [[]] },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dcfg', settle: 'emit', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
    ];
    await helper.load(ALL_NODES, flow);
    for (const id of ['send', 'send-ws', 'recv']) await statusReaches(helper.getNode(id), isConnected, 30_000);
    for (const [sender, id] of [
      ['send', 'n1'],
      ['send-ws', 'n2'],
    ] as const) {
      const got = nextMsg(helper.getNode('got'), 30_000);
      helper.getNode(sender).receive({ payload: 'x', messageId: id });
      assert.equal((await got).messageId, id);
    }
  });

  it('follows the hub when it restarts on other ports (a partial deploy of the hub node alone)', async () => {
    const flow: M[] = [
      ...(baseFlow(tmp.dir, { amqpsPort: '0', mqttsPort: '0', httpsPort: '', devices: 'dev1' }) as M[]),
      cfg('dcfg', 'device', 'mqtt', 'dev1'),
      cfg('scfg', 'service', 'amqp'),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'scfg', deviceId: 'dev1', wires: [[]] },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dcfg', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
    ];
    await helper.load(ALL_NODES, flow);
    await statusReaches(helper.getNode('recv'), isConnected, 30_000);
    const before = (helper.getNode('hub') as unknown as { ports: Record<string, number> }).ports;
    await deploy(
      flow.map((n) => (n.id === 'hub' ? { ...n, ttl: '7200' } : n)),
      'nodes',
    );
    await (helper.getNode('hub') as unknown as { ready: Promise<void> }).ready;
    const after = (helper.getNode('hub') as unknown as { ports: Record<string, number> }).ports;
    assert.notDeepEqual(after, {});
    await statusReaches(helper.getNode('recv'), isConnected, 30_000);
    await statusReaches(helper.getNode('send'), isConnected, 30_000);
    const got = nextMsg(helper.getNode('got'), 30_000);
    helper.getNode('send').receive({ payload: 'after the restart', messageId: 'r1' });
    assert.equal((await got).messageId, 'r1');
    assert.ok(before.mqtts !== undefined && after.mqtts !== undefined);
  });

  it('a status a person understands: "no connection string", "bad connection string", "hub has no mqtts port", "no device ID"; the log has the sentence', async () => {
    const flow: M[] = [
      ...(baseFlow(tmp.dir, { amqpsPort: '', mqttsPort: '', httpsPort: '0', devices: 'dev1' }) as M[]),
      { id: 'nocs', type: 'c2d-hub-config', target: 'network', role: 'device', transport: 'mqtt', auth: 'connection-string' },
      { id: 'badcs', type: 'c2d-hub-config', target: 'network', role: 'device', transport: 'mqtt', auth: 'connection-string' },
      { id: 'badsvc', type: 'c2d-hub-config', target: 'network', role: 'service', transport: 'amqp', auth: 'connection-string' },
      cfg('noport', 'device', 'mqtt', 'dev1'),
      cfg('noid', 'device', 'http', ''),
      cfg('ghostcfg', 'device', 'http', 'ghost'),
      { id: 'r-nocs', z: 'f1', type: 'c2d-receive', hub: 'nocs', wires: [[]] },
      { id: 'r-badcs', z: 'f1', type: 'c2d-receive', hub: 'badcs', wires: [[]] },
      { id: 's-badsvc', z: 'f1', type: 'c2d-send', hub: 'badsvc', wires: [[]] },
      { id: 'r-noport', z: 'f1', type: 'c2d-receive', hub: 'noport', wires: [[]] },
      { id: 'r-noid', z: 'f1', type: 'c2d-receive', hub: 'noid', wires: [[]] },
      { id: 'r-ghost', z: 'f1', type: 'c2d-receive', hub: 'ghostcfg', wires: [[]] },
    ];
    await helper.load(ALL_NODES, flow, {
      badcs: { connectionString: 'HostName=localhost;DeviceId=dev1;SharedAccessKey=not base64!' },
      badsvc: { connectionString: 'HostName=localhost;DeviceId=dev1;SharedAccessKey=AAAA' },
    });
    const red = async (id: string): Promise<unknown> => (await statusReaches(helper.getNode(id), (s) => s.fill === 'red', 20_000)).text;
    assert.equal(await red('r-nocs'), 'no connection string');
    assert.equal(await red('r-badcs'), 'bad connection string');
    assert.equal(await red('s-badsvc'), 'bad connection string');
    assert.equal(await red('r-noport'), 'hub has no mqtts port');
    assert.equal(await red('r-noid'), 'no device ID');
    assert.equal(await red('r-ghost'), '404001 DeviceNotFound');
    const log = (helper as unknown as { log(): { args: unknown[][] } }).log().args.map((a) => JSON.stringify(a[0]));
    assert.ok(
      log.some((l) => /Connection string is not set in the c2d-hub-config/.test(l)),
      'the log says what is missing',
    );
    assert.ok(
      log.some((l) => /SharedAccessKey is not base64/.test(l)),
      'the log says what is wrong',
    );
    assert.ok(!log.some((l) => l.includes('not base64!')), 'but not the value');
  });
});

import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ALL_NODES, baseFlow, helper, isConnected, nextMsg, statusReaches, tempDir, deploy } from './helpers';

type M = Record<string, unknown>;
const KEY = Buffer.alloc(32, 3).toString('base64');
const SKEY = Buffer.alloc(32, 5).toString('base64');

/** Network targets: configs by connection string with the hub's CA, against a c2d-hub on ephemeral ports. */
describe('nodes: network targets (c2d-hub on ephemeral ports)', function () {
  this.timeout(60_000);
  let tmp: ReturnType<typeof tempDir>;
  before(() => (tmp = tempDir()));
  after(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('binds ephemeral ports, shows them in its status, and serves AMQP (service), MQTT and HTTP devices; reject over MQTT is 405001', async () => {
    const hubFlow = baseFlow(tmp.dir, { host: 'localhost', amqpsPort: '0', mqttsPort: '0', httpsPort: '0', devices: 'mq1, ht1' });
    await helper.load(ALL_NODES, hubFlow, { hub: { deviceKey: KEY, serviceKey: SKEY } });
    const hubNode = helper.getNode('hub') as unknown as { ready: Promise<void>; ports: Record<string, number> } & Parameters<typeof statusReaches>[0];
    await hubNode.ready;
    const ports = hubNode.ports;
    for (const p of ['amqps', 'mqtts', 'https']) assert.ok(ports[p]! > 0, p);
    await statusReaches(hubNode, (s) => s.fill === 'green' && String(s.text).includes(`amqps:${ports.amqps}`));
    const ca = fs.readFileSync(path.join(tmp.dir, 'tls', 'cert.pem'), 'utf8');
    const net = (id: string, role: string, transport: string, deviceId = ''): object => ({
      id,
      type: 'c2d-hub-config',
      target: 'network',
      role,
      transport,
      deviceId,
      auth: 'connection-string',
    });
    const flow = [
      ...hubFlow,
      net('nsvc', 'service', 'amqp'),
      net('nmq', 'device', 'mqtt', 'mq1'),
      net('nht', 'device', 'http', 'ht1'),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'nsvc', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'rmq', z: 'f1', type: 'c2d-receive', hub: 'nmq', settle: 'manual', wires: [['gotmq']] },
      { id: 'gotmq', z: 'f1', type: 'helper' },
      { id: 'rht', z: 'f1', type: 'c2d-receive', hub: 'nht', settle: 'auto', pollInterval: '0.2', wires: [['sink']] },
      { id: 'sink', z: 'f1', type: 'test-sink', wires: [['gotht']] },
      { id: 'gotht', z: 'f1', type: 'helper' },
      { id: 'ack', z: 'f1', type: 'c2d-ack', action: 'msg', wires: [['acked']] },
      { id: 'acked', z: 'f1', type: 'helper' },
      { id: 'fb', z: 'f1', type: 'c2d-feedback', hub: 'nsvc', wires: [['fbout']] },
      { id: 'fbout', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: ['ack', 'send'], wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
    ];
    const host = (p: number): string => `localhost:${p}`;
    // 'nodes' deploy: only the new nodes start; the hub keeps its ports.
    await deploy(flow, 'nodes', {
      hub: { deviceKey: KEY, serviceKey: SKEY },
      nsvc: { connectionString: `HostName=${host(ports.amqps!)};SharedAccessKeyName=iothubowner;SharedAccessKey=${SKEY}`, ca },
      nmq: { connectionString: `HostName=${host(ports.mqtts!)};DeviceId=mq1;SharedAccessKey=${KEY}`, ca },
      nht: { connectionString: `HostName=${host(ports.https!)};DeviceId=ht1;SharedAccessKey=${KEY}`, ca },
    });
    await statusReaches(helper.getNode('send'), isConnected, 30_000);
    await statusReaches(helper.getNode('rmq'), isConnected, 30_000);
    await statusReaches(helper.getNode('rht'), isConnected, 30_000);

    // HTTP-polling device, auto-complete; feedback over AMQP.
    const gotht = nextMsg(helper.getNode('gotht'), 30_000);
    const fb = nextMsg(helper.getNode('fbout'), 30_000);
    helper.getNode('send').receive({ payload: { via: 'http' }, deviceId: 'ht1', messageId: 'h1', ack: 'full', properties: { k: 'v' } });
    const h = await gotht;
    assert.deepEqual(h.payload, { via: 'http' });
    assert.deepEqual(h.properties, { k: 'v' });
    assert.equal(h.deliveryCount, 0);
    assert.match(String(h.enqueuedTimeUtc), /^20\d\d-/);
    const f = await fb;
    assert.equal(f.topic, 'Success');
    assert.equal((f.payload as M).originalMessageId, 'h1');

    // MQTT device, manual: reject is refused with 405001, complete works.
    const gotmq = nextMsg(helper.getNode('gotmq'), 30_000);
    helper.getNode('send').receive({ payload: 'over mqtt', deviceId: 'mq1', messageId: 'q1' });
    const q = await gotmq;
    assert.equal(q.payload, 'over mqtt');
    // MQTT does not carry them: no msg property, rather than 0 or 1970.
    for (const f of ['enqueuedTimeUtc', 'deliveryCount', 'sequenceNumber']) assert.equal(f in q, false, f);
    assert.equal(q.messageId, 'q1');
    const caught = nextMsg(helper.getNode('caught'));
    helper.getNode('ack').receive({ ...q, action: 'reject' });
    assert.equal(((await caught).error as M).code, 405001);
    const acked = nextMsg(helper.getNode('acked'), 30_000);
    helper.getNode('ack').receive({ ...q, action: 'complete' });
    assert.equal(((await acked).settlement as M).action, 'complete');

    // Unknown device over the network: 404001 at the Catch node.
    const c404 = nextMsg(helper.getNode('caught'), 30_000);
    helper.getNode('send').receive({ payload: 'x', deviceId: 'nobody' });
    assert.equal(((await c404).error as M).code, 404001);
  });

  it('a port in use: red status with EADDRINUSE, no crash', async () => {
    await helper.unload();
    const other = tempDir();
    try {
      await helper.load(ALL_NODES, baseFlow(tmp.dir, { host: 'localhost', amqpsPort: '0', mqttsPort: '0', httpsPort: '0' }));
      const h1 = helper.getNode('hub') as unknown as { ready: Promise<void>; ports: Record<string, number> };
      await h1.ready;
      // hub2 asks for the port hub 1 holds now.
      await deploy(
        [
          ...baseFlow(tmp.dir, { host: 'localhost', amqpsPort: '0', mqttsPort: '0', httpsPort: '0' }),
          {
            id: 'hub2',
            z: 'f1',
            type: 'c2d-hub',
            dataDir: other.dir,
            host: 'localhost',
            amqpsPort: String(h1.ports.amqps),
            mqttsPort: '',
            httpsPort: '',
            wires: [[]],
          },
        ],
        'nodes',
      );
      const s = await statusReaches(helper.getNode('hub2'), (x) => x.fill === 'red');
      assert.equal(s.text, 'EADDRINUSE');
    } finally {
      await helper.unload();
      other.remove();
    }
  });
});

import { strict as assert } from 'node:assert';
import { InProcessDeviceClient } from '../../lib/client/in-process';
import { runningHubs } from '../../nodes/support/hub-registry';
import { ALL_NODES, baseFlow, helper, isConnected, lastStatus, nextMsg, statusReaches, tempDir, deploy } from './helpers';

type M = Record<string, unknown>;
const KEY = Buffer.alloc(32, 7).toString('base64');
const SERVICE_KEY = Buffer.alloc(32, 9).toString('base64');

describe('nodes: c2d-hub', function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('management actions: createDevice (keys left out unless asked), getDevice, listDevices, purge, stats, deleteDevice; bad ones reach Catch', async () => {
    await helper.load(
      ALL_NODES,
      [
        ...baseFlow(tmp.dir, { wires: [['out']] }),
        { id: 'out', z: 'f1', type: 'helper' },
        { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', wires: [[]] },
        { id: 'catcher', z: 'f1', type: 'catch', scope: ['hub'], wires: [['caught']] },
        { id: 'caught', z: 'f1', type: 'helper' },
      ],
      { hub: { deviceKey: KEY, serviceKey: SERVICE_KEY } },
    );
    const hub = helper.getNode('hub');
    await hub.ready;
    const out = helper.getNode('out');
    const act = async (msg: M): Promise<M> => {
      const p = new Promise<M>((resolve) => {
        const on = (m: M): void => {
          if (m.action !== msg.action) return; // hub events share the output
          out.off('input', on);
          resolve(m);
        };
        out.on('input', on);
      });
      hub.receive(msg);
      return p;
    };
    const created = (await act({ action: 'createDevice', deviceId: 'dev2' })).payload as M;
    assert.equal(created.deviceId, 'dev2');
    assert.deepEqual((created.authentication as M).symmetricKey, { primaryKey: null, secondaryKey: null });
    const withKeys = (await act({ action: 'getDevice', deviceId: 'dev1', includeKeys: true })).payload as M;
    assert.equal(((withKeys.authentication as M).symmetricKey as M).primaryKey, KEY, 'the device key from credentials');
    const list = (await act({ action: 'listDevices' })).payload as M[];
    assert.deepEqual(list.map((d) => d.deviceId).sort(), ['dev1', 'dev2']);
    await statusReaches(helper.getNode('send'), isConnected);
    helper.getNode('send').receive({ payload: 'a', deviceId: 'dev2' });
    const stats = (await act({ action: 'stats' })).payload as M;
    assert.equal(stats.devices, 2);
    assert.deepEqual(stats.ports, {});
    assert.equal(stats.synchronous, 'FULL', 'the store syncs every commit unless told otherwise');
    assert.deepEqual((await act({ action: 'purge', deviceId: 'dev2' })).payload, { deviceId: 'dev2', purged: 1 });
    assert.deepEqual((await act({ action: 'deleteDevice', deviceId: 'dev2' })).payload, { deviceId: 'dev2', deleted: true });
    for (const [msg, code] of [
      [{ action: 'explode' }, 400004],
      [{ action: 'getDevice', deviceId: 'dev2' }, 404001],
      [{ action: 'purge' }, 400004],
    ] as const) {
      const c = nextMsg(helper.getNode('caught'));
      hub.receive(msg);
      assert.equal(((await c).error as M).code, code, JSON.stringify(msg));
    }
  });

  it('store sync NORMAL reaches the store (stats reports what SQLite runs with); a value other than FULL or NORMAL stops the start with 400004', async () => {
    await helper.load(ALL_NODES, [...baseFlow(tmp.dir, { storeSync: 'NORMAL', wires: [['out']] }), { id: 'out', z: 'f1', type: 'helper' }]);
    const hub = helper.getNode('hub');
    await hub.ready;
    const reply = new Promise<M>((resolve) => helper.getNode('out').on('input', (m: M) => m.action === 'stats' && resolve(m)));
    hub.receive({ action: 'stats' });
    assert.equal(((await reply).payload as M).synchronous, 'NORMAL');
    await helper.unload();

    await helper.load(ALL_NODES, baseFlow(tmp.dir, { storeSync: 'OFF' }));
    await helper.getNode('hub').ready;
    assert.equal(lastStatus(helper.getNode('hub'))?.text, '400004 ArgumentInvalid');
  });

  it('emits hub events as { topic, payload } when its output is wired', async () => {
    await helper.load(ALL_NODES, [
      ...baseFlow(tmp.dir, { wires: [['events']] }),
      { id: 'events', z: 'f1', type: 'helper' },
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', deviceId: 'dev1', wires: [[]] },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', settle: 'emit', wires: [[]] },
    ]);
    const topics: string[] = [];
    const seen = new Promise<void>((resolve) =>
      helper.getNode('events').on('input', (m: M) => {
        topics.push(m.topic as string);
        if (m.topic === 'completed') resolve();
      }),
    );
    await statusReaches(helper.getNode('recv'), isConnected);
    helper.getNode('send').receive({ payload: 'x', messageId: 'ev1' });
    await seen;
    assert.ok(
      ['deviceConnected', 'enqueued', 'delivered', 'completed'].every((t) => topics.includes(t)),
      topics.join(),
    );
  });

  it('puts device-to-cloud messages on its output: topic deviceToCloud, payload { deviceId, body, properties }', async () => {
    await helper.load(ALL_NODES, [...baseFlow(tmp.dir, { wires: [['events']] }), { id: 'events', z: 'f1', type: 'helper' }]);
    const hub = await runningHubs.whenUp('hub');
    const d2c = new Promise<M>((resolve) => helper.getNode('events').on('input', (m: M) => m.topic === 'deviceToCloud' && resolve(m)));
    const device = new InProcessDeviceClient(hub, 'dev1');
    await device.open();
    await device.sendEvent(Buffer.from('21.5'), { unit: 'C' });
    const m = await d2c;
    await device.close();
    const p = m.payload as { deviceId: string; body: Buffer; properties: Record<string, string> };
    assert.equal(p.deviceId, 'dev1');
    assert.equal(Buffer.from(p.body).toString(), '21.5');
    assert.deepEqual(p.properties, { unit: 'C' });
  });

  it('a redeploy of the hub node alone keeps queued messages; the configs reconnect to the new hub', async () => {
    const flow = [
      ...baseFlow(tmp.dir),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', deviceId: 'dev1', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
    ];
    await helper.load(ALL_NODES, flow);
    await statusReaches(helper.getNode('send'), isConnected);
    const sent = nextMsg(helper.getNode('sent'));
    helper.getNode('send').receive({ payload: 'kept', messageId: 'k1' });
    await sent;
    // Change only the hub (a partial deploy restarts just it) and add a receiver.
    const changed = flow.map((n) => ((n as M).id === 'hub' ? { ...n, ttl: '7200' } : n));
    await deploy([...changed, { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', wires: [['got']] }, { id: 'got', z: 'f1', type: 'helper' }], 'nodes');
    const got = await nextMsg(helper.getNode('got'));
    assert.equal(got.messageId, 'k1');
    assert.equal(got.payload, 'kept');
    await statusReaches(helper.getNode('send'), isConnected);
  });
});

describe('nodes: status', function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('red ring with the code for an unknown device; yellow ring while the hub is missing; red when the role does not fit', async () => {
    await helper.load(ALL_NODES, [
      ...baseFlow(tmp.dir),
      { id: 'ghostcfg', type: 'c2d-hub-config', target: 'embedded', hub: 'hub', role: 'device', deviceId: 'ghost' },
      { id: 'nohub', type: 'c2d-hub-config', target: 'embedded', hub: 'missing-hub', role: 'service' },
      { id: 'r1', z: 'f1', type: 'c2d-receive', hub: 'ghostcfg', wires: [[]] },
      { id: 's1', z: 'f1', type: 'c2d-send', hub: 'nohub', wires: [[]] },
      { id: 's2', z: 'f1', type: 'c2d-send', hub: 'dev', wires: [[]] },
    ]);
    const red = await statusReaches(helper.getNode('r1'), (s) => s.fill === 'red');
    assert.deepEqual(red, { fill: 'red', shape: 'ring', text: '404001 DeviceNotFound' });
    assert.deepEqual(lastStatus(helper.getNode('s1')), { fill: 'yellow', shape: 'ring', text: 'node-red:common.status.connecting' });
    assert.deepEqual(lastStatus(helper.getNode('s2')), { fill: 'red', shape: 'ring', text: 'needs service role' });
  });
});

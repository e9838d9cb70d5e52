/**
 * The sidebar's admin routes and live updates on a real Node-RED runtime
 * (node-red-node-test-helper, which lets every request through: permissions
 * are proven against a real Node-RED with adminAuth in admin-auth.test.ts),
 * with the real c2d-hub node and the plugin's runtime module.
 */
import { strict as assert } from 'node:assert';
import type { HubApi } from '../../lib/hub/api';
import { runningHubs } from '../../nodes/support/hub-registry';
import { InProcessDeviceClient } from '../../lib/client/in-process';
import { ALL_NODES, baseFlow, deploy, helper, tempDir } from '../nodes/helpers';

/* eslint-disable @typescript-eslint/no-require-imports */
const sidebarPlugin = require('../../nodes/c2d-sidebar') as (red: unknown) => void;
const runtimeEvents = (require('@node-red/util') as { events: NodeJS.EventEmitter }).events;
/* eslint-enable @typescript-eslint/no-require-imports */

interface Answer<T> {
  status: number;
  body: T;
}
interface Req {
  send(b: unknown): Req;
  set(k: string, v: string): Req;
  then: Promise<{ status: number; body: unknown }>['then'];
}
type M = Record<string, unknown>;

function admin<T = M>(method: 'get' | 'post' | 'patch' | 'delete', path: string, body?: unknown): Promise<Answer<T>> {
  const r = (helper as unknown as { request(): Record<string, (p: string) => Req> }).request()[method]!(path).set('Accept', 'application/json');
  return Promise.resolve(body === undefined ? r : r.send(body)).then((res) => ({ status: res.status, body: res.body as T }));
}

/** The next comms message on a topic (what RED.comms.publish emits on the runtime's event bus). */
function nextComms(topic: string, timeoutMs = 5_000): Promise<{ data: M; at: number }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      runtimeEvents.off('comms', on);
      reject(new Error(`no comms message on ${topic} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (m: { topic: string; data: M }): void => {
      if (m.topic !== topic) return;
      clearTimeout(timer);
      runtimeEvents.off('comms', on);
      resolve({ data: m.data, at: Date.now() });
    };
    runtimeEvents.on('comms', on);
  });
}

describe('sidebar admin routes and live updates (Node-RED runtime, c2d-hub node)', function () {
  let tmp: ReturnType<typeof tempDir>;
  let hub: HubApi;
  const base = '/c2d/hubs/hub';

  async function start(hubSettings: Record<string, unknown> = {}): Promise<void> {
    const up = nextComms('c2d/hubs');
    await helper.load([...ALL_NODES, sidebarPlugin], baseFlow(tmp.dir, { devices: 'demo-device,other', storeSync: 'NORMAL', name: 'the hub', ...hubSettings }));
    await (helper.getNode('hub') as { ready?: Promise<void> }).ready;
    assert.deepEqual((await up).data, { up: 'hub' }, 'editors hear that a hub came up');
    hub = runningHubs.get('hub')!;
  }

  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it("lists the deployed hubs, and a hub's summary: ports, counts, limits, rate history", async () => {
    await start();
    const hubs = await admin<M[]>('get', '/c2d/hubs');
    assert.equal(hubs.status, 200);
    assert.deepEqual(hubs.body, [{ id: 'hub', name: 'the hub', z: 'f1', running: true }]);
    await hub.send('demo-device', { body: Buffer.from('x') });
    const s = await admin('get', base);
    assert.equal(s.status, 200);
    assert.equal(s.body.hubName, 'localhost');
    assert.deepEqual(s.body.ports, {});
    for (const [k, v] of Object.entries({ devices: 2, connectedDevices: 0, queued: 1, locked: 0, deadLetters: 0, feedbackPending: 0, feedbackBatches: 0 }))
      assert.equal(s.body[k], v, k);
    assert.equal((s.body.limits as M).maxQueueDepth, 50);
    const rates = s.body.rates as { in: number[]; out: number[] };
    assert.equal(rates.in.length, 300);
    const unknown = await admin('get', '/c2d/hubs/nope');
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.code, 404000);
  });

  it('pages, sorts and filters 10,000 devices on the server, building only the rows asked for', async function () {
    this.timeout(120_000);
    await start();
    const ids = Array.from({ length: 10_000 }, (_, i) => `dev-${String(i).padStart(5, '0')}`);
    await Promise.all(ids.map((deviceId) => hub.registry.createDevice({ deviceId })));
    await hub.send('dev-09999', { body: Buffer.from('x') });
    const started = Date.now();
    const page = await admin<{ total: number; offset: number; items: M[] }>('get', `${base}/devices?offset=9950&limit=100`);
    const took = Date.now() - started;
    assert.equal(page.status, 200);
    assert.equal(page.body.total, 10_002);
    assert.equal(page.body.items.length, 52);
    // In id order: demo-device, dev-00000 ... dev-09999, other.
    assert.deepEqual(
      page.body.items.slice(-3).map((d) => d.deviceId),
      ['dev-09998', 'dev-09999', 'other'],
    );
    assert.deepEqual(page.body.items.at(-2), {
      deviceId: 'dev-09999',
      status: 'enabled',
      connections: [],
      pending: 1,
      locked: 0,
      deadLetters: 0,
      lastActivityUtc: page.body.items.at(-2)!.lastActivityUtc,
    });
    assert.ok(took < 2_000, `a page of 10,000 devices took ${took} ms`);
    const filtered = await admin<{ total: number; items: M[] }>('get', `${base}/devices?filter=DEV-0999&limit=5`);
    assert.equal(filtered.body.total, 10, 'case-insensitive part of the id');
    assert.deepEqual(
      filtered.body.items.map((d) => d.deviceId),
      ['dev-09990', 'dev-09991', 'dev-09992', 'dev-09993', 'dev-09994'],
    );
    for (const q of ['limit=0', 'limit=501', 'offset=-1', 'offset=x']) {
      const bad = await admin('get', `${base}/devices?${q}`);
      assert.equal(bad.status, 400, q);
      assert.equal(bad.body.code, 400004, q);
    }
  });

  it("a test message with body, properties and ack shows in the queue; cancel takes it out with its trace; bad input gets IoT Hub's codes", async () => {
    await start();
    const sent = await admin('post', `${base}/devices/demo-device/messages`, {
      body: '{"a":1}',
      properties: { room: 'hall' },
      ack: 'full',
      messageId: 'm-1',
      contentType: 'application/json',
    });
    assert.equal(sent.status, 201);
    assert.equal(sent.body.messageId, 'm-1');
    const d = await admin<M & { queue: M[] }>('get', `${base}/devices/demo-device`);
    assert.equal(d.status, 200);
    assert.equal(d.body.pending, 1);
    const [m] = d.body.queue;
    assert.equal(m!.state, 'Enqueued');
    assert.deepEqual(m!.properties, { room: 'hall' });
    assert.equal(m!.ack, 'full');
    assert.equal(m!.contentType, 'application/json');
    assert.deepEqual(m!.body, { encoding: 'utf8', text: '{"a":1}', bytes: 7, truncated: false });
    assert.equal(m!.lockToken, undefined, 'no lock token reaches the editor');
    // Locked: the view shows until when, and the delivery count.
    const got = await hub.receive('demo-device');
    const locked = (await admin<{ queue: M[] }>('get', `${base}/devices/demo-device`)).body.queue[0]!;
    assert.equal(locked.state, 'Invisible');
    assert.equal(typeof locked.lockedUntilUtc, 'number');
    await hub.abandon('demo-device', got!.lockToken);
    assert.equal((await admin<{ queue: M[] }>('get', `${base}/devices/demo-device`)).body.queue[0]!.deliveryCount, 1);
    const cancelled = await admin('delete', `${base}/devices/demo-device/messages/m-1`);
    assert.deepEqual([cancelled.status, cancelled.body], [200, { cancelled: 1 }]);
    const trace = await admin<{ entries: M[] }>('get', `${base}/trace/m-1`);
    assert.deepEqual(
      trace.body.entries.map((e) => e.event),
      ['enqueued', 'delivered', 'abandoned', 'cancelled', 'feedback'],
    );
    for (const [path, body, status, code] of [
      [`${base}/devices/demo-device/messages`, { body: 'x', ack: 'sometimes' }, 400, 400004],
      [`${base}/devices/demo-device/messages`, { body: 'x', properties: { n: 1 } }, 400, 400004],
      [`${base}/devices/nobody/messages`, { body: 'x' }, 404, 404001],
      [`${base}/devices/demo-device/messages`, { body: 'x'.repeat(70_000) }, 413, 413001],
    ] as const) {
      const r = await admin('post', path, body);
      assert.deepEqual([r.status, r.body.code], [status, code], JSON.stringify(body).slice(0, 60));
      assert.equal(typeof r.body.message, 'string');
    }
    const none = await admin('delete', `${base}/devices/demo-device/messages/m-404`);
    assert.deepEqual([none.status, none.body.code], [404, 404000]);
  });

  it('faults: POST .../devices/:device/faults injects one (the device row\'s "drop connection" is KillTcp, delay 0); bad input gets 400004 / 404001', async () => {
    await start();
    const device = new InProcessDeviceClient(hub, 'demo-device');
    await device.open();
    const requested = new Promise<M>((resolve) => hub.events.on('fault', (f: M) => f.phase === 'requested' && f.type === 'KillTcp' && resolve(f)));
    const drop = await admin('post', `${base}/devices/demo-device/faults`, { type: 'KillTcp', delayInSecs: 0 });
    assert.equal(drop.status, 201);
    assert.deepEqual([drop.body.deviceId, drop.body.type], ['demo-device', 'KillTcp']);
    assert.match(String(drop.body.dueTimeUtc), /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.equal((await requested).source, 'api');
    // A timed fault on the other device (demo-device may still be reconnecting): its sends fail 429001.
    const other = new InProcessDeviceClient(hub, 'other');
    await other.open();
    const started = new Promise<void>((resolve) => hub.events.on('fault', (f: M) => f.phase === 'started' && resolve()));
    assert.equal((await admin('post', `${base}/devices/other/faults`, { type: 'InvokeThrottling', durationInSecs: 60 })).status, 201);
    await started;
    await assert.rejects(other.sendEvent(Buffer.from('x')), (e: { code?: number }) => e.code === 429001);
    await other.close();
    for (const [path, body, status, code] of [
      [`${base}/devices/demo-device/faults`, { type: 'KillEverything' }, 400, 400004],
      [`${base}/devices/demo-device/faults`, { type: 'KillTcp', delayInSecs: 'soon' }, 400, 400004],
      [`${base}/devices/nobody/faults`, { type: 'KillTcp' }, 404, 404001],
    ] as const) {
      const r = await admin('post', path, body);
      assert.deepEqual([r.status, r.body.code], [status, code], JSON.stringify(body));
    }
    await device.close();
  });

  it('dead letters: a rejected message is listed with its reason, requeued as a new message with the same id, or deleted', async () => {
    await start();
    for (const id of ['r-1', 'r-2']) {
      await hub.send('demo-device', { body: Buffer.from(id), messageId: id });
      await hub.reject('demo-device', (await hub.receive('demo-device'))!.lockToken);
    }
    const d = await admin<M & { deadLetterPage: { total: number; items: M[] } }>('get', `${base}/devices/demo-device`);
    assert.equal(d.body.deadLetters, 2);
    assert.deepEqual(
      d.body.deadLetterPage.items.map((x) => [x.messageId, x.reason]),
      [
        ['r-1', 'Rejected'],
        ['r-2', 'Rejected'],
      ],
    );
    const [first, second] = d.body.deadLetterPage.items as Array<{ sequenceNumber: number }>;
    const requeued = await admin('post', `${base}/devices/demo-device/dead-letters/${first!.sequenceNumber}/requeue`);
    assert.equal(requeued.status, 201);
    assert.equal(requeued.body.messageId, 'r-1');
    assert.notEqual(requeued.body.sequenceNumber, first!.sequenceNumber);
    const after = await admin<M & { queue: M[]; deadLetterPage: { items: M[] } }>('get', `${base}/devices/demo-device`);
    assert.deepEqual(
      after.body.queue.map((m) => [m.messageId, m.deliveryCount]),
      [['r-1', 0]],
    );
    assert.deepEqual(
      after.body.deadLetterPage.items.map((m) => m.messageId),
      ['r-2'],
    );
    const deleted = await admin('delete', `${base}/devices/demo-device/dead-letters/${second!.sequenceNumber}`);
    assert.equal(deleted.status, 200);
    assert.equal((await admin('get', `${base}/devices/demo-device`)).body.deadLetters, 0);
    const again = await admin('delete', `${base}/devices/demo-device/dead-letters/${second!.sequenceNumber}`);
    assert.deepEqual([again.status, again.body.code], [404, 404000]);
    const bad = await admin('delete', `${base}/devices/demo-device/dead-letters/first`);
    assert.deepEqual([bad.status, bad.body.code], [400, 400004]);
  });

  it('create, disable, enable, purge and delete a device; no read answers with a key', async () => {
    await start();
    const created = await admin('post', `${base}/devices`, { deviceId: 'new-one' });
    assert.equal(created.status, 201);
    assert.equal(created.body.deviceId, 'new-one');
    const dup = await admin('post', `${base}/devices`, { deviceId: 'new-one' });
    assert.deepEqual([dup.status, dup.body.code], [409, 409001]);
    assert.equal((await admin('patch', `${base}/devices/new-one`, { status: 'disabled' })).body.status, 'disabled');
    assert.equal(hub.registry.getDevice('new-one')!.status, 'disabled');
    assert.deepEqual((await admin('patch', `${base}/devices/new-one`, { status: 'off' })).body.code, 400004);
    assert.equal((await admin('patch', `${base}/devices/new-one`, { status: 'enabled' })).body.status, 'enabled');
    await hub.send('new-one', { body: Buffer.from('a') });
    await hub.send('new-one', { body: Buffer.from('b') });
    assert.deepEqual((await admin('delete', `${base}/devices/new-one/messages`)).body, { purged: 2 });
    // Every read route, with what it answers, holds no key of any device or policy.
    const keys = [
      ...hub.registry.deviceIds().flatMap((id) => Object.values(hub.registry.getDevice(id)!.authentication.symmetricKey)),
      ...hub.registry.listPolicies().flatMap((p) => [p.primaryKey, p.secondaryKey]),
    ].filter(Boolean) as string[];
    const reads = await Promise.all(
      ['/c2d/hubs', base, `${base}/devices`, `${base}/devices/new-one`, `${base}/devices/demo-device`, `${base}/trace/x`].map((p) => admin('get', p)),
    );
    for (const r of reads) for (const k of keys) assert.ok(!JSON.stringify(r.body).includes(k), 'a key in a read answer');
    assert.deepEqual((await admin('delete', `${base}/devices/new-one`)).body, { deviceId: 'new-one', deleted: true });
    assert.equal((await admin('get', `${base}/devices/new-one`)).body.code, 404001);
  });

  it('connection strings: one per open port, with the device key and the port in HostName; none for an in-process hub', async () => {
    await start({ mqttsPort: '0', httpsPort: '0' });
    const ports = (helper.getNode('hub') as unknown as { ports: Record<string, number> }).ports;
    const r = await admin<{ connectionStrings: Record<string, string> }>('get', `${base}/devices/demo-device/connection-strings`);
    assert.equal(r.status, 200);
    const key = hub.registry.getDevice('demo-device')!.authentication.symmetricKey.primaryKey;
    assert.deepEqual(r.body.connectionStrings, {
      mqtts: `HostName=localhost:${ports.mqtts};DeviceId=demo-device;SharedAccessKey=${key}`,
      https: `HostName=localhost:${ports.https};DeviceId=demo-device;SharedAccessKey=${key}`,
    });
    await deploy(baseFlow(tmp.dir, { devices: 'demo-device' }));
    await (helper.getNode('hub') as { ready?: Promise<void> }).ready;
    const inProcess = await admin<{ connectionStrings: Record<string, string> }>('get', `${base}/devices/demo-device/connection-strings`);
    assert.deepEqual(inProcess.body.connectionStrings, {});
  });

  it('live: while an editor reads the summary, a change reaches c2d/hub/<id> within a second, naming the device and the counts, with no key', async () => {
    await start();
    await admin('get', base);
    const sentAt = Date.now();
    const update = nextComms('c2d/hub/hub');
    await hub.send('demo-device', { body: Buffer.from('secret-free'), messageId: 'live-1' });
    const { data, at } = await update;
    assert.ok(at - sentAt < 1_000, `the update came ${at - sentAt} ms after the send`);
    assert.deepEqual(data.changed, ['demo-device']);
    assert.equal((data.counts as M).queued, 1);
    const key = hub.registry.getDevice('demo-device')!.authentication.symmetricKey.primaryKey!;
    assert.ok(!JSON.stringify(data).includes(key));
    assert.ok(!JSON.stringify(data).includes('secret-free'), 'no message body in comms either');
    // A hub going down tells the editors too.
    const down = nextComms('c2d/hubs');
    await deploy([{ id: 'f1', type: 'tab' }]);
    assert.deepEqual((await down).data, { down: 'hub' });
    assert.deepEqual((await admin<M[]>('get', '/c2d/hubs')).body, []);
  });
});

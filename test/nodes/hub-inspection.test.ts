/**
 * The c2d-hub node's inspection and repair actions (peek, deadLetters,
 * requeue, deleteDeadLetter, cancel, trace) on a real Node-RED runtime, their
 * errors at a Catch node with IoT Hub's codes, the dead-letter retention
 * settings, and the status line with devices and pending counts.
 */
import { strict as assert } from 'node:assert';
import type { HubApi } from '../../lib/hub/api';
import { runningHubs } from '../../nodes/support/hub-registry';
import { ALL_NODES, baseFlow, helper, lastStatus, nextMsg, statusReaches, tempDir, type TestNode } from './helpers';

type M = Record<string, unknown>;

describe('nodes: c2d-hub inspection actions', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tempDir>;
  let hubNode: TestNode;
  let hub: HubApi;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  async function start(hubSettings: Record<string, unknown> = {}): Promise<void> {
    await helper.load(ALL_NODES, [
      ...baseFlow(tmp.dir, { devices: 'dev1, dev2', wires: [['out']], ...hubSettings }),
      { id: 'out', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: ['hub'], wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
    ]);
    hubNode = helper.getNode('hub');
    await hubNode.ready;
    hub = runningHubs.get('hub')!;
    assert.ok(hub, 'the hub is up');
  }

  /** Sends an action to the hub node; resolves with its result msg (hub events share the output). */
  function act(msg: M): Promise<M> {
    const out = helper.getNode('out');
    const tag = Math.random().toString(36).slice(2);
    const p = new Promise<M>((resolve) => {
      const on = (m: M): void => {
        if (m._tag !== tag) return;
        out.off('input', on);
        resolve(m);
      };
      out.on('input', on);
    });
    hubNode.receive({ ...msg, _tag: tag });
    return p;
  }

  /** Sends an action that must fail; resolves with the error code the Catch node got. */
  async function failCode(msg: M): Promise<unknown> {
    const caught = nextMsg(helper.getNode('caught'));
    hubNode.receive(msg);
    return ((await caught).error as M).code;
  }

  async function reject(deviceId: string, messageId: string): Promise<void> {
    await hub.send(deviceId, { body: Buffer.from(`body of ${messageId}`), messageId, properties: { k: 'v' } });
    const m = await hub.receive(deviceId);
    await hub.reject(deviceId, m!.lockToken);
  }

  it('peek: pending messages in order with state and ISO times, bodies as Buffers with includeBody; 404001 and 400004 to Catch', async () => {
    await start();
    await hub.send('dev1', { body: Buffer.from('first'), messageId: 'p1' });
    await hub.send('dev1', { body: Buffer.from('second'), messageId: 'p2' });
    const locked = await hub.receive('dev1');
    const view = (await act({ action: 'peek', deviceId: 'dev1' })).payload as M[];
    assert.deepEqual(
      view.map((v) => [v.messageId, v.state, v.lockedUntilUtc]),
      [
        ['p1', 'Invisible', new Date(locked!.lockedUntilUtc).toISOString()],
        ['p2', 'Enqueued', undefined],
      ],
    );
    assert.equal(view[0]!.body, undefined);
    const bodies = (await act({ action: 'peek', deviceId: 'dev1', includeBody: true })).payload as M[];
    assert.ok(Buffer.isBuffer(bodies[1]!.body));
    assert.equal(String(bodies[1]!.body), 'second');
    assert.ok(!JSON.stringify(bodies).includes(locked!.lockToken), 'no lock token');
    assert.equal(await failCode({ action: 'peek', deviceId: 'nobody' }), 404001);
    assert.equal(await failCode({ action: 'peek' }), 400004);
    assert.equal(await failCode({ action: 'peek', deviceId: 'dev1', includeBody: 'yes' }), 400004);
  });

  it('deadLetters lists hub-wide or per device, paged (numbers as strings too); requeue and deleteDeadLetter by messageId or sequenceNumber; 404000 / 400004', async () => {
    await start();
    await reject('dev1', 'a');
    await reject('dev1', 'b');
    await reject('dev2', 'c');
    const all = (await act({ action: 'deadLetters' })).payload as { items: M[]; total: number };
    assert.equal(all.total, 3);
    assert.deepEqual(
      all.items.map((d) => `${d.deviceId}/${d.messageId}/${d.reason}`),
      ['dev1/a/Rejected', 'dev1/b/Rejected', 'dev2/c/Rejected'],
    );
    assert.match(String(all.items[0]!.deadLetteredTimeUtc), /^\d{4}-.*Z$/);
    const paged = (await act({ action: 'deadLetters', offset: '1', limit: 1 })).payload as { items: M[]; total: number };
    assert.deepEqual([paged.total, paged.items.map((d) => d.messageId)], [3, ['b']]);
    const dev2 = (await act({ action: 'deadLetters', deviceId: 'dev2', includeBody: true })).payload as { items: M[]; total: number };
    assert.equal(String(dev2.items[0]!.body), 'body of c');
    assert.equal(await failCode({ action: 'deadLetters', limit: 'ten' }), 400004);
    assert.equal(await failCode({ action: 'deadLetters', limit: 0 }), 400004);
    assert.equal(await failCode({ action: 'deadLetters', deviceId: 'nobody' }), 404001);

    const requeued = (await act({ action: 'requeue', deviceId: 'dev1', messageId: 'a' })).payload as M;
    assert.equal(requeued.messageId, 'a');
    assert.ok(Number(requeued.sequenceNumber) > Number(all.items[0]!.sequenceNumber));
    assert.deepEqual(
      hub.peek('dev1').map((v) => [v.messageId, v.deliveryCount]),
      [['a', 0]],
    );
    const seqB = Number(all.items[1]!.sequenceNumber);
    assert.deepEqual((await act({ action: 'deleteDeadLetter', deviceId: 'dev1', sequenceNumber: String(seqB) })).payload, {
      deviceId: 'dev1',
      sequenceNumber: seqB,
      deleted: true,
    });
    assert.equal(hub.deadLetters({ deviceId: 'dev1' }).total, 0);
    assert.equal(await failCode({ action: 'deleteDeadLetter', deviceId: 'dev1', sequenceNumber: seqB }), 404000);
    assert.equal(await failCode({ action: 'requeue', deviceId: 'dev1', messageId: 'a' }), 404000);
    assert.equal(await failCode({ action: 'requeue', deviceId: 'dev1' }), 400004);
    assert.equal(await failCode({ action: 'requeue', deviceId: 'dev1', sequenceNumber: -1 }), 400004);
    assert.equal(await failCode({ action: 'requeue', deviceId: 'nobody', messageId: 'a' }), 404001);
  });

  it('requeue into a full queue reaches Catch with 403004 and keeps the dead letter', async () => {
    await start({ queueDepth: '1' });
    await reject('dev1', 'dl');
    await hub.send('dev1', { body: Buffer.from('fills the queue') });
    assert.equal(await failCode({ action: 'requeue', deviceId: 'dev1', messageId: 'dl' }), 403004);
    assert.equal(hub.deadLetters().total, 1);
  });

  it('cancel removes one pending message (404000 when none), and trace shows its life with ISO times', async () => {
    await start();
    await hub.send('dev1', { body: Buffer.from('x'), messageId: 'keep' });
    await hub.send('dev1', { body: Buffer.from('y'), messageId: 'go' });
    assert.deepEqual((await act({ action: 'cancel', deviceId: 'dev1', messageId: 'go' })).payload, { deviceId: 'dev1', messageId: 'go', cancelled: 1 });
    assert.deepEqual(
      hub.peek('dev1').map((v) => v.messageId),
      ['keep'],
    );
    assert.equal(await failCode({ action: 'cancel', deviceId: 'dev1', messageId: 'go' }), 404000);
    assert.equal(await failCode({ action: 'cancel', deviceId: 'nobody', messageId: 'go' }), 404001);
    assert.equal(await failCode({ action: 'cancel', deviceId: 'dev1' }), 400004);
    const trace = (await act({ action: 'trace', messageId: 'go' })).payload as M[];
    assert.deepEqual(
      trace.map((e) => [e.event, e.deviceId]),
      [
        ['enqueued', 'dev1'],
        ['cancelled', 'dev1'],
      ],
    );
    assert.match(String(trace[0]!.time), /^\d{4}-.*Z$/);
    assert.equal(await failCode({ action: 'trace' }), 400004);
  });

  it('the retention settings reach the hub: at most "per device" dead letters, none with "kept" 0', async () => {
    await start({ deadLetterMax: '1' });
    await reject('dev1', 'old');
    await reject('dev1', 'new');
    assert.deepEqual(
      ((await act({ action: 'deadLetters' })).payload as { items: M[] }).items.map((d) => d.messageId),
      ['new'],
    );
    assert.equal(hub.limits.deadLetterTtlMs, 24 * 3600 * 1000, 'the default age');
    await helper.unload();
    await start({ deadLetterTtl: '0', deadLetterMax: '' });
    assert.equal(hub.limits.deadLetterTtlMs, 0);
    assert.equal(hub.limits.deadLetterMaxPerDevice, 100, 'blank = the default');
    await reject('dev1', 'gone');
    assert.equal(((await act({ action: 'deadLetters' })).payload as { total: number }).total, 0);
  });
});

describe('nodes: c2d-hub status line', function () {
  this.timeout(30_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('shows devices and pending messages beside the ports, follows sends, completions and new devices, redrawn at most once a second', async () => {
    await helper.load(ALL_NODES, baseFlow(tmp.dir, { devices: 'dev1, dev2' }));
    const node = helper.getNode('hub');
    await node.ready;
    assert.deepEqual(await statusReaches(node, (s) => s.fill === 'green'), { fill: 'green', shape: 'dot', text: 'in-process · 2 devices · 0 pending' });
    const hub = runningHubs.get('hub')!;
    const callsBefore = node.status.getCalls().filter((c) => c.thisValue === node).length;
    const started = Date.now();
    await Promise.all(Array.from({ length: 30 }, (_, i) => hub.send(i % 2 ? 'dev1' : 'dev2', { body: Buffer.from(String(i)) })));
    await statusReaches(node, (s) => s.text === 'in-process · 2 devices · 30 pending');
    const redraws = node.status.getCalls().filter((c) => c.thisValue === node).length - callsBefore;
    // 30 enqueued events; one redraw at once and one per second after it at most.
    assert.ok(redraws <= 2 + Math.ceil((Date.now() - started) / 1000), `${redraws} redraws for 30 sends`);
    const m = await hub.receive('dev1');
    await hub.complete('dev1', m!.lockToken);
    await hub.registry.createDevice({ deviceId: 'dev3' });
    await statusReaches(node, (s) => s.text === 'in-process · 3 devices · 29 pending');
    await hub.registry.deleteDevice('dev3');
    assert.equal((await statusReaches(node, (s) => s.text === 'in-process · 2 devices · 29 pending')).fill, 'green');
  });

  it('with ports: "amqps:<port> mqtts:<port> https:<port> · 1 device · 0 pending"', async () => {
    await helper.load(ALL_NODES, baseFlow(tmp.dir, { host: '127.0.0.1', amqpsPort: '0', mqttsPort: '0', httpsPort: '0' }));
    const node = helper.getNode('hub') as TestNode & { ports: Record<string, number> };
    await node.ready;
    const p = node.ports;
    await statusReaches(node, (s) => s.text === `amqps:${p.amqps} mqtts:${p.mqtts} https:${p.https} · 1 device · 0 pending`);
    assert.equal(lastStatus(node)?.fill, 'green');
  });
});

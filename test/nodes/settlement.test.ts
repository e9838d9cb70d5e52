import { strict as assert } from 'node:assert';
import { ALL_NODES, baseFlow, helper, isConnected, nextMsg, statusReaches, tempDir } from './helpers';

type M = Record<string, unknown>;

describe('nodes: settlement', function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  async function start(extra: object[], receive: M = {}, feedback: M = {}): Promise<void> {
    await helper.load(ALL_NODES, [
      ...baseFlow(tmp.dir),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', deviceId: 'dev1', ack: 'full', wires: [[]] },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', wires: [['sink']], ...receive },
      { id: 'sink', z: 'f1', type: 'test-sink', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
      { id: 'fb', z: 'f1', type: 'c2d-feedback', hub: 'svc', wires: [['fbout']], ...feedback },
      { id: 'fbout', z: 'f1', type: 'helper' },
      ...extra,
    ]);
    await statusReaches(helper.getNode('recv'), isConnected);
    await statusReaches(helper.getNode('send'), isConnected);
  }

  async function sendAndGet(msg: M): Promise<M> {
    const got = nextMsg(helper.getNode('got'));
    helper.getNode('send').receive({ payload: 'hi', ...msg });
    return got;
  }

  it('manual: c2d-ack completes (msg.action), and feedback says Success', async () => {
    await start(
      [
        { id: 'ack', z: 'f1', type: 'c2d-ack', action: 'msg', wires: [['acked']] },
        { id: 'acked', z: 'f1', type: 'helper' },
      ],
      { settle: 'manual' },
    );
    const r = await sendAndGet({ messageId: 'a1' });
    const acked = nextMsg(helper.getNode('acked'));
    const fb = nextMsg(helper.getNode('fbout'));
    helper.getNode('ack').receive({ ...r, action: 'complete' });
    assert.deepEqual((await acked).settlement, { action: 'complete', lockToken: r.lockToken, deviceId: 'dev1', messageId: 'a1' });
    assert.equal((await fb).topic, 'Success');
  });

  it('manual: reject dead-letters (feedback Rejected); abandon delivers again with deliveryCount 1', async () => {
    await start(
      [
        { id: 'ack', z: 'f1', type: 'c2d-ack', action: 'reject', wires: [['acked']] },
        { id: 'acked', z: 'f1', type: 'helper' },
      ],
      { settle: 'manual' },
    );
    const r = await sendAndGet({ messageId: 'r1' });
    const fb = nextMsg(helper.getNode('fbout'));
    helper.getNode('ack').receive(r);
    const f = await fb;
    assert.equal(f.topic, 'Rejected');
    assert.equal((f.payload as M).originalMessageId, 'r1');

    const first = await sendAndGet({ messageId: 'b1' });
    assert.equal(first.deliveryCount, 0);
    const again = nextMsg(helper.getNode('got'));
    helper.getNode('ack').receive({ ...first, action: 'abandon' });
    const second = await again;
    assert.equal(second.messageId, 'b1');
    assert.equal(second.deliveryCount, 1);
  });

  it('auto: a downstream failure (done(err)) abandons, so the message comes again', async () => {
    await start([]);
    const got = helper.getNode('got');
    const seen: M[] = [];
    const twice = new Promise<void>((resolve) => got.on('input', (m: M) => (seen.push(m), seen.length === 2 && resolve())));
    helper.getNode('send').receive({ payload: 'fail-once', messageId: 'x1' });
    await twice;
    assert.deepEqual(
      seen.map((m) => m.deliveryCount),
      [0, 1],
    );
  });

  it('emit: completed right after it is emitted, even while the flow still holds it', async () => {
    await start([], { settle: 'emit' });
    const fb = nextMsg(helper.getNode('fbout'));
    await sendAndGet({ messageId: 'e1', payload: 'hold' });
    assert.equal((await fb).topic, 'Success');
  });

  it('feedback manual: the batch waits for msg.action complete with msg.batch.lockToken; an unknown token is 412002', async () => {
    await start(
      [
        { id: 'catcher', z: 'f1', type: 'catch', scope: ['fb'], wires: [['caught']] },
        { id: 'caught', z: 'f1', type: 'helper' },
      ],
      {},
      { settle: 'manual', wires: [['fbout']] },
    );
    const fb = nextMsg(helper.getNode('fbout'));
    await sendAndGet({ messageId: 'f1' });
    const f = await fb;
    const settled = nextMsg(helper.getNode('fbout'));
    helper.getNode('fb').receive({ action: 'complete', batch: f.batch });
    assert.deepEqual((await settled).settlement, { action: 'complete', lockToken: (f.batch as M).lockToken });
    const caught = nextMsg(helper.getNode('caught'));
    helper.getNode('fb').receive({ action: 'complete', batch: f.batch });
    assert.equal(((await caught).error as M).code, 412002);
  });
});

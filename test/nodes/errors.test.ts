import { strict as assert } from 'node:assert';
import { ALL_NODES, baseFlow, helper, isConnected, nextCaught, nextMsg, statusReaches, tempDir } from './helpers';

/** A flow whose c2d-send and c2d-ack errors land on a Catch node. */
function flow(dir: string): object[] {
  return [
    ...baseFlow(dir, { queueDepth: '2' }),
    { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', deviceId: 'dev1', wires: [['sent']] },
    { id: 'sent', z: 'f1', type: 'helper' },
    { id: 'ack', z: 'f1', type: 'c2d-ack', hub: 'dev', action: 'msg', wires: [['acked']] },
    { id: 'acked', z: 'f1', type: 'helper' },
    { id: 'catcher', z: 'f1', type: 'catch', scope: null, uncaught: false, wires: [['caught']] },
    { id: 'caught', z: 'f1', type: 'helper' },
  ];
}

describe("nodes: every error reaches a Catch node with IoT Hub's code", function () {
  let tmp: ReturnType<typeof tempDir>;
  before(async () => {
    tmp = tempDir();
    await helper.load(ALL_NODES, flow(tmp.dir));
    await statusReaches(helper.getNode('send'), isConnected);
  });
  after(async () => {
    await helper.unload();
    tmp.remove();
  });

  async function caughtFrom(nodeId: string, msg: object): Promise<{ code: unknown; message: string; source: { id: string } }> {
    const c = nextCaught(helper.getNode('caught'));
    helper.getNode(nodeId).receive(msg);
    return (await c).error as { code: unknown; message: string; source: { id: string } };
  }

  it('unknown device: 404001', async () => {
    const e = await caughtFrom('send', { payload: 'x', deviceId: 'nobody' });
    assert.equal(e.code, 404001);
    assert.equal(e.source.id, 'send');
    assert.match(e.message, /DeviceNotFound/);
  });

  it('too large (over 64 KB): 413001', async () => {
    const e = await caughtFrom('send', { payload: Buffer.alloc(65 * 1024) });
    assert.equal(e.code, 413001);
  });

  it('invalid input: 400004 (no payload, bad ack, bad message id, bad properties, ttl and expiry together)', async () => {
    for (const bad of [
      {},
      { payload: 'x', ack: 'sometimes' },
      { payload: 'x', messageId: 'no spaces allowed' },
      { payload: 'x', properties: { ok: { nested: true } } },
      { payload: 'x', ttl: 1000, expiryTimeUtc: Date.now() + 5000 },
      { payload: 'x', timeout: -1 },
      { payload: 'x', timeout: '5 s' },
    ]) {
      const e = await caughtFrom('send', bad);
      assert.equal(e.code, 400004, JSON.stringify(bad));
    }
  });

  it('bad expiry: 400011', async () => {
    assert.equal((await caughtFrom('send', { payload: 'x', expiryTimeUtc: 'not a time' })).code, 400011);
    assert.equal((await caughtFrom('send', { payload: 'x', ttl: -5 })).code, 400011, 'a bad msg.ttl is the same code as in the client');
  });

  it('queue full: 403004 once the device holds the queue depth', async () => {
    for (let i = 0; i < 2; i++) {
      const ok = nextMsg(helper.getNode('sent'));
      helper.getNode('send').receive({ payload: `m${i}` });
      await ok;
    }
    assert.equal((await caughtFrom('send', { payload: 'one too many' })).code, 403004);
  });

  it('lock lost / unknown token: 412002; no token or bad action: 400004', async () => {
    assert.equal((await caughtFrom('ack', { action: 'complete', lockToken: '00000000-0000-0000-0000-000000000000' })).code, 412002);
    assert.equal((await caughtFrom('ack', { action: 'complete' })).code, 400004);
    assert.equal((await caughtFrom('ack', { action: 'destroy', lockToken: 'x' })).code, 400004);
  });
});

import { strict as assert } from 'node:assert';
import { ALL_NODES, baseFlow, helper, isConnected, nextMsg, statusReaches, tempDir } from './helpers';

describe('nodes: round trip on the embedded hub (in-process)', function () {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('c2d-send -> c2d-receive (auto-complete after the flow is done) -> feedback Success, with every msg property', async () => {
    await helper.load(ALL_NODES, [
      ...baseFlow(tmp.dir),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', settle: 'auto', wires: [['sink']] },
      { id: 'sink', z: 'f1', type: 'test-sink', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
      { id: 'fb', z: 'f1', type: 'c2d-feedback', hub: 'svc', wires: [['fbout']] },
      { id: 'fbout', z: 'f1', type: 'helper' },
    ]);
    await statusReaches(helper.getNode('recv'), isConnected);
    await statusReaches(helper.getNode('send'), isConnected);
    const sent = nextMsg(helper.getNode('sent'));
    const got = nextMsg(helper.getNode('got'));
    const fb = nextMsg(helper.getNode('fbout'));
    const expiry = new Date(Date.now() + 600_000);
    helper.getNode('send').receive({
      payload: { hello: 'world' },
      deviceId: 'dev1',
      messageId: 'm-1',
      correlationId: 'c-1',
      ack: 'full',
      expiryTimeUtc: expiry.toISOString(),
      properties: { color: 'red', n: 7 },
    });
    const s = await sent;
    assert.deepEqual({ ...(s.c2d as object), enqueuedTimeUtc: undefined }, { messageId: 'm-1', deviceId: 'dev1', enqueuedTimeUtc: undefined });
    assert.ok(!Number.isNaN(Date.parse((s.c2d as { enqueuedTimeUtc: string }).enqueuedTimeUtc)));
    const r = await got;
    assert.deepEqual(r.payload, { hello: 'world' });
    assert.equal(r.deviceId, 'dev1');
    assert.equal(r.topic, 'dev1');
    assert.equal(r.messageId, 'm-1');
    assert.equal(r.correlationId, 'c-1');
    assert.deepEqual(r.properties, { color: 'red', n: '7' });
    assert.equal(r.ack, 'full');
    assert.equal(r.deliveryCount, 0);
    assert.equal(r.contentType, 'application/json');
    assert.equal(r.expiryTimeUtc, expiry.toISOString());
    assert.equal(typeof r.lockToken, 'string');
    assert.ok(Date.parse(r.enqueuedTimeUtc as string) > 0);
    assert.deepEqual(r._c2d, { config: 'dev', deviceId: 'dev1', lockToken: r.lockToken });
    const f = await fb;
    assert.equal(f.topic, 'Success');
    const p = f.payload as Record<string, unknown>;
    assert.equal(p.originalMessageId, 'm-1');
    assert.equal(p.deviceId, 'dev1');
    assert.equal(p.statusCode, 'Success');
    assert.equal(p.description, 'Success');
    assert.equal(typeof p.enqueuedTimeUtc, 'string');
    const b = f.batch as Record<string, unknown>;
    assert.equal(b.count, 1);
    assert.equal(b.index, 0);
    assert.equal(typeof b.lockToken, 'string');
  });
});

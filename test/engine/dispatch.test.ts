import assert from 'node:assert/strict';
import type { ReceivedFeedbackBatch, ReceivedMessage } from '../../lib/common/message';
import { body, codeOf, openTestHub, type TestHub } from './helpers';

/** A sink that records deliveries and closes. */
function sink(): { got: ReceivedMessage[]; closed: Error[]; deliver(m: ReceivedMessage): void; closedFn(e: Error): void } {
  const s = {
    got: [] as ReceivedMessage[],
    closed: [] as Error[],
    deliver(m: ReceivedMessage) {
      s.got.push(m);
    },
    closedFn(e: Error) {
      s.closed.push(e);
    },
  };
  return s;
}

/** Lets queued microtasks (the dispatcher's wake-ups) run. */
const settleMicrotasks = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('push delivery by credit (dispatcher)', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.hub.close();
  });

  it('delivers Enqueued messages to a receiver while it has credit, in sequence order', async () => {
    t = await openTestHub();
    await t.hub.send('dev1', { body: body('a') });
    const s = sink();
    const r = t.hub.openReceiver('dev1', { deliver: s.deliver, closed: s.closedFn }, { credit: 1 });
    assert.deepEqual(
      s.got.map((m) => m.body.toString()),
      ['a'],
    );
    await t.hub.send('dev1', { body: body('b') });
    await t.hub.send('dev1', { body: body('c') });
    await settleMicrotasks();
    assert.equal(s.got.length, 1, 'no credit, no delivery');
    r.addCredit(5);
    assert.deepEqual(
      s.got.map((m) => m.body.toString()),
      ['a', 'b', 'c'],
    );
    assert.equal(r.credit, 3);
    await t.hub.complete('dev1', s.got[0]!.lockToken);
    r.close();
  });

  it('redelivers an abandoned message and a message whose lock expired', async () => {
    t = await openTestHub();
    const s = sink();
    const r = t.hub.openReceiver('dev1', { deliver: s.deliver }, { credit: 10 });
    await t.hub.send('dev1', { body: body('a') });
    await settleMicrotasks();
    await t.hub.abandon('dev1', s.got[0]!.lockToken);
    await settleMicrotasks();
    assert.equal(s.got.length, 2);
    assert.equal(s.got[1]!.deliveryCount, 1);
    t.clock.advance(60_000);
    await settleMicrotasks();
    assert.equal(s.got.length, 3);
    r.close();
  });

  it('close() returns messages locked to the receiver to Enqueued', async () => {
    t = await openTestHub();
    await t.hub.send('dev1', { body: body('a') });
    const s = sink();
    const r = t.hub.openReceiver('dev1', { deliver: s.deliver }, { credit: 1 });
    r.close();
    const m = await t.hub.receive('dev1');
    assert.equal(m?.body.toString(), 'a');
    assert.equal(m?.deliveryCount, 0);
    assert.equal(await codeOf(t.hub.complete('dev1', s.got[0]!.lockToken)), 412002);
  });

  it('a second receiver fails 409002 unless replace, which closes the old one', async () => {
    t = await openTestHub();
    const s1 = sink();
    const s2 = sink();
    t.hub.openReceiver('dev1', { deliver: s1.deliver, closed: s1.closedFn }, { credit: 1 });
    assert.equal(await codeOf(() => t.hub.openReceiver('dev1', { deliver: s2.deliver })), 409002);
    await t.hub.send('dev1', { body: body('a') });
    await settleMicrotasks();
    assert.equal(s1.got.length, 1);
    t.hub.openReceiver('dev1', { deliver: s2.deliver, closed: s2.closedFn }, { credit: 1, replace: true });
    assert.equal(s1.closed.length, 1);
    assert.deepEqual(
      s2.got.map((m) => m.body.toString()),
      ['a'],
      "the old receiver's lock went back to the queue",
    );
  });

  it('deleting or disabling a device closes its receiver', async () => {
    t = await openTestHub();
    await t.hub.registry.createDevice({ deviceId: 'dev2' });
    const s1 = sink();
    const s2 = sink();
    t.hub.openReceiver('dev1', { deliver: s1.deliver, closed: s1.closedFn });
    t.hub.openReceiver('dev2', { deliver: s2.deliver, closed: s2.closedFn });
    await t.hub.registry.deleteDevice('dev1');
    await t.hub.registry.updateDevice({ deviceId: 'dev2', status: 'disabled' });
    assert.equal(s1.closed.length, 1);
    assert.equal(s2.closed.length, 1);
    assert.equal(await codeOf(() => t.hub.openReceiver('dev2', { deliver: s2.deliver })), 404001);
  });

  it('a sink may settle synchronously inside deliver()', async () => {
    t = await openTestHub();
    const done: string[] = [];
    const r = t.hub.openReceiver(
      'dev1',
      {
        deliver: (m) => {
          done.push(m.body.toString());
          void t.hub.complete('dev1', m.lockToken);
        },
      },
      { credit: 100 },
    );
    for (const x of ['a', 'b', 'c']) await t.hub.send('dev1', { body: body(x) });
    await settleMicrotasks();
    await settleMicrotasks();
    assert.deepEqual(done, ['a', 'b', 'c']);
    assert.equal(t.hub.stats().queued + t.hub.stats().locked, 0);
    r.close();
  });

  it('feedback receivers get batches by credit; close() returns a locked batch', async () => {
    t = await openTestHub();
    const got: ReceivedFeedbackBatch[] = [];
    const fr = t.hub.openFeedbackReceiver({ deliver: (b) => got.push(b) }, { credit: 1 });
    await t.hub.send('dev1', { body: body('a'), ack: 'full' });
    const m = await t.hub.receive('dev1');
    await t.hub.complete('dev1', m!.lockToken);
    await t.hub.flushFeedback();
    await settleMicrotasks();
    assert.equal(got.length, 1);
    assert.equal(got[0]!.userId, 'localhost');
    assert.equal(got[0]!.records[0]!.statusCode, 'Success');
    fr.close();
    const again = await t.hub.receiveFeedback();
    assert.deepEqual(again?.records, got[0]!.records);
    await t.hub.completeFeedback(again!.lockToken);
    assert.equal(await t.hub.receiveFeedback(), null);
  });

  it('keeps a single clock timer for every deadline', async () => {
    t = await openTestHub();
    await t.hub.registry.createDevice({ deviceId: 'dev2' });
    for (let i = 0; i < 20; i++) await t.hub.send(i % 2 ? 'dev1' : 'dev2', { body: body(String(i)), expiryTimeUtc: t.clock.now() + 120_000 + i });
    await t.hub.receive('dev1');
    await t.hub.receive('dev2');
    assert.equal(t.clock.pendingCount, 1);
  });
});

import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/common/clock';
import { Hub } from '../../lib/hub';
import { body, drainFeedback, mustReceive, removeDir, tempDir } from './helpers';

describe('durability: state survives close and reopen on the same dataDir', () => {
  let dir: string;
  const hubs: Hub[] = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const h of hubs.splice(0)) await h.close();
    removeDir(dir);
  });
  const open = async (clock: ManualClock): Promise<Hub> => {
    const h = await Hub.open({ dataDir: dir, clock });
    hubs.push(h);
    return h;
  };

  it('keeps devices, keys, policies, messages, delivery counts, sequence numbers and feedback', async () => {
    const clock = new ManualClock();
    let hub = await open(clock);
    const dev = await hub.registry.createDevice({ deviceId: 'dev1' });
    const policies = hub.registry.listPolicies();
    await hub.send('dev1', { body: body('a'), messageId: 'a', ack: 'full' });
    await hub.send('dev1', { body: body('b'), messageId: 'b', properties: { k: 'v' }, contentType: 'text/plain' });
    await hub.send('dev1', { body: body('c'), messageId: 'c', ack: 'full' });
    await hub.complete('dev1', (await mustReceive(hub)).lockToken);
    const b = await mustReceive(hub);
    await hub.abandon('dev1', b.lockToken);
    await mustReceive(hub); // b again, locked: the lock is not persisted
    await mustReceive(hub); // c, locked
    await hub.close();

    hub = await open(clock);
    assert.deepEqual(hub.registry.getDevice('dev1')!.authentication, dev.authentication);
    assert.equal(hub.registry.getDevice('dev1')!.generationId, dev.generationId);
    assert.deepEqual(hub.registry.listPolicies(), policies);
    assert.equal(hub.stats().feedbackPending, 1);
    const again = await mustReceive(hub);
    assert.deepEqual([again.messageId, again.deliveryCount, again.properties, again.contentType], ['b', 1, { k: 'v' }, 'text/plain']);
    assert.equal((await mustReceive(hub)).messageId, 'c');
    const next = await hub.send('dev1', { body: body('d') });
    assert.equal(next.sequenceNumber, 4);
    const records = await drainFeedback(hub);
    assert.deepEqual(
      records.map((r) => [r.originalMessageId, r.statusCode]),
      [['a', 'Success']],
    );
  });

  it('sequence numbers continue after the message holding the last one was settled', async () => {
    const clock = new ManualClock();
    let hub = await open(clock);
    await hub.registry.createDevice({ deviceId: 'dev1' });
    await hub.send('dev1', { body: body('a') });
    await hub.send('dev1', { body: body('b') });
    await mustReceive(hub);
    await hub.complete('dev1', (await mustReceive(hub)).lockToken);
    await hub.purge('dev1');
    await hub.close();
    hub = await open(clock);
    assert.equal((await hub.send('dev1', { body: body('c') })).sequenceNumber, 3);
  });

  it('applies deadlines that passed while the hub was closed', async () => {
    const clock = new ManualClock();
    let hub = await open(clock);
    await hub.registry.createDevice({ deviceId: 'dev1' });
    await hub.send('dev1', { body: body('a'), ack: 'negative', messageId: 'x', expiryTimeUtc: clock.now() + 60_000 });
    await hub.close();
    clock.advance(120_000);
    hub = await open(clock);
    assert.equal(await hub.receive('dev1'), null);
    assert.deepEqual(
      (await drainFeedback(hub)).map((r) => r.statusCode),
      ['Expired'],
    );
  });

  it('a completed message does not come back; an unsettled batch does', async () => {
    const clock = new ManualClock();
    let hub = await open(clock);
    await hub.registry.createDevice({ deviceId: 'dev1' });
    await hub.send('dev1', { body: body('a'), ack: 'positive' });
    await hub.complete('dev1', (await mustReceive(hub)).lockToken);
    await hub.flushFeedback();
    const batch = await hub.receiveFeedback();
    await hub.close();
    hub = await open(clock);
    assert.equal(await hub.receive('dev1'), null);
    const again = await hub.receiveFeedback();
    assert.deepEqual(again!.records, batch!.records);
  });
});

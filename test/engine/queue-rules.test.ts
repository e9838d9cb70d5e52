import assert from 'node:assert/strict';
import { body, codeOf, drainFeedback, mustReceive, openTestHub, type TestHub } from './helpers';

describe('C2D queue rules (c2d-semantics.md §1.2)', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.hub.close();
  });

  describe('a service send is Enqueued with hub-assigned facts', () => {
    it("keeps its own copy of the body: not a view that holds the sender's larger buffer alive, not changed by the sender after", async () => {
      t = await openTestHub();
      // What a protocol decoder hands over: a few bytes inside a whole socket read.
      const read = Buffer.alloc(64 * 1024, 0x20);
      read.write('hello', 1000);
      const view = read.subarray(1000, 1005);
      await t.hub.send('dev1', { body: view, messageId: 'v' });
      read.fill(0x58);
      const m = await mustReceive(t.hub);
      assert.equal(m.body.toString(), 'hello');
      assert.equal(m.body.buffer.byteLength, 5, 'the kept body owns exactly its bytes');
    });

    it('assigns a messageId when absent, increasing sequence numbers, enqueued time and default TTL', async () => {
      t = await openTestHub();
      const now = t.clock.now();
      const a = await t.hub.send('dev1', { body: body('a') });
      const b = await t.hub.send('dev1', { body: body('b'), messageId: 'mine' });
      assert.match(a.messageId, /^[0-9a-f-]{36}$/);
      assert.equal(b.messageId, 'mine');
      assert.equal(b.sequenceNumber, a.sequenceNumber + 1);
      assert.equal(a.enqueuedTimeUtc, now);
      const m = await mustReceive(t.hub);
      assert.equal(m.expiryTimeUtc, now + t.hub.limits.defaultTtlMs);
      assert.equal(m.to, '/devices/dev1/messages/devicebound');
      assert.equal(m.deliveryCount, 0);
      assert.equal(t.hub.registry.getDevice('dev1')!.cloudToDeviceMessageCount, 2);
    });

    it('refuses an expiry not after now or beyond maxTtlMs with 403009 InvalidMessageExpiryTime', async () => {
      t = await openTestHub();
      const now = t.clock.now();
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('x'), expiryTimeUtc: now })), 403009);
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('x'), expiryTimeUtc: now + t.hub.limits.maxTtlMs + 1 })), 403009);
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('x'), expiryTimeUtc: Number.NaN })), 400011);
      await t.hub.send('dev1', { body: body('x'), expiryTimeUtc: now + t.hub.limits.maxTtlMs });
    });

    it('a send to an unknown or disabled device fails 404001', async () => {
      t = await openTestHub();
      assert.equal(await codeOf(t.hub.send('nobody', { body: body('x') })), 404001);
      await t.hub.registry.updateDevice({ deviceId: 'dev1', status: 'disabled' });
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('x') })), 404001);
      assert.equal(await codeOf(t.hub.receive('dev1')), 404001);
    });

    it('registerUnknownDevices creates the device on first send', async () => {
      t = await openTestHub({}, { registerUnknownDevices: true });
      await t.hub.send('fresh', { body: body('x') });
      assert.equal(t.hub.registry.getDevice('fresh')!.authentication.type, 'sas');
      assert.equal((await mustReceive(t.hub, 'fresh')).body.toString(), 'x');
    });

    it('a message over maxMessageBytes fails 413001', async () => {
      t = await openTestHub({ maxMessageBytes: 100 });
      assert.equal(await codeOf(t.hub.send('dev1', { body: Buffer.alloc(101) })), 413001);
      assert.equal(await codeOf(t.hub.send('dev1', { body: Buffer.alloc(90), properties: { abcdef: 'ghijk' } })), 413001);
      await t.hub.send('dev1', { body: Buffer.alloc(100) });
    });

    it('the 51st pending message fails 403004 DeviceMaximumQueueDepthExceeded (Invisible ones count)', async () => {
      t = await openTestHub();
      for (let i = 0; i < 50; i++) await t.hub.send('dev1', { body: body(String(i)) });
      await mustReceive(t.hub);
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('51') })), 403004);
    });

    it('bad input fails 400004', async () => {
      t = await openTestHub();
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('x'), messageId: 'has space' })), 400004);
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('x'), properties: { 'iothub-x': 'y' } })), 400004);
      assert.equal(await codeOf(t.hub.send('bad/id', { body: body('x') })), 400004);
    });

    it('sends beyond maxSendsPerSecond fail 429001 until the bucket refills', async () => {
      t = await openTestHub({ maxSendsPerSecond: 2 });
      await t.hub.send('dev1', { body: body('1') });
      await t.hub.send('dev1', { body: body('2') });
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('3') })), 429001);
      t.clock.advance(500);
      await t.hub.send('dev1', { body: body('3') });
    });
  });

  describe('a received message is Invisible (locked) and FIFO per device', () => {
    it('locks with a fresh URL-safe token until now + lockTimeoutMs; others stay receivable', async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('a') });
      await t.hub.send('dev1', { body: body('b') });
      const a = await mustReceive(t.hub);
      const b = await mustReceive(t.hub);
      assert.deepEqual([a.body.toString(), b.body.toString()], ['a', 'b']);
      assert.notEqual(a.lockToken, b.lockToken);
      assert.match(a.lockToken, /^[A-Za-z0-9-]+$/);
      assert.equal(a.lockedUntilUtc, t.clock.now() + 60_000);
      assert.equal(await t.hub.receive('dev1'), null);
      assert.deepEqual(
        { ...t.hub.stats(), commits: undefined },
        {
          devices: 1,
          connectedDevices: 0,
          queued: 0,
          locked: 2,
          deadLetters: 0,
          feedbackPending: 0,
          feedbackBatches: 0,
          commits: undefined,
          synchronous: 'FULL',
        },
      );
    });
  });

  describe('complete removes the message; feedback Success when ack is positive or full', () => {
    it('completes, and a second complete with the same token fails 412002', async () => {
      t = await openTestHub();
      const sent = await t.hub.send('dev1', { body: body('a'), ack: 'full', messageId: 'm1' });
      await t.hub.send('dev1', { body: body('b'), ack: 'negative' });
      const m = await mustReceive(t.hub);
      await t.hub.complete('dev1', m.lockToken);
      assert.equal(await codeOf(t.hub.complete('dev1', m.lockToken)), 412002);
      const n = await mustReceive(t.hub);
      await t.hub.complete('dev1', n.lockToken);
      const records = await drainFeedback(t.hub);
      assert.equal(records.length, 1);
      const gen = t.hub.registry.getDevice('dev1')!.generationId;
      assert.deepEqual(records[0], {
        originalMessageId: sent.messageId,
        deviceId: 'dev1',
        deviceGenerationId: gen,
        enqueuedTimeUtc: new Date(t.clock.now()).toISOString(),
        statusCode: 'Success',
        description: 'Success',
      });
    });
  });

  describe("settling with an unknown, stale or other device's lock token fails 412002", () => {
    it('rejects unknown tokens, tokens of another device, and tokens after lock expiry', async () => {
      t = await openTestHub();
      await t.hub.registry.createDevice({ deviceId: 'dev2' });
      await t.hub.send('dev1', { body: body('a') });
      const m = await mustReceive(t.hub);
      assert.equal(await codeOf(t.hub.complete('dev1', 'nope')), 412002);
      assert.equal(await codeOf(t.hub.complete('dev2', m.lockToken)), 412002);
      assert.equal(await codeOf(t.hub.abandon('ghost', m.lockToken)), 412002);
      t.clock.advance(60_000);
      assert.equal(await codeOf(t.hub.complete('dev1', m.lockToken)), 412002);
    });
  });

  describe('reject dead-letters the message; feedback Rejected when ack is negative or full', () => {
    it('rejects', async () => {
      t = await openTestHub();
      const dead: string[] = [];
      t.hub.events.on('deadLettered', (e) => dead.push(e.reason));
      await t.hub.send('dev1', { body: body('a'), ack: 'negative', messageId: 'r1' });
      await t.hub.send('dev1', { body: body('b'), ack: 'positive' });
      await t.hub.reject('dev1', (await mustReceive(t.hub)).lockToken);
      await t.hub.reject('dev1', (await mustReceive(t.hub)).lockToken);
      assert.deepEqual(dead, ['Rejected', 'Rejected']);
      const records = await drainFeedback(t.hub);
      assert.deepEqual(
        records.map((r) => [r.originalMessageId, r.statusCode, r.description]),
        [['r1', 'Rejected', 'Message rejected']],
      );
      assert.equal(await t.hub.receive('dev1'), null);
    });
  });

  describe('abandon returns the message to Enqueued at its place, delivery count +1', () => {
    it('redelivers the abandoned message before later ones', async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('a') });
      await t.hub.send('dev1', { body: body('b') });
      const a = await mustReceive(t.hub);
      const b = await mustReceive(t.hub);
      await t.hub.abandon('dev1', b.lockToken);
      await t.hub.abandon('dev1', a.lockToken);
      const again = await mustReceive(t.hub);
      assert.equal(again.body.toString(), 'a');
      assert.equal(again.deliveryCount, 1);
      assert.notEqual(again.lockToken, a.lockToken);
      assert.equal(await codeOf(t.hub.complete('dev1', a.lockToken)), 412002);
    });
  });

  describe('a message abandoned 10 times is dead-lettered and reported DeliveryCountExceeded', () => {
    it('is delivered 10 times, and the 10th abandon dead-letters it', async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('a'), ack: 'negative', messageId: 'dc' });
      for (let i = 0; i < 10; i++) {
        const m = await mustReceive(t.hub);
        assert.equal(m.deliveryCount, i);
        await t.hub.abandon('dev1', m.lockToken);
      }
      assert.equal(await t.hub.receive('dev1'), null);
      assert.equal(t.hub.registry.getDevice('dev1')!.cloudToDeviceMessageCount, 0);
      const records = await drainFeedback(t.hub);
      assert.deepEqual(
        records.map((r) => [r.originalMessageId, r.statusCode]),
        [['dc', 'DeliveryCountExceeded']],
      );
    });

    it('honours a smaller maxDeliveryCount', async () => {
      t = await openTestHub({ maxDeliveryCount: 1 });
      await t.hub.send('dev1', { body: body('a') });
      await t.hub.abandon('dev1', (await mustReceive(t.hub)).lockToken);
      assert.equal(await t.hub.receive('dev1'), null);
    });
  });

  describe('lock expiry returns the message to Enqueued without counting a delivery (IoT Hub docs 2026-02)', () => {
    it('does not count by default', async () => {
      t = await openTestHub();
      const expired: string[] = [];
      t.hub.events.on('lockExpired', (e) => expired.push(e.messageId));
      await t.hub.send('dev1', { body: body('a'), messageId: 'le' });
      for (let i = 0; i < 12; i++) {
        await mustReceive(t.hub);
        t.clock.advance(60_000);
      }
      const m = await mustReceive(t.hub);
      assert.equal(m.deliveryCount, 0);
      await t.hub.idle();
      assert.equal(expired.length, 12);
    });

    it('counts when lockExpiryCountsAsDelivery, and dead-letters at maxDeliveryCount', async () => {
      t = await openTestHub({ lockExpiryCountsAsDelivery: true, maxDeliveryCount: 2 });
      await t.hub.send('dev1', { body: body('a'), ack: 'full' });
      await mustReceive(t.hub);
      t.clock.advance(60_000);
      assert.equal((await mustReceive(t.hub)).deliveryCount, 1);
      t.clock.advance(60_000);
      assert.equal(await t.hub.receive('dev1'), null);
      assert.deepEqual(
        (await drainFeedback(t.hub)).map((r) => r.statusCode),
        ['DeliveryCountExceeded'],
      );
    });
  });

  describe('TTL expiry dead-letters Enqueued and Invisible messages; feedback Expired', () => {
    it('expires both', async () => {
      t = await openTestHub();
      const now = t.clock.now();
      await t.hub.send('dev1', { body: body('a'), ack: 'negative', messageId: 'e1', expiryTimeUtc: now + 30_000 });
      await t.hub.send('dev1', { body: body('b'), ack: 'full', messageId: 'e2', expiryTimeUtc: now + 30_000 });
      const m = await mustReceive(t.hub);
      t.clock.advance(30_000);
      assert.equal(await codeOf(t.hub.complete('dev1', m.lockToken)), 412002);
      assert.equal(await t.hub.receive('dev1'), null);
      const records = await drainFeedback(t.hub);
      assert.deepEqual(
        records.map((r) => [r.originalMessageId, r.statusCode, r.enqueuedTimeUtc]),
        [
          ['e1', 'Expired', new Date(now + 30_000).toISOString()],
          ['e2', 'Expired', new Date(now + 30_000).toISOString()],
        ],
      );
    });
  });

  describe('purge removes every pending message and reports Purged where ack wants negative', () => {
    it('purges Enqueued and Invisible messages and returns the count', async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('a'), ack: 'negative', messageId: 'p1' });
      await t.hub.send('dev1', { body: body('b'), ack: 'positive' });
      await t.hub.send('dev1', { body: body('c'), ack: 'full', messageId: 'p3' });
      const m = await mustReceive(t.hub);
      assert.equal(await t.hub.purge('dev1'), 3);
      assert.equal(await codeOf(t.hub.complete('dev1', m.lockToken)), 412002);
      assert.equal(await t.hub.purge('dev1'), 0);
      assert.equal(await codeOf(t.hub.purge('ghost')), 404001);
      const records = await drainFeedback(t.hub);
      assert.deepEqual(
        records.map((r) => [r.originalMessageId, r.statusCode, r.description]),
        [
          ['p1', 'Purged', 'Message purged'],
          ['p3', 'Purged', 'Message purged'],
        ],
      );
    });
  });

  describe('deleting a device drops its queue and its pending feedback', () => {
    it('drops both; a re-created device has a new generationId and an empty queue', async () => {
      t = await openTestHub();
      const gen = t.hub.registry.getDevice('dev1')!.generationId;
      await t.hub.send('dev1', { body: body('a'), ack: 'full' });
      await t.hub.complete('dev1', (await mustReceive(t.hub)).lockToken);
      assert.equal(t.hub.stats().feedbackPending, 1);
      await t.hub.send('dev1', { body: body('b') });
      await t.hub.registry.deleteDevice('dev1');
      assert.equal(t.hub.stats().feedbackPending, 0);
      assert.equal(await codeOf(t.hub.send('dev1', { body: body('c') })), 404001);
      const again = await t.hub.registry.createDevice({ deviceId: 'dev1' });
      assert.notEqual(again.generationId, gen);
      assert.equal(again.cloudToDeviceMessageCount, 0);
      assert.equal(await t.hub.receive('dev1'), null);
    });
  });

  describe('every transition is reported as a hub event', () => {
    it('emits enqueued, delivered, abandoned, completed, rejected, lockExpired, expired, deadLettered, purged, feedback', async () => {
      t = await openTestHub({ feedbackBatchWindowMs: 0 });
      const seen: string[] = [];
      for (const name of [
        'enqueued',
        'delivered',
        'abandoned',
        'completed',
        'rejected',
        'lockExpired',
        'expired',
        'deadLettered',
        'purged',
        'feedback',
        'deviceCreated',
        'deviceDeleted',
      ] as const) {
        t.hub.events.on(name, () => seen.push(name));
      }
      await t.hub.send('dev1', { body: body('a'), ack: 'full' });
      await t.hub.abandon('dev1', (await mustReceive(t.hub)).lockToken);
      await t.hub.complete('dev1', (await mustReceive(t.hub)).lockToken);
      await t.hub.send('dev1', { body: body('b') });
      await t.hub.reject('dev1', (await mustReceive(t.hub)).lockToken);
      await t.hub.send('dev1', { body: body('c'), expiryTimeUtc: t.clock.now() + 90_000 });
      await mustReceive(t.hub);
      t.clock.advance(60_000);
      t.clock.advance(30_000);
      await t.hub.purge('dev1');
      await t.hub.registry.createDevice({ deviceId: 'dev2' });
      await t.hub.registry.deleteDevice('dev2');
      assert.deepEqual(seen, [
        'enqueued',
        'delivered',
        'abandoned',
        'delivered',
        'completed',
        'feedback',
        'enqueued',
        'delivered',
        'rejected',
        'deadLettered',
        'enqueued',
        'delivered',
        'lockExpired',
        'expired',
        'deadLettered',
        'purged',
        'deviceCreated',
        'deviceDeleted',
      ]);
    });
  });
});

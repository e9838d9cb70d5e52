/**
 * The hub you can see: kept dead letters (retention by age and count,
 * requeue, delete, restart), peek, cancel and trace, on a real SQLite store
 * with an injected clock.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../lib/common/clock';
import { Hub } from '../../lib/hub';
import type { HubEventMap } from '../../lib/hub/api';
import { body, codeOf, drainFeedback, mustReceive, openTestHub, removeDir, tempDir, type TestHub } from './helpers';

const HOUR = 3_600_000;

describe('inspection: kept dead letters, peek, cancel, trace', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.hub.close();
  });

  async function rejectOne(messageId: string, extra: Partial<Parameters<Hub['send']>[1]> = {}): Promise<void> {
    await t.hub.send('dev1', { body: body(`body of ${messageId}`), messageId, ...extra });
    const m = await mustReceive(t.hub);
    await t.hub.reject('dev1', m.lockToken);
  }

  describe('dead letters are kept, with their reason, time, delivery count, body and properties', () => {
    it('keeps rejected, expired and too-often-delivered messages, and never delivers them again', async () => {
      t = await openTestHub({ maxDeliveryCount: 2 });
      await rejectOne('r1', { properties: { room: 'hall' }, ack: 'full', correlationId: 'c1' });
      const rejectedAt = t.clock.now();
      await t.hub.send('dev1', { body: body('e'), messageId: 'e1', expiryTimeUtc: t.clock.now() + 60_000 });
      await t.hub.send('dev1', { body: body('d'), messageId: 'd1' });
      // e1 is first in line: abandon it once, then let it expire while d1 is abandoned twice.
      const e = await mustReceive(t.hub);
      assert.equal(e.messageId, 'e1');
      await t.hub.abandon('dev1', e.lockToken);
      t.clock.advance(60_000);
      for (let i = 0; i < 2; i++) await t.hub.abandon('dev1', (await mustReceive(t.hub)).lockToken);
      assert.equal(await t.hub.receive('dev1'), null, 'no dead letter is delivered again');

      const page = t.hub.deadLetters({ deviceId: 'dev1', includeBody: true });
      assert.equal(page.total, 3);
      assert.deepEqual(
        page.items.map((d) => [d.messageId, d.reason, d.deliveryCount]),
        [
          ['r1', 'Rejected', 0],
          ['e1', 'Expired', 1],
          ['d1', 'DeliveryCountExceeded', 2],
        ],
      );
      const r1 = page.items[0]!;
      assert.equal(r1.body?.toString(), 'body of r1');
      assert.deepEqual(r1.properties, { room: 'hall' });
      assert.equal(r1.correlationId, 'c1');
      assert.equal(r1.ack, 'full');
      assert.equal(r1.deadLetteredTimeUtc, rejectedAt);
      assert.equal(t.hub.deadLetters({ deviceId: 'dev1' }).items[0]!.body, undefined, 'the body only on request');
      assert.equal(t.hub.stats().deadLetters, 3);
      // Feedback is IoT Hub's, kept or not.
      assert.deepEqual(
        (await drainFeedback(t.hub)).map((r) => r.statusCode),
        ['Rejected'],
      );
    });

    it('drops a dead letter once it is deadLetterTtlMs old, and the oldest beyond deadLetterMaxPerDevice', async () => {
      t = await openTestHub({ deadLetterTtlMs: 2 * HOUR, deadLetterMaxPerDevice: 3 });
      const dropped: HubEventMap['deadLettersDropped'][] = [];
      t.hub.events.on('deadLettersDropped', (e) => dropped.push(e));
      for (const id of ['a', 'b', 'c', 'd']) await rejectOne(id);
      assert.deepEqual(
        t.hub.deadLetters().items.map((d) => d.messageId),
        ['b', 'c', 'd'],
        'the oldest went over the count',
      );
      t.clock.advance(HOUR);
      await rejectOne('e');
      assert.deepEqual(
        t.hub.deadLetters().items.map((d) => d.messageId),
        ['c', 'd', 'e'],
      );
      t.clock.advance(HOUR); // c and d are 2 h old now, e 1 h: the scheduler drops them on its own
      await t.hub.idle();
      assert.equal(t.hub.stats().deadLetters, 1);
      assert.deepEqual(
        t.hub.deadLetters().items.map((d) => d.messageId),
        ['e'],
      );
      assert.deepEqual(
        dropped.map((e) => e.why),
        ['count', 'count', 'age'],
      );
    });

    it('keeps none with a limit of 0 (IoT Hub: dropped at once), but still reports the dead-lettering', async () => {
      for (const limits of [{ deadLetterTtlMs: 0 }, { deadLetterMaxPerDevice: 0 }]) {
        t = await openTestHub(limits);
        const seen: HubEventMap['deadLettered'][] = [];
        t.hub.events.on('deadLettered', (e) => seen.push(e));
        await rejectOne('x');
        await t.hub.idle();
        assert.equal(t.hub.deadLetters().total, 0);
        assert.deepEqual(seen, [{ deviceId: 'dev1', messageId: 'x', reason: 'Rejected', kept: false }]);
        await t.hub.close();
      }
    });

    it('lists hub-wide, device by device, paged', async () => {
      t = await openTestHub();
      await t.hub.registry.createDevice({ deviceId: 'dev0' });
      for (const id of ['a', 'b', 'c']) await rejectOne(id);
      await t.hub.send('dev0', { body: body('z'), messageId: 'z' });
      await t.hub.reject('dev0', (await mustReceive(t.hub, 'dev0')).lockToken);
      const all = t.hub.deadLetters();
      assert.equal(all.total, 4);
      assert.deepEqual(
        all.items.map((d) => `${d.deviceId}/${d.messageId}`),
        ['dev0/z', 'dev1/a', 'dev1/b', 'dev1/c'],
      );
      assert.deepEqual(
        t.hub.deadLetters({ offset: 1, limit: 2 }).items.map((d) => d.messageId),
        ['a', 'b'],
      );
      assert.equal(await codeOf(() => t.hub.deadLetters({ limit: 0 })), 400004);
      assert.equal(await codeOf(() => t.hub.deadLetters({ deviceId: 'nobody' })), 404001);
    });

    it('requeue sends it again as a new message: new sequence number, delivery count 0, same messageId, feedback correlates', async () => {
      t = await openTestHub();
      const sent = await t.hub.send('dev1', { body: body('again'), messageId: 'rq', ack: 'full', properties: { k: 'v' } });
      await t.hub.reject('dev1', (await mustReceive(t.hub)).lockToken);
      await drainFeedback(t.hub);
      const requeued = await t.hub.requeueDeadLetter('dev1', { messageId: 'rq' });
      assert.equal(requeued.messageId, 'rq');
      assert.ok(requeued.sequenceNumber > sent.sequenceNumber);
      assert.equal(t.hub.deadLetters().total, 0, 'the dead letter is gone once its copy is queued');
      const m = await mustReceive(t.hub);
      assert.deepEqual([m.messageId, m.deliveryCount, m.body.toString(), m.properties], ['rq', 0, 'again', { k: 'v' }]);
      await t.hub.complete('dev1', m.lockToken);
      assert.deepEqual(
        (await drainFeedback(t.hub)).map((r) => [r.originalMessageId, r.statusCode]),
        [['rq', 'Success']],
      );
    });

    it('requeue into a full queue is refused with 403004 and keeps the dead letter', async () => {
      t = await openTestHub({ maxQueueDepth: 1 });
      await rejectOne('dl');
      await t.hub.send('dev1', { body: body('fills the queue') });
      assert.equal(await codeOf(t.hub.requeueDeadLetter('dev1', { messageId: 'dl' })), 403004);
      assert.equal(t.hub.deadLetters().total, 1);
    });

    it('requeue and delete name a dead letter by messageId or sequence number; 404000 when there is none', async () => {
      t = await openTestHub();
      await rejectOne('a');
      await rejectOne('b');
      const seqOfB = t.hub.deadLetters().items[1]!.sequenceNumber;
      await t.hub.deleteDeadLetter('dev1', { sequenceNumber: seqOfB });
      assert.deepEqual(
        t.hub.deadLetters().items.map((d) => d.messageId),
        ['a'],
      );
      await t.hub.deleteDeadLetter('dev1', { messageId: 'a' });
      assert.equal(t.hub.deadLetters().total, 0);
      assert.equal(await codeOf(t.hub.deleteDeadLetter('dev1', { messageId: 'a' })), 404000);
      assert.equal(await codeOf(t.hub.requeueDeadLetter('dev1', { sequenceNumber: 999 })), 404000);
      assert.equal(await codeOf(t.hub.requeueDeadLetter('nobody', { messageId: 'a' })), 404001);
    });

    it('deleting the device drops its dead letters', async () => {
      t = await openTestHub();
      await rejectOne('a');
      await t.hub.registry.deleteDevice('dev1');
      assert.equal(t.hub.deadLetters().total, 0);
      await t.hub.registry.createDevice({ deviceId: 'dev1' });
      assert.equal(t.hub.deadLetters({ deviceId: 'dev1' }).total, 0);
    });

    it('a restart keeps dead letters (and their age), and a requeue survives one too', async () => {
      const dir = tempDir();
      const clock = new ManualClock();
      const limits = { deadLetterTtlMs: 2 * HOUR };
      let hub = await Hub.open({ dataDir: dir, clock, limits });
      try {
        await hub.registry.createDevice({ deviceId: 'dev1' });
        for (const id of ['a', 'b']) {
          await hub.send('dev1', { body: body(id), messageId: id, properties: { p: id } });
          await hub.reject('dev1', (await mustReceive(hub)).lockToken);
        }
        await hub.requeueDeadLetter('dev1', { messageId: 'b' });
        await hub.close();
        clock.advance(HOUR / 2); // within the copy's 1 h TTL
        hub = await Hub.open({ dataDir: dir, clock, limits });
        const kept = hub.deadLetters({ includeBody: true }).items;
        assert.deepEqual(
          kept.map((d) => [d.messageId, d.reason, d.body?.toString(), d.properties.p]),
          [['a', 'Rejected', 'a', 'a']],
        );
        assert.equal(
          hub
            .queueOf('dev1')!
            .messages.map((e) => e.message.messageId)
            .join(),
          'b',
          'the requeued copy is pending',
        );
        await hub.close();
        clock.advance((3 * HOUR) / 2);
        hub = await Hub.open({ dataDir: dir, clock, limits });
        // 'a' aged out while the hub was down; the copy of 'b' expired meanwhile (its 1 h TTL) and is a dead letter now.
        assert.deepEqual(
          hub.deadLetters().items.map((d) => [d.messageId, d.reason]),
          [['b', 'Expired']],
        );
      } finally {
        await hub.close();
        removeDir(dir);
      }
    });
  });

  describe('peek', () => {
    it("shows the device's pending messages in order with state, lock expiry, delivery count, expiry, size and properties, changing nothing", async () => {
      t = await openTestHub();
      const now = t.clock.now();
      await t.hub.send('dev1', { body: body('first'), messageId: 'p1', properties: { a: '1' } });
      await t.hub.send('dev1', { body: body('second'), messageId: 'p2', expiryTimeUtc: now + 120_000 });
      const locked = await mustReceive(t.hub);
      await t.hub.abandon('dev1', locked.lockToken);
      const again = await mustReceive(t.hub);
      const before = t.hub.queueOf('dev1');
      const view = t.hub.peek('dev1');
      assert.equal(t.hub.queueOf('dev1'), before, 'peek changes nothing');
      assert.deepEqual(
        view.map((v) => [v.messageId, v.state, v.deliveryCount, v.lockedUntilUtc, v.expiryTimeUtc]),
        [
          ['p1', 'Invisible', 1, again.lockedUntilUtc, now + t.hub.limits.defaultTtlMs],
          ['p2', 'Enqueued', 0, undefined, now + 120_000],
        ],
      );
      assert.deepEqual(view[0]!.properties, { a: '1' });
      assert.equal(view[0]!.size, 'first'.length + 'p1'.length + 'none'.length + 8 + 2);
      assert.equal(view[0]!.body, undefined);
      assert.equal(t.hub.peek('dev1', { includeBody: true })[1]!.body?.toString(), 'second');
      assert.ok(!JSON.stringify(view).includes(again.lockToken), 'no lock token is shown');
      assert.equal(await codeOf(() => t.hub.peek('nobody')), 404001);
    });

    it('applies due deadlines first: an expired message is not shown as pending', async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('x'), messageId: 'soon', expiryTimeUtc: t.clock.now() + 60_000 });
      t.clock.advance(60_000);
      assert.deepEqual(t.hub.peek('dev1'), []);
    });
  });

  describe('cancel', () => {
    it('removes one pending message by messageId, with Purged feedback where its ack asks for negatives', async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('keep'), messageId: 'k' });
      await t.hub.send('dev1', { body: body('go'), messageId: 'go', ack: 'negative' });
      assert.equal(await t.hub.cancel('dev1', 'go'), 1);
      assert.deepEqual(
        t.hub.peek('dev1').map((v) => v.messageId),
        ['k'],
      );
      assert.deepEqual(
        (await drainFeedback(t.hub)).map((r) => [r.originalMessageId, r.statusCode]),
        [['go', 'Purged']],
      );
      assert.equal(await codeOf(t.hub.cancel('dev1', 'go')), 404000);
      assert.equal(await codeOf(t.hub.cancel('nobody', 'go')), 404001);
    });

    it('cancelling a locked message ends its lock: a late complete fails 412002 and the receiver is told', async () => {
      t = await openTestHub();
      const lost: string[] = [];
      const delivered: string[] = [];
      const receiver = t.hub.openReceiver('dev1', { deliver: (m) => delivered.push(m.lockToken), lockLost: (token) => lost.push(token) }, { credit: 1 });
      await t.hub.send('dev1', { body: body('x'), messageId: 'c' });
      await t.hub.idle();
      assert.equal(delivered.length, 1);
      await t.hub.cancel('dev1', 'c');
      await t.hub.idle();
      assert.deepEqual(lost, delivered);
      assert.equal(await codeOf(t.hub.complete('dev1', delivered[0]!)), 412002);
      receiver.close();
    });
  });

  describe('trace', () => {
    it("records a message's life: enqueued, each delivery with its transport, abandon, lock expiry, outcome, feedback", async () => {
      t = await openTestHub();
      await t.hub.send('dev1', { body: body('x'), messageId: 'tr', ack: 'full' });
      await t.hub.abandon('dev1', (await mustReceive(t.hub)).lockToken);
      await mustReceive(t.hub);
      t.clock.advance(t.hub.limits.lockTimeoutMs);
      await t.hub.reject('dev1', (await t.hub.receive('dev1', { transport: 'amqp' }))!.lockToken);
      await t.hub.flushFeedback();
      await t.hub.idle();
      assert.deepEqual(
        t.hub.trace('tr').map((e) => [e.event, e.transport ?? e.reason ?? e.deliveryCount ?? '']),
        [
          ['enqueued', 0],
          ['delivered', 'http'],
          ['abandoned', 1],
          ['delivered', 'http'],
          ['lockExpired', ''],
          ['delivered', 'amqp'],
          ['rejected', ''],
          ['deadLettered', 'Rejected'],
          ['feedback', 'Rejected'],
        ],
      );
      assert.deepEqual(t.hub.trace('unknown'), []);
    });

    it('is bounded: the oldest events go beyond traceMaxEvents, and none older than traceTtlMs is returned', async () => {
      t = await openTestHub({ traceMaxEvents: 3, traceTtlMs: 60_000 });
      for (const id of ['a', 'b', 'c', 'd']) await t.hub.send('dev1', { body: body(id), messageId: id });
      await t.hub.idle();
      assert.deepEqual(
        ['a', 'b', 'c', 'd'].map((id) => t.hub.trace(id).length),
        [0, 1, 1, 1],
      );
      t.clock.advance(60_000);
      assert.deepEqual(t.hub.trace('d'), []);
    });
  });

  describe('events report committed changes only', () => {
    it('emits enqueued after the commit and never for a send whose commit failed; the failed send is taken back, even from a poll that locked it', async () => {
      const dir = tempDir();
      const hub = await Hub.open({ dataDir: dir, clock: new ManualClock() });
      try {
        await hub.registry.createDevice({ deviceId: 'dev1' });
        const seen: string[] = [];
        hub.events.on('enqueued', (e) => seen.push(e.messageId));
        const sending = hub.send('dev1', { body: body('x'), messageId: 'ok' });
        assert.deepEqual(seen, [], 'not while the commit is pending');
        await sending;
        assert.deepEqual(seen, ['ok']);
        // A second connection breaks the store under the hub (a real SQLite failure): the next commit fails.
        const other = new Database(path.join(dir, 'hub.db'));
        other.exec('DROP TABLE messages');
        other.close();
        const failing = hub.send('dev1', { body: body('y'), messageId: 'lost' });
        // An HTTP poll takes it before the commit fails (the first, 'ok', is locked by this poll first).
        await mustReceive(hub);
        const early = await mustReceive(hub);
        assert.equal(early.messageId, 'lost');
        assert.equal(await codeOf(failing), 500001);
        await hub.idle();
        assert.deepEqual(seen, ['ok'], 'no enqueued event for the send that did not commit');
        assert.deepEqual(
          hub.peek('dev1').map((v) => v.messageId),
          ['ok'],
          'the failed send is not pending',
        );
        assert.equal(await codeOf(hub.complete('dev1', early.lockToken)), 412002);
      } finally {
        await hub.close();
        removeDir(dir);
      }
    });

    it('a listener added after changes nobody observed sees the next ones, and none after it is removed', async () => {
      // No trace either: nothing listens, so the engine builds no events until someone does.
      t = await openTestHub({ traceMaxEvents: 0 });
      await t.hub.send('dev1', { body: body('a'), messageId: 'unseen' });
      const seen: string[] = [];
      const onEnqueued = (e: HubEventMap['enqueued']): void => {
        seen.push(e.messageId);
      };
      t.hub.events.on('enqueued', onEnqueued);
      await t.hub.send('dev1', { body: body('b'), messageId: 'seen' });
      await t.hub.idle();
      assert.deepEqual(seen, ['seen']);
      t.hub.events.off('enqueued', onEnqueued);
      await t.hub.send('dev1', { body: body('c'), messageId: 'after' });
      await t.hub.idle();
      assert.deepEqual(seen, ['seen']);
      t.hub.events.on('enqueued', onEnqueued);
      await t.hub.send('dev1', { body: body('d'), messageId: 'again' });
      await t.hub.idle();
      assert.deepEqual(seen, ['seen', 'again']);
    });

    it('each purge of an empty queue reports itself once (a change handed out is never added to in place)', async () => {
      t = await openTestHub();
      const purged: number[] = [];
      t.hub.events.on('purged', (e) => purged.push(e.count));
      assert.equal(await t.hub.purge('dev1'), 0);
      assert.equal(await t.hub.purge('dev1'), 0);
      await t.hub.send('dev1', { body: body('x'), messageId: 'x' });
      assert.equal(await t.hub.purge('dev1'), 1);
      await t.hub.idle();
      assert.deepEqual(purged, [0, 0, 1]);
    });
  });
});

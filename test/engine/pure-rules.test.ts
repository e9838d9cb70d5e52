/**
 * The pure rules on their own (queue.ts, dead-letters.ts): plain data in,
 * plain data out, no store, no clock, no hub.
 */
import assert from 'node:assert/strict';
import { DEFAULT_LIMITS, type HubLimits } from '../../lib/common/limits';
import type { FeedbackRecord } from '../../lib/common/message';
import * as DL from '../../lib/hub/engine/dead-letters';
import * as F from '../../lib/hub/engine/feedback';
import * as Q from '../../lib/hub/engine/queue';

const limits: HubLimits = { ...DEFAULT_LIMITS };
const T0 = 1_000_000;

function queueWith(...ids: string[]): Q.DeviceQueue {
  let q = Q.emptyQueue('dev', 'g1');
  for (const id of ids) q = Q.send(q, { body: Buffer.from(id), messageId: id, ack: 'negative' }, 'unused', T0, limits).queue;
  return q;
}

const codeOf = (f: () => unknown): number | undefined => {
  try {
    f();
  } catch (e) {
    return (e as { code?: number }).code;
  }
  return undefined;
};

describe('pure rules', () => {
  describe('queue.unsend (a send whose commit failed)', () => {
    it('takes the message back out whatever its state, naming the lock that ends with it', () => {
      const q = queueWith('a', 'b');
      const enqueuedB = Q.unsend(q, 2);
      assert.deepEqual(
        enqueuedB.queue.messages.map((e) => e.message.messageId),
        ['a'],
      );
      assert.deepEqual(
        enqueuedB.effects.map((e) => [e.type, 'lockToken' in e ? e.lockToken : undefined]),
        [['unsent', undefined]],
      );

      const locked = Q.receive(q, 'tok', T0, limits).queue;
      const lockedA = Q.unsend(locked, 1);
      assert.deepEqual(
        lockedA.queue.messages.map((e) => e.message.messageId),
        ['b'],
      );
      assert.deepEqual(lockedA.effects, [{ type: 'unsent', message: q.messages[0]!.message, lockToken: 'tok' }]);
    });

    it('keeps the counter (sequence numbers are never handed out twice) and ignores an unknown one', () => {
      const q = queueWith('a');
      const t = Q.unsend(q, 1);
      assert.equal(t.queue.lastSequenceNumber, 1);
      assert.equal(Q.send(t.queue, { body: Buffer.from('c') }, 'c', T0, limits).queue.messages[0]!.message.sequenceNumber, 2);
      assert.equal(Q.unsend(q, 7).queue, q);
    });
  });

  describe('queue.cancel', () => {
    it('removes every pending message with the id, with Purged feedback for negative acks; 404000 when none', () => {
      const q = Q.receive(queueWith('x', 'keep', 'x'), 'tok', T0, limits).queue;
      const t = Q.cancel(q, 'x', T0 + 5);
      assert.deepEqual(
        t.queue.messages.map((e) => e.message.messageId),
        ['keep'],
      );
      assert.deepEqual(
        t.effects.map((e) => [e.type, e.type === 'cancelled' ? [e.feedback?.statusCode, e.lockToken] : undefined]),
        [
          ['cancelled', ['Purged', 'tok']],
          ['cancelled', ['Purged', undefined]],
        ],
      );
      assert.equal(
        codeOf(() => Q.cancel(q, 'nope', T0)),
        404000,
      );
    });
  });

  describe('queue effects name the locks that end without a settlement', () => {
    it('TTL expiry of a locked message and a purge carry the lock tokens', () => {
      const q = Q.receive(queueWith('a', 'b'), 'tok', T0, limits).queue;
      const expired = Q.applyDeadlines(q, T0 + limits.defaultTtlMs, limits);
      assert.deepEqual(
        expired.effects.map((e) => [e.type, e.type === 'deadLettered' ? e.lockToken : undefined]),
        [
          ['deadLettered', 'tok'],
          ['deadLettered', undefined],
        ],
      );
      const purged = Q.purge(q, T0);
      assert.deepEqual(purged.effects[0]!.type === 'purged' && purged.effects[0]!.lockTokens, ['tok']);
    });
  });

  describe('queue.peek', () => {
    it('lists pending messages in order with state and lock expiry, and changes nothing', () => {
      const q = Q.receive(queueWith('a', 'b'), 'tok', T0, limits).queue;
      assert.deepEqual(
        Q.peek(q).map((p) => [p.message.messageId, p.state, p.lockedUntilUtc]),
        [
          ['a', 'Invisible', T0 + limits.lockTimeoutMs],
          ['b', 'Enqueued', undefined],
        ],
      );
    });
  });

  describe('dead-letters', () => {
    const dl = (id: string, seq: number, at: number, deviceId = 'dev'): DL.DeadLetter => ({
      message: { ...queueWith(id).messages[0]!.message, deviceId, sequenceNumber: seq },
      reason: 'Rejected',
      deadLetteredTimeUtc: at,
    });
    const small: HubLimits = { ...limits, deadLetterMaxPerDevice: 2, deadLetterTtlMs: 1000 };

    it('keep appends and drops the oldest beyond the count, naming them', () => {
      let box = DL.EMPTY_BOX;
      const effects: DL.DeadLetterEffect[] = [];
      for (const [i, id] of ['a', 'b', 'c'].entries()) {
        const t = DL.keep(box, dl(id, i + 1, T0 + i), small);
        box = t.box;
        effects.push(...t.effects);
      }
      assert.deepEqual(
        box.get('dev')!.map((d) => d.message.messageId),
        ['b', 'c'],
      );
      assert.deepEqual(
        effects.filter((e) => e.type === 'dropped'),
        [{ type: 'dropped', deviceId: 'dev', sequenceNumbers: [1], why: 'count' }],
      );
      assert.equal(DL.EMPTY_BOX.size, 0, 'the input box is never changed');
    });

    it('keeps nothing when either limit is 0', () => {
      assert.deepEqual(DL.keep(DL.EMPTY_BOX, dl('a', 1, T0), { ...limits, deadLetterTtlMs: 0 }), { box: DL.EMPTY_BOX, effects: [] });
      assert.deepEqual(DL.keep(DL.EMPTY_BOX, dl('a', 1, T0), { ...limits, deadLetterMaxPerDevice: 0 }), { box: DL.EMPTY_BOX, effects: [] });
    });

    it('applyDeadlines drops exactly those deadLetterTtlMs old; nextDeadline is the oldest one', () => {
      let box = DL.keep(DL.EMPTY_BOX, dl('a', 1, T0), small).box;
      box = DL.keep(box, dl('b', 2, T0 + 500), small).box;
      assert.equal(DL.nextDeadline(box, 'dev', small), T0 + 1000);
      assert.equal(DL.applyDeadlines(box, 'dev', T0 + 999, small).box, box);
      const t = DL.applyDeadlines(box, 'dev', T0 + 1000, small);
      assert.deepEqual(
        t.box.get('dev')!.map((d) => d.message.messageId),
        ['b'],
      );
      assert.deepEqual(t.effects, [{ type: 'dropped', deviceId: 'dev', sequenceNumbers: [1], why: 'age' }]);
      assert.equal(DL.applyDeadlines(t.box, 'dev', T0 + 1500, small).box.has('dev'), false);
    });

    it('find by sequence number or by messageId (the most recent); 404000 otherwise', () => {
      let box = DL.keep(DL.EMPTY_BOX, dl('same', 1, T0), limits).box;
      box = DL.keep(box, dl('same', 2, T0 + 1), limits).box;
      assert.equal(DL.find(box, 'dev', { messageId: 'same' }).message.sequenceNumber, 2);
      assert.equal(DL.find(box, 'dev', { sequenceNumber: 1 }).message.sequenceNumber, 1);
      assert.equal(
        codeOf(() => DL.find(box, 'dev', { sequenceNumber: 3 })),
        404000,
      );
      assert.equal(
        codeOf(() => DL.find(box, 'other', { messageId: 'same' })),
        404000,
      );
    });

    it('requeueMessage keeps ids, ack and properties, and gives the TTL it was sent with, from now', () => {
      const d = dl('r', 1, T0);
      const m = DL.requeueMessage(
        { ...d, message: { ...d.message, properties: { k: 'v' }, correlationId: 'c', expiryTimeUtc: d.message.enqueuedTimeUtc + 90_000 } },
        T0 + 10,
        limits,
      );
      assert.deepEqual([m.messageId, m.correlationId, m.ack, m.properties, m.expiryTimeUtc], ['r', 'c', 'negative', { k: 'v' }, T0 + 10 + 90_000]);
    });
  });
});

describe('pure rules: feedback.ts', () => {
  const rec = (id: string, deviceId = 'dev'): FeedbackRecord => ({
    originalMessageId: id,
    deviceId,
    deviceGenerationId: 'g',
    enqueuedTimeUtc: new Date(T0).toISOString(),
    statusCode: 'Success',
    description: 'Success',
  });
  let n = 0;
  const ids = (): string => `id${++n}`;
  const fl: HubLimits = {
    ...limits,
    feedbackBatchMaxRecords: 2,
    feedbackBatchWindowMs: 1000,
    feedbackLockMs: 5000,
    feedbackTtlMs: 60_000,
    feedbackMaxDeliveryCount: 2,
  };

  it('addRecords keeps records pending below the batch size, and cuts a batch at it', () => {
    const one = F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, fl, ids);
    assert.deepEqual([one.state.pending.length, one.state.batches.length], [1, 0]);
    const two = F.addRecords(one.state, [rec('b'), rec('c')], T0 + 1, fl, ids);
    assert.deepEqual(
      two.state.batches.map((b) => b.records.map((r) => r.originalMessageId)),
      [['a', 'b'], ['c']],
    );
    assert.equal(two.state.pending.length, 0);
    assert.deepEqual(two.effects.filter((e) => e.type === 'batchCreated').length, 2);
  });

  it('a zero window cuts a batch on every addition; the window cuts the oldest pending record when due', () => {
    assert.equal(F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, { ...fl, feedbackBatchWindowMs: 0 }, ids).state.batches.length, 1);
    const s = F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, fl, ids).state;
    assert.equal(F.nextDeadline(s, fl), T0 + 1000);
    assert.equal(F.applyDeadlines(s, T0 + 999, fl, ids).state.batches.length, 0);
    assert.equal(F.applyDeadlines(s, T0 + 1000, fl, ids).state.batches.length, 1);
  });

  it('receive locks the oldest batch; complete removes it; a stale or unknown token is 412002', () => {
    const s = F.flush(F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, fl, ids).state, T0, fl, ids).state;
    const r = F.receive(s, 'tok', T0, fl);
    assert.equal(r.batch?.lockedUntilUtc, T0 + 5000);
    assert.equal(F.receive(r.state, 'tok2', T0, fl).batch, undefined, 'the only batch is locked');
    assert.equal(F.settle(r.state, 'tok', 'complete', T0 + 1, fl).state.batches.length, 0);
    assert.equal(
      codeOf(() => F.settle(r.state, 'tok', 'complete', T0 + 5000, fl)),
      412002,
      'after the lock ended',
    );
    assert.equal(
      codeOf(() => F.settle(r.state, 'nope', 'complete', T0, fl)),
      412002,
    );
  });

  it('abandon returns the batch counted; at feedbackMaxDeliveryCount it is dropped; lock expiry returns it uncounted by default', () => {
    const s = F.flush(F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, fl, ids).state, T0, fl, ids).state;
    const once = F.settle(F.receive(s, 't1', T0, fl).state, 't1', 'abandon', T0, fl).state;
    assert.deepEqual([once.batches.length, once.batches[0]!.deliveryCount, once.batches[0]!.lockToken], [1, 1, undefined]);
    const twice = F.settle(F.receive(once, 't2', T0, fl).state, 't2', 'abandon', T0, fl);
    assert.equal(twice.state.batches.length, 0);
    assert.ok(twice.effects.some((e) => e.type === 'batchRemoved' && e.reason === 'deliveryCountExceeded'));
    const expired = F.applyDeadlines(F.receive(s, 't3', T0, fl).state, T0 + 5000, fl, ids).state;
    assert.deepEqual([expired.batches[0]!.deliveryCount, expired.batches[0]!.lockToken], [0, undefined]);
  });

  it('effects name the lock that ended without a settlement (lock or TTL expiry), and no lock for a settlement', () => {
    const s = F.flush(F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, fl, ids).state, T0, fl, ids).state;
    const lost = (t: F.FeedbackTransition): (string | undefined)[] =>
      t.effects.flatMap((e) => (e.type === 'batchReturned' || e.type === 'batchRemoved' ? [e.lostLock] : []));
    assert.deepEqual(lost(F.applyDeadlines(F.receive(s, 'l1', T0, fl).state, T0 + 5000, fl, ids)), ['l1'], 'lock expiry');
    assert.deepEqual(lost(F.applyDeadlines(F.receive(s, 'l2', T0 + 59_000, fl).state, T0 + 60_000, fl, ids)), ['l2'], 'TTL expiry while locked');
    assert.deepEqual(lost(F.applyDeadlines(s, T0 + 60_000, fl, ids)), [undefined], 'TTL expiry of an unlocked batch');
    assert.deepEqual(lost(F.settle(F.receive(s, 'l3', T0, fl).state, 'l3', 'abandon', T0, fl)), [undefined], 'abandon');
    const atMax = F.applyDeadlines(F.receive(s, 'l4', T0, fl).state, T0 + 5000, { ...fl, lockExpiryCountsAsDelivery: true, feedbackMaxDeliveryCount: 1 }, ids);
    assert.deepEqual(lost(atMax), ['l4'], 'lock expiry at the delivery-count limit');
  });

  it('a batch older than feedbackTtlMs is dropped, locked or not; dropDevice drops only pending records of that device', () => {
    const s = F.flush(F.addRecords(F.EMPTY_FEEDBACK, [rec('a')], T0, fl, ids).state, T0, fl, ids).state;
    assert.equal(F.applyDeadlines(F.receive(s, 't', T0 + 59_000, fl).state, T0 + 60_000, fl, ids).state.batches.length, 0);
    const p = F.addRecords(F.EMPTY_FEEDBACK, [rec('x', 'gone')], T0, fl, ids).state;
    const both = F.addRecords(p, [rec('y', 'stays')], T0, { ...fl, feedbackBatchMaxRecords: 64 }, ids).state;
    assert.deepEqual(
      F.dropDevice(both, 'gone').state.pending.map((r) => r.record.deviceId),
      ['stays'],
    );
  });
});

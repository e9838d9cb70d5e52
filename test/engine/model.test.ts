/**
 * Model-based test: random sequences of send / receive / complete / reject /
 * abandon / purge / advance-clock / restart against a file-backed Hub and the
 * reference model (model.ts). After every command the engine and the model
 * must agree on each queue (per message: id, state, deliveryCount) and on
 * the feedback queue (pending records, and each batch's records, delivery
 * count and lock), on what peek shows, and on the kept dead letters. Feedback
 * receive/settle/flush and dead-letter requeue/delete are commands too. C2D_LONG=1 runs many more cases.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../lib/common/clock';
import type { AckMode, FeedbackRecord } from '../../lib/common/message';
import { Hub } from '../../lib/hub';
import { Model, type ModelLimits } from './model';
import { removeDir, tempDir } from './helpers';

const DEVICES = ['d1', 'd2'];
const LONG = process.env.C2D_LONG === '1';

type Command =
  | { k: 'send'; dev: number; ack: AckMode; ttl: number | undefined }
  | { k: 'receive'; dev: number }
  | { k: 'settle'; dev: number; how: 'complete' | 'reject' | 'abandon'; pick: number }
  | { k: 'purge'; dev: number }
  | { k: 'advance'; ms: number }
  | { k: 'fbReceive' }
  | { k: 'fbSettle'; how: 'complete' | 'reject' | 'abandon'; pick: number }
  | { k: 'fbFlush' }
  | { k: 'requeue'; dev: number; pick: number }
  | { k: 'dlDelete'; dev: number; pick: number }
  | { k: 'restart' };

const dev = fc.integer({ min: 0, max: DEVICES.length - 1 });
const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('send' as const),
      dev,
      ack: fc.constantFrom<AckMode>('none', 'positive', 'negative', 'full'),
      ttl: fc.constantFrom(undefined, 30_000, 90_000, 0, 10 * 60_000),
    }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('receive' as const), dev }) },
  {
    weight: 4,
    arbitrary: fc.record({
      k: fc.constant('settle' as const),
      dev,
      how: fc.constantFrom('complete' as const, 'reject' as const, 'abandon' as const),
      pick: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('purge' as const), dev }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.constantFrom(1_000, 20_000, 60_000, 150_000) }) },
  { weight: 1, arbitrary: fc.constant({ k: 'restart' as const }) },
  { weight: 1, arbitrary: fc.constant({ k: 'fbReceive' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      k: fc.constant('fbSettle' as const),
      how: fc.constantFrom('complete' as const, 'reject' as const, 'abandon' as const),
      pick: fc.nat(),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ k: 'fbFlush' as const }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('requeue' as const), dev, pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('dlDelete' as const), dev, pick: fc.nat() }) },
);

const recordKey = (r: { id: string; deviceId: string; status: string; at: number }): string => `${r.deviceId}|${r.id}|${r.status}|${r.at}`;
const recordOf = (r: FeedbackRecord): string =>
  recordKey({ id: r.originalMessageId, deviceId: r.deviceId, status: r.statusCode, at: Date.parse(r.enqueuedTimeUtc) });

async function run(limits: ModelLimits, commands: Command[]): Promise<void> {
  const dir = tempDir();
  const clock = new ManualClock();
  const model = new Model(limits, DEVICES, clock.now());
  const open = (): Promise<Hub> =>
    // NORMAL: WAL commits without fsync keep the test quick; a process crash still loses nothing (crash.test covers FULL).
    Hub.open({ dataDir: dir, clock, synchronous: 'NORMAL', limits });
  let hub = await open();
  try {
    for (const d of DEVICES) await hub.registry.createDevice({ deviceId: d });
    const tokens = new Map<string, string[]>(DEVICES.map((d) => [d, []]));
    const fbTokens: string[] = [];
    let n = 0;
    for (const c of commands) {
      if (c.k === 'send') {
        const d = DEVICES[c.dev]!;
        const id = `m${++n}`;
        const expiry = c.ttl === undefined ? undefined : clock.now() + c.ttl;
        let code: number | undefined;
        let seq = 0;
        try {
          seq = (await hub.send(d, { body: Buffer.from(id), messageId: id, ack: c.ack, ...(expiry !== undefined ? { expiryTimeUtc: expiry } : {}) }))
            .sequenceNumber;
        } catch (e) {
          code = (e as { code?: number }).code;
        }
        assert.equal(code, model.send(d, id, seq, c.ack, expiry), `send ${id}`);
      } else if (c.k === 'receive') {
        const d = DEVICES[c.dev]!;
        const got = await hub.receive(d);
        const want = model.receive(d, got?.lockToken ?? '');
        assert.equal(got?.messageId, want?.id, `receive on ${d}`);
        if (got) {
          assert.equal(got.deliveryCount, want!.deliveryCount);
          tokens.get(d)!.push(got.lockToken);
        }
      } else if (c.k === 'settle') {
        const d = DEVICES[c.dev]!;
        const all = tokens.get(d)!;
        const token = all.length > 0 ? all[c.pick % all.length]! : 'no-such-token';
        let code: number | undefined;
        try {
          await hub[c.how](d, token);
        } catch (e) {
          code = (e as { code?: number }).code;
        }
        assert.equal(code, model.settle(d, token, c.how), `${c.how} on ${d}`);
      } else if (c.k === 'purge') {
        const d = DEVICES[c.dev]!;
        assert.equal(await hub.purge(d), model.purge(d));
      } else if (c.k === 'advance') {
        clock.advance(c.ms);
        model.advanceTo(clock.now());
      } else if (c.k === 'fbReceive') {
        const got = await hub.receiveFeedback();
        const want = model.receiveFeedback(got?.lockToken ?? '');
        assert.deepEqual(got?.records.map(recordOf), want?.records.map(recordKey), 'receiveFeedback');
        if (got) {
          assert.equal(got.deliveryCount, want!.deliveryCount);
          fbTokens.push(got.lockToken);
        }
      } else if (c.k === 'fbSettle') {
        const token = fbTokens.length > 0 ? fbTokens[c.pick % fbTokens.length]! : 'no-such-token';
        let code: number | undefined;
        try {
          await hub[`${c.how}Feedback`](token);
        } catch (e) {
          code = (e as { code?: number }).code;
        }
        assert.equal(code, model.settleFeedback(token, c.how), `${c.how}Feedback`);
      } else if (c.k === 'fbFlush') {
        await hub.flushFeedback();
        model.flushFeedback();
      } else if (c.k === 'requeue' || c.k === 'dlDelete') {
        const d = DEVICES[c.dev]!;
        const kept = model.keptDeadLetters(d);
        const target = kept.length > 0 ? kept[c.pick % kept.length]! : undefined;
        const ref = { sequenceNumber: target?.seq ?? 10_000 };
        let code: number | undefined;
        let seq = 0;
        try {
          if (c.k === 'requeue') seq = (await hub.requeueDeadLetter(d, ref)).sequenceNumber;
          else await hub.deleteDeadLetter(d, ref);
        } catch (e) {
          code = (e as { code?: number }).code;
        }
        const want = !target ? 404000 : c.k === 'requeue' ? model.requeue(d, target, seq) : model.deleteDeadLetter(d, target);
        assert.equal(code, want, `${c.k} on ${d}`);
      } else {
        await hub.close();
        hub = await open();
        model.restart();
      }
      // Queues agree, message by message, as the rules see them and as peek shows them; so do the kept dead letters.
      for (const d of DEVICES) {
        const engine = hub.queueOf(d)!.messages.map((e) => [e.message.messageId, e.state, e.message.deliveryCount]);
        const expected = [...model.queues.get(d)!].sort((a, b) => a.seq - b.seq).map((m) => [m.id, m.state, m.deliveryCount]);
        assert.deepEqual(engine, expected, `queue of ${d} after ${JSON.stringify(c)}`);
        assert.deepEqual(
          hub.peek(d).map((v) => [v.messageId, v.state, v.deliveryCount]),
          expected,
          `peek of ${d} after ${JSON.stringify(c)}`,
        );
        assert.deepEqual(
          hub.deadLetters({ deviceId: d }).items.map((v) => [v.messageId, v.sequenceNumber, v.reason]),
          model.keptDeadLetters(d).map((m) => [m.id, m.seq, m.reason]),
          `dead letters of ${d} after ${JSON.stringify(c)}`,
        );
      }
      // Feedback agrees: the records waiting to be batched, and each batch (records, delivery count, locked or not).
      const fb = hub.feedbackState();
      assert.deepEqual(
        fb.pending.map((p) => recordOf(p.record)),
        model.pending.map(recordKey),
        `pending feedback after ${JSON.stringify(c)}`,
      );
      assert.deepEqual(
        fb.batches.map((b) => [b.records.map(recordOf), b.deliveryCount, b.lockToken !== undefined]),
        model.batches.map((b) => [b.records.map(recordKey), b.deliveryCount, b.lockToken !== undefined]),
        `feedback batches after ${JSON.stringify(c)}`,
      );
    }
  } finally {
    await hub.close();
    removeDir(dir);
  }
}

describe('model-based: the engine agrees with a reference model of the rules', function () {
  this.timeout(LONG ? 600_000 : 60_000);

  it('over random command sequences, including restarts', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          maxQueueDepth: fc.integer({ min: 1, max: 4 }),
          maxDeliveryCount: fc.integer({ min: 1, max: 3 }),
          lockExpiryCountsAsDelivery: fc.boolean(),
          feedbackMaxDeliveryCount: fc.integer({ min: 1, max: 3 }),
          feedbackBatchWindowMs: fc.constantFrom(0, 15_000),
          deadLetterTtlMs: fc.constantFrom(0, 2 * 60_000, 10 * 60_000),
          deadLetterMaxPerDevice: fc.integer({ min: 1, max: 2 }),
        }),
        fc.array(command, { minLength: 1, maxLength: LONG ? 80 : 30 }),
        async (l, commands) => {
          await run(
            {
              ...l,
              lockTimeoutMs: 60_000,
              defaultTtlMs: 5 * 60_000,
              maxTtlMs: 5 * 60_000,
              feedbackBatchMaxRecords: 3,
              feedbackTtlMs: 5 * 60_000,
              feedbackLockMs: 60_000,
            },
            commands,
          );
        },
      ),
      { numRuns: LONG ? 2_000 : 100 },
    );
  });
});

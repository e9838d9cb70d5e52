import assert from 'node:assert/strict';
import { body, codeOf, mustReceive, openTestHub, type TestHub } from './helpers';

async function completeWithFeedback(t: TestHub, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await t.hub.send('dev1', { body: body(String(i)), ack: 'positive', messageId: `m${i}` });
    await t.hub.complete('dev1', (await mustReceive(t.hub)).lockToken);
  }
}

describe('feedback (c2d-semantics.md §4)', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.hub.close();
  });

  describe('records are batched: flush at feedbackBatchMaxRecords or feedbackBatchWindowMs after the first pending record', () => {
    it('cuts a batch at 64 records', async () => {
      t = await openTestHub({ maxQueueDepth: 100 });
      await completeWithFeedback(t, 65);
      assert.equal(t.hub.stats().feedbackBatches, 1);
      assert.equal(t.hub.stats().feedbackPending, 1);
      const b = await t.hub.receiveFeedback();
      assert.equal(b!.records.length, 64);
      assert.deepEqual(b!.records.map((r) => r.originalMessageId).slice(0, 2), ['m0', 'm1']);
    });

    it('cuts a batch when the window after the first pending record ends', async () => {
      t = await openTestHub();
      await completeWithFeedback(t, 1);
      t.clock.advance(10_000);
      await completeWithFeedback(t, 1);
      assert.equal(await t.hub.receiveFeedback(), null);
      t.clock.advance(5_000);
      const b = await t.hub.receiveFeedback();
      assert.equal(b!.records.length, 2);
      assert.equal(b!.enqueuedTimeUtc, t.clock.now());
    });
  });

  describe('a feedback batch is peek-locked like a C2D message', () => {
    it('complete removes; a late or unknown token fails 412002', async () => {
      t = await openTestHub();
      await completeWithFeedback(t, 1);
      await t.hub.flushFeedback();
      const b = await t.hub.receiveFeedback();
      assert.equal(b!.lockedUntilUtc, t.clock.now() + 60_000);
      assert.equal(await t.hub.receiveFeedback(), null, 'locked batches are invisible');
      assert.equal(await codeOf(t.hub.completeFeedback('nope')), 412002);
      await t.hub.completeFeedback(b!.lockToken);
      assert.equal(await codeOf(t.hub.completeFeedback(b!.lockToken)), 412002);
      assert.equal(t.hub.stats().feedbackBatches, 0);
    });

    it('lock expiry returns the batch; reject drops it', async () => {
      t = await openTestHub();
      await completeWithFeedback(t, 1);
      await t.hub.flushFeedback();
      const b = await t.hub.receiveFeedback();
      t.clock.advance(60_000);
      assert.equal(await codeOf(t.hub.completeFeedback(b!.lockToken)), 412002);
      const again = await t.hub.receiveFeedback();
      assert.equal(again!.deliveryCount, 0);
      await t.hub.rejectFeedback(again!.lockToken);
      assert.equal(await t.hub.receiveFeedback(), null);
    });

    it('abandon adds a delivery; at feedbackMaxDeliveryCount the batch is dropped', async () => {
      t = await openTestHub({ feedbackMaxDeliveryCount: 3 });
      await completeWithFeedback(t, 1);
      await t.hub.flushFeedback();
      for (let i = 0; i < 3; i++) {
        const b = await t.hub.receiveFeedback();
        assert.equal(b!.deliveryCount, i);
        await t.hub.abandonFeedback(b!.lockToken);
      }
      assert.equal(await t.hub.receiveFeedback(), null);
    });

    it('a batch older than feedbackTtlMs is dropped', async () => {
      t = await openTestHub();
      await completeWithFeedback(t, 1);
      await t.hub.flushFeedback();
      t.clock.advance(t.hub.limits.feedbackTtlMs);
      assert.equal(await t.hub.receiveFeedback(), null);
      assert.equal(t.hub.stats().feedbackBatches, 0);
    });
  });
});

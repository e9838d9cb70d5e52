/**
 * The soak's accounting rules on their own: each accepted send gets exactly
 * one fate from the evidence, a send with none that the hub does not hold is
 * lost, and feedback is checked against what the ack mode asks for.
 */
import assert from 'node:assert/strict';
import { account, FEEDBACK_BIT, SEND_STATUS, withFeedbackTakenElsewhere, type AccountInput } from '../../soak/lib/accounting';
import { numberOf } from '../../soak/lib/records';

const AT = 1_000_000;

/** One message per row: its send status, ack mode index, expiry, feedback bits and what its device did. */
interface Row {
  status?: number;
  device?: number;
  ack?: number;
  expiresAt?: number;
  fb?: number;
  deliveries?: number;
  completes?: number;
  rejects?: number;
  abandons?: number;
  unknown?: number;
}

function input(rows: Row[], hubPending: [number, number][] = []): AccountInput {
  const col = (k: keyof Row, d = 0): number[] => rows.map((r) => r[k] ?? d);
  return {
    sends: {
      status: col('status', SEND_STATUS.accepted),
      device: col('device'),
      ack: col('ack'),
      expiresAt: col('expiresAt', AT + 60_000),
      feedback: col('fb'),
      feedbackRecords: rows.map((r) => ((r.fb ?? 0) !== 0 ? 1 : 0)),
      feedbackAbandoned: rows.map(() => 0),
    },
    devices: { deliveries: col('deliveries'), completes: col('completes'), rejects: col('rejects'), abandons: col('abandons'), unknown: col('unknown') },
    length: rows.length,
    atMs: AT,
    maxDeliveryCount: 10,
    hubPending: new Map(hubPending),
    feedbackSettleFailures: 0,
  };
}

describe('soak accounting', () => {
  it('gives each accepted send one fate from the evidence, and checks the pending ones against the hub', () => {
    const a = account(
      input(
        [
          { deliveries: 1, completes: 1 }, // completed
          { deliveries: 1, rejects: 1 }, // rejected
          { expiresAt: AT - 1 }, // expired by its TTL, no feedback asked
          { deliveries: 10, abandons: 10 }, // dead-lettered at the delivery count
          { deliveries: 1, unknown: 1 }, // completed, the answer lost
          { device: 7 }, // pending: the hub holds it
          { device: 7 }, // no evidence and the hub holds only one of device 7's: lost
          { status: SEND_STATUS.queueFull }, // refused, not accepted
        ],
        [[7, 1]],
      ),
    );
    assert.equal(a.accepted, 7);
    assert.equal(a.refusedQueueFull, 1);
    assert.deepEqual(a.fates, { completed: 2, rejected: 1, expired: 1, deliveryCountExceeded: 1, pending: 1, lost: 1 });
    assert.deepEqual(a.inferred, { expiredByTtl: 1, completedAnswerLost: 1, rejectedAnswerLost: 0 });
    assert.deepEqual(a.pendingMismatch, [[7, 2, 1]]);
    assert.deepEqual(Object.keys(a.violations), ['lost: no fate, and the hub does not hold it']);
  });

  it('feedback: the record the ack mode asks for is expected, a missing one and one not asked for are violations', () => {
    const FULL = 3;
    const POSITIVE = 1;
    const a = account(
      input([
        { ack: FULL, deliveries: 1, completes: 1, fb: FEEDBACK_BIT.Success }, // as asked
        { ack: FULL, deliveries: 1, rejects: 1 }, // Rejected asked for, never came
        { ack: POSITIVE, deliveries: 1, rejects: 1, fb: FEEDBACK_BIT.Rejected }, // positive does not ask for Rejected
      ]),
    );
    assert.deepEqual([a.feedback.expected, a.feedback.missing, a.feedback.unexpected], [2, 1, 1]);
    assert.ok(a.violations['feedback the ack mode asks for never came']);
    assert.ok(a.violations['feedback that the ack mode or the fate does not call for']);
  });

  it('a refused send that was delivered anyway is a violation', () => {
    const a = account(input([{ status: SEND_STATUS.queueFull, deliveries: 1 }]));
    assert.equal(a.violations['a refused send was delivered or has feedback']?.count, 1);
  });

  it("feedback another receiver took (Node-RED's feedback node) counts as received, for the backend's messages and Node-RED's", () => {
    // Message 1 asked for full feedback and expired; its Expired record went to Node-RED's feedback node.
    const i = input([
      { ack: 3, deliveries: 1, completes: 1, fb: FEEDBACK_BIT.Success },
      { ack: 3, expiresAt: AT - 1 },
    ]);
    assert.equal(account(i).feedback.missing, 1, 'missing without what the other receiver took');
    const fed = withFeedbackTakenElsewhere(i.sends, 2, { n7: ['Success'] }, { s1: ['Expired'], n8: ['Rejected'], s99: ['Success'] }, numberOf);
    assert.equal(fed.taken, 1);
    assert.deepEqual(fed.feedback, [FEEDBACK_BIT.Success, FEEDBACK_BIT.Expired]);
    assert.deepEqual(fed.feedbackRecords, [1, 1]);
    assert.deepEqual(fed.redFeedback, { n7: ['Success'], n8: ['Rejected'] });
    const a = account({ ...i, sends: { ...i.sends, feedback: fed.feedback, feedbackRecords: fed.feedbackRecords } });
    assert.deepEqual([a.feedback.missing, a.feedback.unexpected, Object.keys(a.violations).length], [0, 0, 0]);
  });
});

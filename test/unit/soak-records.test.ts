/**
 * The soak's Node-RED records: the probe hands them over each minute and
 * forgets them, and the driver adds the minutes up. The sum of the minutes
 * must be what one take at the end would have said.
 */
import assert from 'node:assert/strict';
import { probe } from '../../soak/lib/red-probe';
import { emptyRecords, mergeRecords, type RedFlowRecords } from '../../soak/lib/red-records';

describe('soak records of the Node-RED flows', () => {
  it('the probe forgets what it handed over, and the driver adds the minutes up as one record', () => {
    probe.takeRecords();
    probe.sent('e', 'e1');
    probe.received('e', 'e1', Date.now(), 0);
    probe.settled('e', 'e1', 'abandon');
    probe.sendError('e', 'c2d-send: 403004');
    const first = probe.takeRecords();
    assert.deepEqual(probe.takeRecords(), {}, 'forgotten once taken');
    probe.sent('e', 'e2');
    probe.received('e', 'e1', Date.now(), 1);
    probe.settled('e', 'e1', 'complete');
    probe.sendError('e', 'c2d-send: 403004');
    probe.feedback('n', 'n1', 'Success');
    const second = probe.takeRecords();

    const sum: Record<string, RedFlowRecords> = {};
    mergeRecords(sum, first);
    mergeRecords(sum, second);
    assert.deepEqual(sum.e, {
      accepted: ['e1', 'e2'],
      sendErrors: { 'c2d-send: 403004': 2 },
      received: { e1: 2 },
      settled: { e1: ['abandon', 'complete'] },
      settleErrors: {},
      feedback: {},
    });
    assert.deepEqual(sum.n, { ...emptyRecords(), feedback: { n1: ['Success'] } });
  });
});

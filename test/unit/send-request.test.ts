/**
 * c2d-send's msg -> send call (nodes/support/message-map.ts): the send
 * timeout comes from msg.timeout (ms), else the node's setting, else the
 * client's default of one minute (left out).
 */
import { strict as assert } from 'node:assert';
import { toSendRequest } from '../../nodes/support/message-map';

describe('c2d-send input: the send timeout', () => {
  it("msg.timeout (ms) wins over the node's timeout; absent both, the client default applies", () => {
    assert.equal(toSendRequest({ payload: 'x', timeout: 2500 }, { deviceId: 'd', timeoutMs: 60_000 }).options.timeoutMs, 2500);
    assert.equal(toSendRequest({ payload: 'x' }, { deviceId: 'd', timeoutMs: 30_000 }).options.timeoutMs, 30_000);
    assert.equal(toSendRequest({ payload: 'x', timeout: 0 }, { deviceId: 'd', timeoutMs: 30_000 }).options.timeoutMs, 0);
    assert.equal('timeoutMs' in toSendRequest({ payload: 'x' }, { deviceId: 'd' }).options, false);
  });

  it('refuses a timeout that is not a number of milliseconds, 0 or more (400004)', () => {
    for (const timeout of [-1, '5 s', Number.NaN, {}]) {
      assert.throws(
        () => toSendRequest({ payload: 'x', timeout }, { deviceId: 'd' }),
        (e: { code?: number }) => e.code === 400004,
        String(timeout),
      );
    }
  });
});

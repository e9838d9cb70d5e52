/** A bad time to live is one error, wherever it is given: 400011, as for an expiry that is not a time. */
import assert from 'node:assert/strict';
import { toOutgoing } from '../../lib/client/outgoing';

describe('toOutgoing (the send arguments every client shares)', () => {
  it('turns ttlMs into an absolute expiry from now', () => {
    assert.equal(toOutgoing(Buffer.from('x'), { ttlMs: 5000 }, 1_000).expiryTimeUtc, 6_000);
  });

  for (const ttlMs of [0, -1, Number.NaN, Infinity, '5000' as unknown as number]) {
    it(`refuses ttlMs ${String(ttlMs)} with 400011 MessageExpiryTimeInvalid`, () => {
      assert.throws(
        () => toOutgoing(Buffer.from('x'), { ttlMs }),
        (e: { code?: number; message?: string }) => e.code === 400011 && /ttlMs must be a positive number of milliseconds/.test(String(e.message)),
      );
    });
  }
});

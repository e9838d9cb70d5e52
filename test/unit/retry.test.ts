import assert from 'node:assert/strict';
import { ExponentialBackoffWithJitter, NoRetry, classifyError } from '../../lib/common/retry';
import { C2DError, connectionReset, errors } from '../../lib/common/errors';

describe('retry policies', () => {
  it('classifies errors: network transient, 401003 unauthorized, 429001 throttled, 404001 not found', () => {
    assert.equal(classifyError(Object.assign(new Error('x'), { code: 'ECONNRESET' })), 'transient');
    assert.equal(classifyError(new C2DError('IotHubUnauthorized', 'no')), 'unauthorized');
    assert.equal(classifyError(new C2DError('ThrottlingException', 'slow')), 'throttled');
    assert.equal(classifyError(new C2DError('DeviceNotFound', 'gone')), 'notFound');
    assert.equal(classifyError(new C2DError('DeviceMessageLockLost', 'late')), 'fatal');
  });

  it('a lost client connection (connectionReset) is a network error, retried; the named constructors keep their codes', () => {
    const lost = connectionReset('The MQTT connection was lost.');
    assert.equal(lost.code, 'ECONNRESET');
    assert.equal(lost.message, 'The MQTT connection was lost.');
    assert.equal(classifyError(lost), 'transient');
    const made = [
      errors.invalid('a'),
      errors.unauthorized('b'),
      errors.unavailable('c'),
      errors.notFound('d'),
      errors.badExpiry('e'),
      errors.expiryOutOfRange('f'),
      errors.precondition('g'),
      errors.linkConflict('h'),
      errors.internal('i'),
    ];
    assert.deepEqual(
      made.map((e) => [e.code, e.message]),
      [
        [400004, 'a'],
        [401003, 'b'],
        [503001, 'c'],
        [404001, 'd'],
        [400011, 'e'],
        [403009, 'f'],
        [412001, 'g'],
        [409002, 'h'],
        [500001, 'i'],
      ],
    );
  });

  it('backs off exponentially with bounded jitter and stops after maxElapsed', () => {
    const p = new ExponentialBackoffWithJitter({ initialDelayMs: 100, maxDelayMs: 1000, maxElapsedMs: 5000, random: () => 0.5 });
    const net = Object.assign(new Error('x'), { code: 'ECONNREFUSED' });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map((a) => p.nextDelayMs(a, net)),
      [100, 200, 400, 800, 1000],
    );
    assert.equal(p.shouldRetry(net, 3, 4999), true);
    assert.equal(p.shouldRetry(net, 3, 5000), false);
    assert.equal(p.shouldRetry(new C2DError('IotHubUnauthorized', 'no'), 1, 0), false);
    const lo = new ExponentialBackoffWithJitter({ random: () => 0 }).nextDelayMs(1, net);
    const hi = new ExponentialBackoffWithJitter({ random: () => 1 }).nextDelayMs(1, net);
    assert.deepEqual([lo, hi], [95, 105]);
  });

  it('backs off longer when throttled', () => {
    const p = new ExponentialBackoffWithJitter({ initialDelayMs: 100, random: () => 0.5 });
    assert.equal(p.nextDelayMs(1, new C2DError('ThrottlingException', 'x')), 1000);
  });

  it('NoRetry never retries', () => {
    assert.equal(new NoRetry().shouldRetry(), false);
  });
});

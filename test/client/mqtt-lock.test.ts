/**
 * Over MQTT the only settlement is a PUBACK, which has no answer, and the hub
 * ignores a late one: complete() must not report a success the hub never saw.
 * The client counts the lock from the message's arrival (lock-estimate.ts)
 * and refuses, with 412002 and no PUBACK, a complete() past it or one for a
 * message the hub has since delivered again.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { DeviceClient } from '../../lib/client/device-client';
import { lockMarginMs, trustedLockMs } from '../../lib/client/lock-estimate';
import type { DeviceTransport } from '../../lib/client/types';
import { ManualClock } from '../../lib/common/clock';
import { C2DError } from '../../lib/common/errors';
import type { DeviceMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { rigForSuite, type Rig } from './rig';

describe('MQTT: a late complete() fails with 412002, as on AMQP and HTTPS', function () {
  this.timeout(20_000);
  let rig: Rig;
  const clients: DeviceClient[] = [];
  rigForSuite((r) => (rig = r));
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });

  async function device(id: string, transport: DeviceTransport, extra: { clock?: ManualClock; lockTimeoutMs?: number } = {}): Promise<DeviceClient> {
    const cs = await rig.deviceConnectionString(id, transport);
    const c = DeviceClient.fromConnectionString(cs, { transport, ca: rig.tls.cert, retryPolicy: new NoRetry(), ...extra });
    clients.push(c);
    await c.open();
    return c;
  }

  it("trusts a lock for its timeout minus a tenth (at most 5 s): 55 s of IoT Hub's 60 s", () => {
    assert.equal(trustedLockMs(60_000), 55_000);
    assert.equal(lockMarginMs(2_000), 200);
    assert.equal(lockMarginMs(600_000), 5_000);
  });

  for (const transport of ['mqtt', 'mqtt-ws'] as const) {
    describe(transport, () => {
      it('past the lock (client clock), complete() fails 412002 and sends no PUBACK: the message stays locked, then comes again', async () => {
        const id = `late-${transport}`;
        const clock = new ManualClock(Date.now());
        const c = await device(id, transport, { clock });
        await rig.hub.send(id, { body: Buffer.from('a'), messageId: 'late' });
        const m = (await c.receive({ timeoutMs: 5000 })) as DeviceMessage;
        assert.equal(m.lockedUntilUtc, clock.now() + 55_000, 'the lock estimate counts from arrival, 5 s early');
        clock.advance(55_001);
        await assert.rejects(c.complete(m), (e: C2DError) => e.code === 412002 && /none was sent/.test(e.message));
        // A round trip through the hub: a PUBACK sent before it would have completed the first by now.
        await rig.hub.send(id, { body: Buffer.from('b'), messageId: 'next' });
        const n = (await c.receive({ timeoutMs: 5000 })) as DeviceMessage;
        assert.equal(n.messageId, 'next');
        assert.equal(rig.hub.stats().locked, 2, 'the refused completion never reached the hub');
        await c.complete(n);
        // The hub's lock runs out: the message is delivered again, and this delivery completes.
        rig.clock.advance(rig.hub.limits.lockTimeoutMs + 1);
        const again = (await c.receive({ timeoutMs: 5000 })) as DeviceMessage;
        assert.equal(again.messageId, 'late');
        const completed = once(rig.hub.events, 'completed');
        await c.complete(again);
        assert.equal(((await completed)[0] as { messageId: string }).messageId, 'late');
      });

      it("once the hub delivered the message again (same message id), the older delivery's complete() fails 412002, even with a client lock set too long", async () => {
        const id = `redelivered-${transport}`;
        // Ten minutes: the client believes the lock outlasts the hub's 60 s (misconfigured, hopeful).
        const c = await device(id, transport, { lockTimeoutMs: 600_000 });
        await rig.hub.send(id, { body: Buffer.from('x'), messageId: 'dup' });
        const first = (await c.receive({ timeoutMs: 5000 })) as DeviceMessage;
        rig.clock.advance(rig.hub.limits.lockTimeoutMs + 1);
        const second = (await c.receive({ timeoutMs: 5000 })) as DeviceMessage;
        assert.equal(second.messageId, 'dup');
        assert.notEqual(second.lockToken, first.lockToken);
        await assert.rejects(c.complete(first), (e: C2DError) => e.code === 412002 && /delivered this message again/.test(e.message));
        const completed = once(rig.hub.events, 'completed');
        await c.complete(second);
        await completed;
        assert.equal(rig.hub.stats().locked, 0);
      });
    });
  }
});

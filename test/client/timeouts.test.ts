/**
 * The seed's timeouts, on the network clients and their in-process twins:
 * - send takes a timeout, "the default is one minute if unspecified": past it
 *   the send fails 503001 and is not tried again (what was on the wire may
 *   still commit: README, Timeouts);
 * - feedback receive with a timeout (Java `feedbackReceiver.receive(10000)`,
 *   .NET `ReceiveAsync(token)`): null when no batch came in time;
 * - a device's receive() ends on its timeout (null) or its AbortSignal
 *   (rejects with the signal's reason).
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { DeviceClient } from '../../lib/client/device-client';
import { InProcessDeviceClient, InProcessServiceClient } from '../../lib/client/in-process';
import { SEND_TIMEOUT_MS } from '../../lib/client/send-timeout';
import { ServiceClient } from '../../lib/client/service-client';
import { DEVICE_TRANSPORTS, type DeviceConnection, type ServiceConnection } from '../../lib/client/types';
import { ManualClock } from '../../lib/common/clock';
import { C2DError } from '../../lib/common/errors';
import { ExponentialBackoffWithJitter, NoRetry } from '../../lib/common/retry';
import { rigForSuite, type Rig } from './rig';

describe('timeouts: send, feedback receive, device receive', function () {
  this.timeout(20_000);
  let rig: Rig;
  const closers = rigForSuite((r) => (rig = r), { hub: { limits: { feedbackBatchWindowMs: 0 } } });

  function service(extra: { clock?: ManualClock; retry?: boolean } = {}): ServiceClient {
    const s = ServiceClient.fromConnectionString(rig.serviceConnectionString(), {
      ca: rig.tls.cert,
      retryPolicy: extra.retry ? new ExponentialBackoffWithJitter({ initialDelayMs: 20, maxDelayMs: 100 }) : new NoRetry(),
      ports: { amqps: rig.ports.amqps, https: rig.ports.https },
      ...(extra.clock ? { clock: extra.clock } : {}),
    });
    closers.push(() => s.close());
    return s;
  }

  describe('ServiceClient.send', () => {
    it('defaults to one minute: with the hub unreachable the send fails 503001 after 60 s (client clock), saying it may have been committed', async () => {
      assert.equal(SEND_TIMEOUT_MS, 60_000);
      await rig.addDevice('st1');
      const clock = new ManualClock(Date.now());
      const s = service({ clock, retry: true });
      await s.open();
      await rig.closeListeners();
      try {
        const box: { outcome?: unknown } = {};
        const outcome = (): unknown => box.outcome;
        const sending = s.send('st1', Buffer.from('x'), { messageId: 'to-1' }).then(
          () => (box.outcome = 'sent'),
          (e: unknown) => (box.outcome = e),
        );
        await new Promise((r) => setTimeout(r, 50));
        clock.advance(SEND_TIMEOUT_MS - 1);
        await new Promise((r) => setImmediate(r));
        assert.equal(outcome(), undefined, 'still waiting a millisecond before the minute');
        clock.advance(1);
        await sending;
        const e = outcome();
        assert.ok(e instanceof C2DError, String(e));
        assert.equal(e.code, 503001);
        assert.match(e.message, /within 60000 ms.*may still have been committed/);
      } finally {
        await rig.openListeners();
      }
    });

    it('past its timeout a send is not tried again: once the hub is back, the message never arrives', async () => {
      await rig.addDevice('st2');
      const s = service({ retry: true });
      await s.open();
      await rig.closeListeners();
      await assert.rejects(s.send('st2', Buffer.from('late'), { messageId: 'gave-up', timeoutMs: 150 }), (e: C2DError) => e.code === 503001);
      const back = once(s, 'connected');
      await rig.openListeners();
      await back;
      await s.send('st2', Buffer.from('now'), { messageId: 'after' });
      const m = await rig.hub.receive('st2');
      assert.equal(m?.messageId, 'after');
      assert.equal(await rig.hub.receive('st2'), null, 'the timed-out send was not retried into the queue');
    });

    it('refuses a negative or non-numeric timeout with 400004', async () => {
      const s = service();
      await assert.rejects(s.send('st1', Buffer.from('x'), { timeoutMs: -1 }), (e: C2DError) => e.code === 400004);
      const inProc = new InProcessServiceClient(rig.hub);
      await assert.rejects(inProc.send('st1', Buffer.from('x'), { timeoutMs: Number.NaN }), (e: C2DError) => e.code === 400004);
    });
  });

  const services: Array<[string, () => Promise<ServiceConnection>]> = [
    [
      'ServiceClient (AMQP)',
      async () => {
        const s = service();
        await s.open();
        return s;
      },
    ],
    [
      'InProcessServiceClient',
      async () => {
        const s = new InProcessServiceClient(rig.hub);
        closers.push(() => s.close());
        await s.open();
        return s;
      },
    ],
  ];

  for (const [name, make] of services) {
    describe(`${name}.receiveFeedback`, () => {
      it('returns null when no batch came in time, then a batch that did, which can be completed', async () => {
        const s = await make();
        const t0 = Date.now();
        assert.equal(await s.receiveFeedback({ timeoutMs: 150 }), null);
        assert.ok(Date.now() - t0 >= 140);
        const id = `fb-${name.length}`;
        await rig.addDevice(id).catch(() => undefined);
        const { messageId } = await s.send(id, Buffer.from('x'), { ack: 'positive' });
        const m = await rig.hub.receive(id);
        await rig.hub.complete(id, m?.lockToken as string);
        await rig.hub.flushFeedback();
        const b = await s.receiveFeedback({ timeoutMs: 5000 });
        assert.ok(b, 'a batch');
        assert.equal(b.records[0]?.originalMessageId, messageId);
        await b.complete();
        assert.equal(rig.hub.stats().feedbackBatches, 0);
        assert.equal(await s.receiveFeedback({ timeoutMs: 50 }), null);
      });

      it("rejects with the AbortSignal's reason when cancelled", async () => {
        const s = await make();
        const ac = new AbortController();
        const waiting = s.receiveFeedback({ timeoutMs: 10_000, signal: ac.signal });
        setTimeout(() => ac.abort(), 20);
        await assert.rejects(waiting, (e: Error) => e.name === 'AbortError');
        await assert.rejects(s.receiveFeedback({ signal: AbortSignal.abort() }), (e: Error) => e.name === 'AbortError');
      });
    });
  }

  const devices: Array<[string, (id: string) => Promise<DeviceConnection>]> = [
    ...DEVICE_TRANSPORTS.map((transport): [string, (id: string) => Promise<DeviceConnection>] => [
      transport,
      async (id) => {
        const c = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), {
          transport,
          ca: rig.tls.cert,
          retryPolicy: new NoRetry(),
          httpPollIntervalMs: 50,
        });
        closers.push(() => c.close());
        await c.open();
        return c;
      },
    ]),
    [
      'in-process',
      async (id) => {
        await rig.addDevice(id);
        const c = new InProcessDeviceClient(rig.hub, id);
        closers.push(() => c.close());
        await c.open();
        return c;
      },
    ],
  ];

  for (const [name, make] of devices) {
    it(`${name}: device receive() is cancelled by its AbortSignal (AbortError), and a message sent after it still comes to the next receive()`, async () => {
      const id = `abort-${name}`;
      const c = await make(id);
      const ac = new AbortController();
      const waiting = c.receive({ timeoutMs: 10_000, signal: ac.signal });
      const t0 = Date.now();
      setTimeout(() => ac.abort(), 100);
      await assert.rejects(waiting, (e: Error) => e.name === 'AbortError');
      assert.ok(Date.now() - t0 < 5000, 'ended by the signal, not the timeout');
      await assert.rejects(c.receive({ signal: AbortSignal.abort() }), (e: Error) => e.name === 'AbortError');
      await rig.hub.send(id, { body: Buffer.from('after'), messageId: 'after-abort' });
      const m = await c.receive({ timeoutMs: 5000 });
      assert.equal(m?.messageId, 'after-abort');
      await c.complete(m!);
    });
  }
});

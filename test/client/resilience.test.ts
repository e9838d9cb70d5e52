/**
 * The clients survive what networks do: the hub's listeners close and reopen
 * on the same ports under connected clients (disconnected_retrying, then
 * connected, and every message still arrives), and tokens with a short
 * lifetime are renewed (AMQP: put-token again on the live connection; MQTT:
 * reconnect with clean=false) while delivery continues.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { DEVICE_TRANSPORTS, type DeviceTransport } from '../../lib/client/types';
import type { ReceivedMessage } from '../../lib/common/message';
import { ExponentialBackoffWithJitter } from '../../lib/common/retry';
import { rigForSuite, type Rig } from './rig';

const fastRetry = (): ExponentialBackoffWithJitter => new ExponentialBackoffWithJitter({ initialDelayMs: 20, maxDelayMs: 200 });

describe('client resilience', function () {
  this.timeout(20_000);
  let rig: Rig;
  const closers = rigForSuite((r) => (rig = r));

  for (const transport of DEVICE_TRANSPORTS) {
    it(`${transport}: listeners closed and reopened on the same ports -> disconnected_retrying, reconnect, no message lost`, async () => {
      const id = `rc-${transport}`;
      const c = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), {
        transport,
        ca: rig.tls.cert,
        retryPolicy: fastRetry(),
        httpPollIntervalMs: 50,
      });
      closers.push(() => c.close());
      const seen = new Set<string>();
      let wanted = 0;
      let notify: () => void = () => undefined;
      c.on('message', (m: ReceivedMessage) => {
        seen.add(m.messageId);
        void c.complete(m).catch(() => undefined); // a lock lost in the outage is redelivered
        notify();
      });
      await c.open();
      const all = (n: number): Promise<void> =>
        new Promise((resolve) => {
          wanted = n;
          notify = () => seen.size >= wanted && resolve();
          notify();
        });
      await rig.hub.send(id, { body: Buffer.from('before'), messageId: 'before' });
      await all(1);

      const retrying = once(c, 'disconnected_retrying');
      await rig.closeListeners();
      const status = (await retrying)[0] as { reason: string; attempt: number };
      assert.equal(status.reason, 'communication-error');
      await rig.hub.send(id, { body: Buffer.from('during'), messageId: 'during' });
      const connected = once(c, 'connected');
      await rig.openListeners();
      await connected;
      await rig.hub.send(id, { body: Buffer.from('after'), messageId: 'after' });
      await all(3);
      assert.deepEqual([...seen].sort(), ['after', 'before', 'during']);
    });
  }

  for (const transport of ['amqp', 'mqtt', 'mqtt-ws', 'amqp-ws', 'http'] as DeviceTransport[]) {
    it(`${transport}: a short token lifetime is renewed and delivery continues`, async () => {
      const id = `tok-${transport}`;
      const c = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), {
        transport,
        ca: rig.tls.cert,
        retryPolicy: fastRetry(),
        tokenLifetimeMs: 3000,
        tokenRenewalMarginMs: 2000,
        httpPollIntervalMs: 50,
      });
      closers.push(() => c.close());
      let retrying = 0;
      c.on('disconnected_retrying', () => retrying++);
      const renewals: number[] = [];
      c.on('token_renewed', (e: { expiresAtMs: number }) => renewals.push(e.expiresAtMs));
      const got: string[] = [];
      c.on('message', (m: ReceivedMessage) => {
        got.push(m.messageId);
        void c.complete(m);
      });
      await c.open();
      // HTTP mints a token per request once the old one passed its renewal point: keep it busy.
      while (renewals.length < 2) await once(c, 'token_renewed');
      assert.ok((renewals[1] as number) > (renewals[0] as number));
      const next = once(c, 'message');
      await rig.hub.send(id, { body: Buffer.from('after renewal'), messageId: 'r1' });
      await next;
      assert.deepEqual(got, ['r1']);
      assert.equal(retrying, 0, 'renewal is not a failure');
    });
  }

  it('service amqp: token renewed by put-token on the live connection; sends keep working', async () => {
    await rig.addDevice('svc-tok');
    const s = ServiceClient.fromConnectionString(rig.serviceConnectionString(), {
      ca: rig.tls.cert,
      ports: { amqps: rig.ports.amqps, https: rig.ports.https },
      tokenLifetimeMs: 3000,
      tokenRenewalMarginMs: 2000,
    });
    closers.push(() => s.close());
    let connects = 0;
    s.on('connected', () => connects++);
    await s.open();
    await once(s, 'token_renewed'); // the first put happened during open; wait for a renewal
    await s.send('svc-tok', Buffer.from('x'));
    assert.equal(connects, 1);
    await rig.hub.purge('svc-tok');
  });
});

/**
 * A field the transport does not carry is absent, not invented. MQTT's topic
 * property bag has no sequence number, enqueued time or delivery count
 * (c2d-semantics.md §3); AMQP (annotations) and HTTPS (headers) carry them.
 * The README's "Fields per transport" table says the same.
 */
import { strict as assert } from 'node:assert';
import { DeviceClient } from '../../lib/client/device-client';
import { DEVICE_TRANSPORTS } from '../../lib/client/types';
import type { DeviceMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { rigForSuite, type Rig } from './rig';

const HUB_ONLY = ['sequenceNumber', 'enqueuedTimeUtc', 'deliveryCount'] as const;

describe('fields per transport: what the wire does not carry is absent', function () {
  this.timeout(20_000);
  let rig: Rig;
  const clients: DeviceClient[] = [];
  rigForSuite((r) => (rig = r));
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });

  for (const transport of DEVICE_TRANSPORTS) {
    const mqtt = transport.startsWith('mqtt');
    it(`${transport}: ${mqtt ? 'no sequence number, enqueued time or delivery count (not 0, not 1970)' : 'sequence number, enqueued time and delivery count as the hub set them'}; the sender's fields as sent`, async () => {
      const id = `fields-${transport}`;
      const c = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), { transport, ca: rig.tls.cert, retryPolicy: new NoRetry() });
      clients.push(c);
      await c.open();
      const sent = await rig.hub.send(id, {
        body: Buffer.from('f'),
        messageId: 'f1',
        correlationId: 'c1',
        contentType: 'text/plain',
        ack: 'full',
        properties: { p: 'v' },
      });
      const m = (await c.receive({ timeoutMs: 5000 })) as DeviceMessage;
      assert.equal(m.messageId, 'f1');
      assert.equal(m.correlationId, 'c1');
      assert.equal(m.contentType, 'text/plain');
      assert.equal(m.ack, 'full');
      assert.equal(m.to, '/devices/' + id + '/messages/devicebound');
      assert.equal(m.expiryTimeUtc, sent.enqueuedTimeUtc + rig.hub.limits.defaultTtlMs);
      if (mqtt) {
        for (const f of HUB_ONLY) assert.equal(f in m, false, `${f} must be absent over MQTT (got ${String(m[f])})`);
      } else {
        assert.equal(m.sequenceNumber, sent.sequenceNumber);
        assert.equal(m.enqueuedTimeUtc, sent.enqueuedTimeUtc);
        assert.equal(m.deliveryCount, 0);
      }
      // Nothing the sender left out is made up either.
      assert.equal('userId' in m, false);
      assert.equal('contentEncoding' in m, false);
      await c.complete(m);
    });
  }
});

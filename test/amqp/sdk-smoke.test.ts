/**
 * Smoke test with the official SDKs over AMQP/TLS (sdk-wire.md §1.4, §2, §5):
 * azure-iot-device-amqp as the device, azure-iothub's Client as the backend.
 * It finds wire mismatches rhea clients of our own cannot. The service SDK
 * trusts the hub only through NODE_EXTRA_CA_CERTS, which scripts/test.js sets
 * to the certificate in C2D_TEST_TLS_DIR. The full compat suite lives elsewhere.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { Client as DeviceClient, Message, type Message as DeviceMessage } from 'azure-iot-device';
import { Amqp } from 'azure-iot-device-amqp';
import { Client as ServiceClient } from 'azure-iothub';
import { NoRetry } from 'azure-iot-common';
import { Hub } from '../../lib/hub/index';
import { ensureTlsMaterial } from '../../lib/hub/tls';
import { createAmqpServer, type AmqpServer } from '../../lib/hub/amqp/server';

const tlsDir = process.env.C2D_TEST_TLS_DIR;

(tlsDir ? describe : describe.skip)('AMQP: the official device and service SDKs over TLS', function () {
  this.timeout(30_000);
  let hub: Hub;
  let server: AmqpServer;
  let listener: tls.Server;
  let ca: string;
  let port: number;

  before(async () => {
    const material = await ensureTlsMaterial(tlsDir);
    ca = material.ca ?? material.cert;
    hub = await Hub.open();
    server = createAmqpServer(hub);
    listener = tls.createServer({ key: material.key, cert: material.cert }, (s) => server.handle(s));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    port = (listener.address() as AddressInfo).port;
  });

  after(async () => {
    await server.close();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    await hub.close();
  });

  it('send -> receive with every property; abandon redelivers, reject dead-letters, complete; feedback; unknown device', async () => {
    const dev = await hub.registry.createDevice({ deviceId: 'sdk1' });
    const owner = hub.registry.getPolicy('iothubowner')!;
    const device = DeviceClient.fromConnectionString(
      `HostName=localhost:${port};DeviceId=sdk1;SharedAccessKey=${dev.authentication.symmetricKey.primaryKey}`,
      Amqp,
    );
    device.setRetryPolicy(new NoRetry());
    device.on('error', () => undefined);
    await device.setOptions({ ca });
    const svc = ServiceClient.fromConnectionString(`HostName=localhost:${port};SharedAccessKeyName=iothubowner;SharedAccessKey=${owner.primaryKey}`);
    svc.setRetryPolicy(new NoRetry());
    try {
      const seen: DeviceMessage[] = [];
      const rejected = new Promise<void>((resolve) => {
        device.on('message', (m: DeviceMessage) => {
          seen.push(m);
          if (m.messageId === 'm1' && seen.filter((x) => x.messageId === 'm1').length === 1) device.abandon(m, () => undefined);
          else if (m.messageId === 'm2') device.reject(m, () => resolve());
          else device.complete(m, () => undefined);
        });
      });
      const settledOnHub = Promise.all([once(hub.events, 'completed'), once(hub.events, 'deadLettered')]);
      await device.open();
      await svc.open();
      const feedback = new Promise<{ contentType: unknown; records: { originalMessageId: string; statusCode: string }[] }>((resolve, reject) => {
        svc.getFeedbackReceiver((err, receiver) => {
          if (err || !receiver) return reject(err);
          receiver.on('message', (m: { contentType?: unknown; getData(): Buffer }) =>
            resolve({ contentType: m.contentType, records: JSON.parse(m.getData().toString()) }),
          );
        });
      });
      const m1 = new Message('hello');
      m1.messageId = 'm1';
      m1.correlationId = 'c1';
      m1.ack = 'full';
      m1.expiryTimeUtc = Date.now() + 600_000;
      (m1 as { contentType?: string }).contentType = 'text/plain';
      m1.contentEncoding = 'utf-8';
      m1.properties.add('color', 'red');
      await svc.send('sdk1', m1);
      const m2 = new Message('second');
      m2.messageId = 'm2';
      m2.ack = 'negative';
      await svc.send('sdk1', m2);
      await assert.rejects(svc.send('nobody', new Message('x')), { name: 'DeviceNotFoundError' });
      await rejected;
      const first = seen[0];
      assert.equal(first.data.toString(), 'hello');
      assert.equal(first.correlationId, 'c1');
      assert.equal(first.expiryTimeUtc, m1.expiryTimeUtc);
      assert.equal(first.ack, 'full');
      assert.equal(first.contentType, 'text/plain');
      assert.equal(first.contentEncoding, 'utf-8');
      assert.equal(first.properties.getValue('color'), 'red');
      assert.deepEqual(
        seen.map((m) => m.messageId),
        ['m1', 'm1', 'm2'],
        'm1 abandoned once, then redelivered',
      );
      await settledOnHub;
      await hub.flushFeedback();
      const fb = await feedback;
      assert.equal(fb.contentType, 'application/vnd.microsoft.iothub.feedback.json');
      assert.deepEqual(fb.records.map((r) => [r.originalMessageId, r.statusCode]).sort(), [
        ['m1', 'Success'],
        ['m2', 'Rejected'],
      ]);
    } finally {
      // Clients before the server (sdk-wire.md §6.1).
      await device.close();
      await svc.close();
    }
  });
});

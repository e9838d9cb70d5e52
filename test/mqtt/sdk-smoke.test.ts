/**
 * Smoke test with the official Azure IoT device SDK's MQTT transport over TLS
 * (sdk-wire.md §1.4, §3): it finds wire mismatches the mqtt.js tests cannot.
 * The full SDK compatibility suite lives elsewhere.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import { Client, type Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { NoRetry } from 'azure-iot-common';
import { Hub } from '../../lib/hub/index';
import { createMqttServer, type MqttServer } from '../../lib/hub/mqtt/server';

describe('MQTT: the official azure-iot-device-mqtt transport over TLS', function () {
  this.timeout(30_000);
  let hub: Hub;
  let server: MqttServer;
  let listener: tls.Server;
  let ca: string;
  let port: number;

  before(async () => {
    const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
      keySize: 2048,
      algorithm: 'sha256',
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    });
    ca = pems.cert;
    hub = await Hub.open();
    server = createMqttServer(hub);
    // Client certificates are requested but checked by the hub (thumbprint), not by a CA chain.
    listener = tls.createServer({ key: pems.private, cert: pems.cert, requestCert: true, rejectUnauthorized: false }, (socket) => server.handle(socket));
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    port = (listener.address() as AddressInfo).port;
  });

  after(async () => {
    await server.close();
    await new Promise<void>((resolve) => listener.close(() => resolve()));
    await hub.close();
  });

  async function openDevice(
    deviceId: string,
    options: Record<string, unknown> = {},
  ): Promise<{ client: Client; messages: Message[]; next(): Promise<Message> }> {
    const d = await hub.registry.createDevice({ deviceId });
    const client = Client.fromConnectionString(
      `HostName=localhost:${port};DeviceId=${deviceId};SharedAccessKey=${d.authentication.symmetricKey.primaryKey}`,
      Mqtt,
    );
    client.setRetryPolicy(new NoRetry());
    client.on('error', () => {});
    await client.setOptions({ ca, ...options });
    const messages: Message[] = [];
    const waiting: ((m: Message) => void)[] = [];
    client.on('message', (m: Message) => {
      messages.push(m);
      waiting.shift()?.(m);
    });
    await client.open();
    return { client, messages, next: () => new Promise((resolve) => waiting.push(resolve)) };
  }

  it('receives a C2D message with its properties; PUBACK completes it', async () => {
    const dev = await openDevice('sdk1');
    try {
      const expiry = Date.now() + 600_000;
      const completed = once(hub.events, 'completed');
      const got = dev.next();
      await hub.send('sdk1', {
        body: Buffer.from('hello sdk'),
        messageId: 'sdk-m1',
        correlationId: 'corr-1',
        contentType: 'text/plain',
        contentEncoding: 'utf-8',
        expiryTimeUtc: expiry,
        ack: 'full',
        properties: { k: 'v/1 &2' },
      });
      const m = await got;
      assert.equal(m.data.toString(), 'hello sdk');
      assert.equal(m.messageId, 'sdk-m1');
      assert.equal(m.correlationId, 'corr-1');
      assert.equal(m.contentType, 'text/plain');
      assert.equal(m.contentEncoding, 'utf-8');
      assert.equal(m.to, '/devices/sdk1/messages/devicebound');
      assert.equal(m.expiryTimeUtc, new Date(expiry).toISOString());
      assert.equal(m.properties.getValue('k'), 'v/1 &2');
      assert.equal(m.properties.getValue('iothub-ack'), 'full');
      await completed;
      assert.equal(hub.registry.getDevice('sdk1')?.cloudToDeviceMessageCount, 0);
    } finally {
      await dev.client.close();
    }
  });

  it('keeps receiving across SAS renewal (DISCONNECT + CONNECT, clean=false, no new SUBSCRIBE)', async () => {
    // Renewal every ~3 s: the SDK reconnects with a new token and does not subscribe again (sdk-wire §3).
    const renewed = new Promise<void>((resolve) => {
      let n = 0;
      const onConnected = (e: { deviceId: string }): void => {
        if (e.deviceId === 'sdk2' && ++n === 2) {
          hub.events.off('deviceConnected', onConnected);
          resolve();
        }
      };
      hub.events.on('deviceConnected', onConnected);
    });
    const dev = await openDevice('sdk2', { tokenRenewal: { tokenValidTimeInSeconds: 6, tokenRenewalMarginInSeconds: 3 } });
    try {
      await renewed;
      const got = dev.next();
      await hub.send('sdk2', { body: Buffer.from('after renewal') });
      assert.equal((await got).data.toString(), 'after renewal');
    } finally {
      await dev.client.close();
    }
  });

  it('authenticates an X.509 (self-signed thumbprint) device with no password', async () => {
    const device = await generate([{ name: 'commonName', value: 'x509dev' }], { keySize: 2048, algorithm: 'sha256' });
    const thumbprint = device.fingerprint.replace(/:/g, '').toUpperCase();
    await hub.registry.createDevice({
      deviceId: 'x509dev',
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumbprint, secondaryThumbprint: null } },
    });
    const client = Client.fromConnectionString(`HostName=localhost:${port};DeviceId=x509dev;x509=true`, Mqtt);
    client.setRetryPolicy(new NoRetry());
    client.on('error', () => {});
    await client.setOptions({ ca, cert: device.cert, key: device.private });
    const got = new Promise<Message>((resolve) => client.on('message', resolve));
    await client.open();
    try {
      await hub.send('x509dev', { body: Buffer.from('to a certificate') });
      assert.equal((await got).data.toString(), 'to a certificate');
    } finally {
      await client.close();
    }
  });
});

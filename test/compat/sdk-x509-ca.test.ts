/**
 * IoT Hub's X.509 CA model with the official SDKs on IoT Hub's standard
 * ports (see sdk-hub.ts for why 443/5671/8883): azure-iothub's Registry
 * creates a `certificateAuthority` device over the registry REST, and
 * azure-iot-device logs in as it with its certificate chain (root ->
 * intermediate1 -> intermediate2 -> device) on each transport that carries a
 * client certificate.
 */
import assert from 'node:assert/strict';
import * as https from 'node:https';
import { Client as SdkDeviceClient, type Message } from 'azure-iot-device';
import { Amqp, AmqpWs } from 'azure-iot-device-amqp';
import { Mqtt, MqttWs } from 'azure-iot-device-mqtt';
import { Http } from 'azure-iot-device-http';
import { Registry } from 'azure-iothub';
import { NoRetry } from 'azure-iot-common';
import { deviceOf, makePki, type Pki } from '../x509/pki';
import { startCompatHub, whyCompatCannotRun, type CompatHub } from './sdk-hub';

const HOUR = 3600_000;

const TRANSPORTS = [
  { name: 'Amqp', ctor: Amqp },
  { name: 'AmqpWs', ctor: AmqpWs },
  { name: 'Mqtt', ctor: Mqtt },
  { name: 'MqttWs', ctor: MqttWs },
  { name: 'Http', ctor: Http },
] as const;

describe('X.509 CA with the official SDKs on the standard ports (test/compat)', function () {
  this.timeout(60_000);
  let h: CompatHub;
  let pki: Pki;
  let registry: InstanceType<typeof Registry>;
  let seq = 0;

  before(async function () {
    const why = await whyCompatCannotRun();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    pki = await makePki('Contoso');
    h = await startCompatHub({ trustedCaCertificates: [pki.root.cert] });
    registry = Registry.fromConnectionString(h.hub.serviceConnectionString('iothubowner', 'https'));
  });

  after(async () => {
    if (h) await h.close();
  });

  /** Creates the device through the SDK's Registry (PUT /devices/{id}), as IoT Hub is provisioned. */
  async function createCaDevice(): Promise<string> {
    const deviceId = `compat-ca-${++seq}`;
    const created = await registry.create({ deviceId, status: 'enabled', authentication: { type: 'certificateAuthority' } } as never);
    assert.equal((created.responseBody as unknown as { authentication: { type: string } }).authentication.type, 'certificateAuthority');
    return deviceId;
  }

  it("the registry's device JSON says authentication.type certificateAuthority, with no keys or thumbprints", async () => {
    const id = await createCaDevice();
    const got = (await registry.get(id)).responseBody as unknown as { authentication: Record<string, unknown> };
    assert.deepEqual(got.authentication, {
      type: 'certificateAuthority',
      symmetricKey: { primaryKey: null, secondaryKey: null },
      x509Thumbprint: { primaryThumbprint: null, secondaryThumbprint: null },
    });
  });

  for (const t of TRANSPORTS) {
    it(`a device on ${t.name} logs in with its chain, receives and completes`, async () => {
      const id = await createCaDevice();
      const dev = await deviceOf(pki, id);
      const client = SdkDeviceClient.fromConnectionString(`HostName=localhost;DeviceId=${id};x509=true`, t.ctor);
      client.setRetryPolicy(new NoRetry());
      client.on('error', () => undefined);
      try {
        // Http's setOptions resolves only with a receive policy in the same call (sdk-wire.md §1.3).
        await client.setOptions({ cert: dev.chain, key: dev.key, http: { receivePolicy: { interval: 0.1 } } });
        await client.open();
        const got = new Promise<Message>((resolve) => client.on('message', resolve));
        await h.hub.hub.send(id, { body: Buffer.from(`ca over ${t.name}`), messageId: `ca-${seq}` });
        const m = await got;
        assert.equal(m.getData().toString(), `ca over ${t.name}`);
        await client.complete(m);
      } finally {
        await client.close();
      }
    });
  }

  it("HTTPS: a poll with an expired chain is answered 401 IotHubUnauthorized, saying why (the SDK's HTTP transport only logs it)", async () => {
    const id = await createCaDevice();
    const dev = await deviceOf(pki, id, { notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) });
    const agent = new https.Agent({ cert: dev.chain, key: dev.key });
    try {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        https
          .get({ host: 'localhost', port: 443, path: `/devices/${id}/messages/devicebound?api-version=2021-04-12`, agent }, (r) => {
            let body = '';
            r.on('data', (c: Buffer) => (body += c.toString()));
            r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
      assert.equal(res.status, 401);
      assert.match(res.body, /IotHubUnauthorized/);
      assert.match(res.body, /The device certificate expired at /);
    } finally {
      agent.destroy();
    }
  });
});

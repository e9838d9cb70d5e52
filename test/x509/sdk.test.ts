/**
 * The official Node device SDK (azure-iot-device, unmodified) as a CA-signed
 * device: `x509=true` with the device certificate and its intermediates in
 * `cert` (what the .NET example passes as `chainCerts`), over MQTT and AMQP.
 * Those two reach a hub on any port (`HostName=localhost:<port>`, sdk-wire.md
 * §1.4), so this runs without root; HTTPS and the service SDK's registry are
 * in test/compat/sdk-x509-ca.test.ts (port 443).
 */
import assert from 'node:assert/strict';
import { Client, type Message } from 'azure-iot-device';
import { Amqp } from 'azure-iot-device-amqp';
import { Mqtt } from 'azure-iot-device-mqtt';
import { NoRetry } from 'azure-iot-common';
import { Rig } from '../client/rig';
import { deviceOf, makePki, type Pki } from './pki';

const HOUR = 3600_000;

const TRANSPORTS = [
  { name: 'Mqtt', ctor: Mqtt, port: (r: Rig) => r.ports.mqtts },
  { name: 'Amqp', ctor: Amqp, port: (r: Rig) => r.ports.amqps },
] as const;

describe('X.509 CA: the official azure-iot-device SDK with a certificate chain', function () {
  this.timeout(30_000);
  let rig: Rig;
  let pki: Pki;
  let other: Pki;
  let seq = 0;

  before(async () => {
    [pki, other] = await Promise.all([makePki('Contoso'), makePki('Fabrikam')]);
    rig = await Rig.start({ hub: { trustedCaCertificates: [pki.root.cert] } });
  });
  after(async () => {
    await rig.close();
  });

  async function caDevice(): Promise<string> {
    const id = `sdk-ca-${++seq}`;
    await rig.hub.registry.createDevice({ deviceId: id, authentication: { type: 'certificateAuthority' } });
    return id;
  }

  function sdkClient(t: (typeof TRANSPORTS)[number], id: string): InstanceType<typeof Client> {
    const client = Client.fromConnectionString(`HostName=localhost:${t.port(rig)};DeviceId=${id};x509=true`, t.ctor);
    client.setRetryPolicy(new NoRetry());
    return client;
  }

  /** Opens and listens for C2D; resolves with the first message, rejects with the first error or disconnect. */
  async function listen(client: InstanceType<typeof Client>, options: { cert: string; key: string }): Promise<{ next: Promise<Message> }> {
    let fail: (e: Error) => void = () => undefined;
    const failed = new Promise<never>((_, reject) => (fail = reject));
    failed.catch(() => undefined);
    client.on('error', (e: Error) => fail(e));
    // Over AMQP a refused C2D link ends the connection: the SDK says so with 'disconnect' (an UnauthorizedError).
    // (azure-iot-device passes the error as Disconnected's first field, `transportObj`.)
    client.on('disconnect', (d: { transportObj?: unknown; reason?: unknown } | undefined) => {
      const cause = [d?.reason, d?.transportObj].find((v): v is Error => v instanceof Error);
      fail(cause ?? new Error('disconnected'));
    });
    await client.setOptions({ ca: rig.tls.cert, ...options });
    await client.open();
    const next = new Promise<Message>((resolve) => client.on('message', resolve));
    return { next: Promise.race([next, failed]) };
  }

  for (const t of TRANSPORTS) {
    describe(t.name, () => {
      it('receives and completes with the device certificate plus intermediate2 and intermediate1 in `cert`', async () => {
        const id = await caDevice();
        const dev = await deviceOf(pki, id);
        const client = sdkClient(t, id);
        try {
          const { next } = await listen(client, { cert: dev.chain, key: dev.key });
          await rig.hub.send(id, { body: Buffer.from(`ca chain over ${t.name}`), messageId: `sdk-${seq}` });
          const m = await next;
          assert.equal(m.getData().toString(), `ca chain over ${t.name}`);
          await client.complete(m);
        } finally {
          await client.close();
        }
      });

      for (const [kind, make] of [
        ['an expired certificate', (id: string) => deviceOf(pki, id, { notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) })],
        ['a certificate not yet valid', (id: string) => deviceOf(pki, id, { notBefore: new Date(Date.now() + HOUR) })],
        ['a certificate whose CN is another device', (id: string) => deviceOf(pki, `${id}-x`)],
        ['a chain to an unregistered CA', (id: string) => deviceOf(other, id)],
      ] as const) {
        it(`is refused (Unauthorized) with ${kind}`, async () => {
          const id = await caDevice();
          const dev = await make(id);
          const client = sdkClient(t, id);
          try {
            const reached = (async () => (await listen(client, { cert: dev.chain, key: dev.key })).next)();
            await assert.rejects(reached, (e: Error) => {
              assert.match(`${e.name} ${e.message}`, /Unauthorized|not authorized/i);
              return true;
            });
          } finally {
            await client.close().catch(() => undefined);
          }
        });
      }
    });
  }
});

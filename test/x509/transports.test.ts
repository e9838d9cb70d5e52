/**
 * CA-signed devices on the wire: our DeviceClient with a certificate chain
 * (root -> intermediate1 -> intermediate2 -> device, the chain sent in the TLS
 * handshake) or a PFX, on every transport, against a hub that has the root
 * registered; and each kind of bad chain refused with 401003.
 */
import assert from 'node:assert/strict';
import * as https from 'node:https';
import { DeviceClient } from '../../lib/client/device-client';
import type { X509Credential } from '../../lib/client/credentials';
import { DEVICE_TRANSPORTS, type DeviceTransport } from '../../lib/client/types';
import { C2DError } from '../../lib/common/errors';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { Rig } from '../client/rig';
import { deviceOf, issue, makePki, pfxOf, skipWithoutOpenssl, type Pki } from './pki';

const HOUR = 3600_000;

describe('X.509 CA: certificateAuthority devices on every transport', function () {
  this.timeout(20_000);
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
    const id = `ca-dev-${++seq}`;
    await rig.hub.registry.createDevice({ deviceId: id, authentication: { type: 'certificateAuthority' } });
    return id;
  }

  function client(transport: DeviceTransport, deviceId: string, x509: X509Credential): DeviceClient {
    return DeviceClient.fromParts({ hostName: rig.hostFor(transport), deviceId, x509 }, { transport, ca: rig.tls.cert, retryPolicy: new NoRetry() });
  }

  async function roundTrip(c: DeviceClient, deviceId: string, body: string): Promise<void> {
    try {
      await c.open();
      await rig.hub.send(deviceId, { body: Buffer.from(body), messageId: `m-${++seq}` });
      const m = (await c.receive({ timeoutMs: 5000 })) as ReceivedMessage;
      assert.equal(m.body.toString(), body);
      await c.complete(m);
    } finally {
      await c.close();
    }
  }

  /**
   * Reaching for messages fails 401003 (at open on MQTT and HTTPS; over AMQP the
   * certificate is checked when the C2D link attaches). Where the wire carries a
   * reason (AMQP, HTTPS), it is the hub's; MQTT's CONNACK 5 carries none.
   */
  async function assertRefused(transport: DeviceTransport, c: DeviceClient, reason: RegExp): Promise<void> {
    try {
      const reach = async (): Promise<void> => {
        await c.open();
        await c.receive({ timeoutMs: 5000 });
      };
      await assert.rejects(reach(), (e: unknown) => {
        assert.ok(e instanceof C2DError, `${transport}: ${String(e)}`);
        assert.equal(e.code, 401003);
        if (!transport.startsWith('mqtt')) assert.match(e.message, reason);
        return true;
      });
    } finally {
      await c.close();
    }
  }

  for (const transport of DEVICE_TRANSPORTS) {
    describe(transport, () => {
      it('a device with its chain (device, intermediate2, intermediate1 in one PEM) receives and completes', async () => {
        const id = await caDevice();
        const dev = await deviceOf(pki, id);
        await roundTrip(client(transport, id, { cert: dev.chain, key: dev.key }), id, `chain over ${transport}`);
      });

      it('a device with a PFX (certificate, key, intermediates) and its pass phrase receives and completes', async function () {
        skipWithoutOpenssl(this);
        const id = await caDevice();
        const dev = await deviceOf(pki, id);
        const pfx = pfxOf(dev, [pki.intermediate2, pki.intermediate1], 'pfx pass phrase');
        await roundTrip(client(transport, id, { pfx, passphrase: 'pfx pass phrase' }), id, `pfx over ${transport}`);
      });

      it('refuses an expired device certificate', async () => {
        const id = await caDevice();
        const dev = await deviceOf(pki, id, { notBefore: new Date(Date.now() - 3 * HOUR), notAfter: new Date(Date.now() - HOUR) });
        await assertRefused(transport, client(transport, id, { cert: dev.chain, key: dev.key }), /The device certificate expired at /);
      });

      it('refuses a device certificate not yet valid', async () => {
        const id = await caDevice();
        const dev = await deviceOf(pki, id, { notBefore: new Date(Date.now() + HOUR) });
        await assertRefused(transport, client(transport, id, { cert: dev.chain, key: dev.key }), /The device certificate is not valid before /);
      });

      it('refuses a certificate whose CN is not the device id', async () => {
        const id = await caDevice();
        const dev = await deviceOf(pki, `${id}-other`);
        await assertRefused(
          transport,
          client(transport, id, { cert: dev.chain, key: dev.key }),
          new RegExp(`CN=${id}-other, but a certificateAuthority device must present a certificate with CN=${id}`),
        );
      });

      it('refuses a chain to a CA not registered on the hub', async () => {
        const id = await caDevice();
        const dev = await deviceOf(other, id);
        await assertRefused(
          transport,
          client(transport, id, { cert: dev.chain, key: dev.key }),
          /No certificate sent or registered issued 'CN=Fabrikam Intermediate 1'/,
        );
      });

      it('refuses the device certificate without its intermediates', async () => {
        const id = await caDevice();
        const dev = await deviceOf(pki, id);
        await assertRefused(transport, client(transport, id, { cert: dev.cert, key: dev.key }), /send the intermediate certificates/);
      });
    });
  }

  it('checks the chain on every new TLS connection: a reconnect cannot resume a session without its intermediates', async () => {
    const id = await caDevice();
    const dev = await deviceOf(pki, id);
    // A fresh connection per request, from an agent that would resume a TLS session if the hub offered one.
    const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10, ca: rig.tls.cert, cert: dev.chain, key: dev.key });
    const poll = (): Promise<{ status: number; reused: boolean }> =>
      new Promise((resolve, reject) => {
        const req = https.request(
          { host: 'localhost', port: rig.ports.https, path: `/devices/${id}/messages/devicebound?api-version=2021-04-12`, agent },
          (res) => {
            res.resume();
            res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: (req.socket as import('node:tls').TLSSocket).isSessionReused() }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    try {
      for (let i = 0; i < 3; i++) assert.deepEqual(await poll(), { status: 204, reused: false });
    } finally {
      agent.destroy();
    }
  });

  it('keeps self-signed (thumbprint) devices working next to CA-signed ones', async () => {
    const self = await issue('self-dev');
    await rig.hub.registry.createDevice({
      deviceId: 'self-dev',
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: self.x.fingerprint.replace(/:/g, '') } },
    });
    for (const transport of DEVICE_TRANSPORTS)
      await roundTrip(client(transport, 'self-dev', { cert: self.cert, key: self.key }), 'self-dev', `self-signed over ${transport}`);
  });
});

/**
 * Device auth without CBS: X.509 client certificates on the TLS socket (no
 * SASL, and SASL EXTERNAL), and the bearer-token hook for put-token.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { generate } from 'selfsigned';
import type { Principal } from '../../lib/hub/api';
import { Client, startRig, type Rig } from './helpers';

async function certFor(cn: string): Promise<{ cert: string; key: string }> {
  const p = await generate([{ name: 'commonName', value: cn }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2, value: 'localhost' }] }],
  });
  return { cert: p.cert, key: p.private };
}

describe('X.509 device auth over TLS (no CBS, c2d-semantics.md §6.5)', function () {
  let rig: Rig;
  let server: tls.Server;
  let port: number;
  let serverCert: { cert: string; key: string };
  let deviceCert: { cert: string; key: string };
  const sockets = new Set<tls.TLSSocket>();

  before(async () => {
    serverCert = await certFor('localhost');
    deviceCert = await certFor('xdev');
  });

  beforeEach(async () => {
    rig = await startRig();
    const sha1 = new X509Certificate(deviceCert.cert).fingerprint.replace(/:/g, '');
    await rig.hub.registry.createDevice({ deviceId: 'xdev', authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: sha1 } } });
    await rig.hub.registry.createDevice({ deviceId: 'other' });
    // Self-signed device certificates do not chain to a CA: ask for one, judge it by thumbprint.
    server = tls.createServer({ ...serverCert, requestCert: true, rejectUnauthorized: false }, (s) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      rig.server.handle(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });

  afterEach(async () => {
    await rig.close();
    server.close();
    for (const s of sockets) s.destroy();
  });

  const tlsOptions = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    transport: 'tls',
    host: 'localhost',
    servername: 'localhost',
    ca: serverCert.cert,
    cert: deviceCert.cert,
    key: deviceCert.key,
    ...extra,
  });

  it('a device presenting its registered certificate attaches its C2D link and receives', async () => {
    const c = await Client.connect(port, tlsOptions());
    try {
      const r = await c.attachReceiver('/devices/xdev/messages/devicebound', { credit_window: 5 });
      const got = once(r, 'message');
      await rig.hub.send('xdev', { body: Buffer.from('x509'), messageId: 'x1' });
      assert.equal((await got)[0].message.message_id, 'x1');
      await assert.rejects(c.attachReceiver('/devices/other/messages/devicebound'), { condition: 'amqp:unauthorized-access' });
    } finally {
      await c.close();
    }
  });

  it('SASL EXTERNAL is offered to a certificate holder and leads to the same check', async () => {
    const c = await Client.connect(port, tlsOptions({ enable_sasl_external: true }));
    try {
      await c.attachReceiver('/devices/xdev/messages/devicebound');
    } finally {
      await c.close();
    }
  });
});

describe('Bearer put-tokens (Microsoft Entra hook)', () => {
  it('are refused with 401 by default and accepted when the verifier vouches for them', async () => {
    const seen: string[] = [];
    const verifyBearerToken = async (token: string, audience: string): Promise<Principal> => {
      seen.push(audience);
      if (token !== 'good-jwt') throw new Error('bad');
      return { kind: 'service', keyName: 'entra', rights: new Set(['ServiceConnect']) };
    };
    const rig = await startRig({ verifyBearerToken });
    try {
      const c = await rig.connect();
      assert.equal((await c.putToken('Bearer bad-jwt', 'https://iothubs.azure.net')).status, 401);
      assert.equal((await c.putToken('Bearer good-jwt', 'https://iothubs.azure.net')).status, 200);
      await c.attachSender('/messages/devicebound');
      assert.deepEqual(seen, ['https://iothubs.azure.net', 'https://iothubs.azure.net']);
    } finally {
      await rig.close();
    }
  });
});

/**
 * Microsoft Entra for backends: ServiceClient.fromTokenCredential with a test
 * TokenCredential that signs JWTs with a generated key; the hub trusts that
 * key (lib/hub/entra.ts), checks signature, audience and expiry, and maps the
 * roles claim to rights, on AMQP (put-token) and on the HTTPS service routes
 * (registry, purge, feedback) alike. EmbeddedHub and the c2d-hub command
 * trust an issuer from its JWKS (`trustEntra`, `--trust-jwks`).
 */
import { strict as assert } from 'node:assert';
import type { KeyObject } from 'node:crypto';
import * as https from 'node:https';
import { EmbeddedHub } from '../../lib/hub/embedded';
import { ServiceClient } from '../../lib/client/service-client';
import type { TokenCredential } from '../../lib/client/credentials';
import { C2DError } from '../../lib/common/errors';
import { NoRetry } from '../../lib/common/retry';
import { createEntraVerifier, rightsForRoles } from '../../lib/hub/entra';
import { Rig } from './rig';

type Jose = typeof import('jose', { with: { 'resolution-mode': 'import' } });

class TestCredential implements TokenCredential {
  scopes: string[] = [];
  constructor(
    private readonly jose: Jose,
    private readonly key: KeyObject,
    private readonly claims: { aud?: string; roles?: string[]; expInS?: number; kid?: string },
  ) {}
  async getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number }> {
    this.scopes.push(...([] as string[]).concat(scopes));
    const exp = Math.floor(Date.now() / 1000) + (this.claims.expInS ?? 3600);
    const token = await new this.jose.SignJWT({ roles: this.claims.roles ?? ['IoT Hub Data Contributor'], oid: 'test-app' })
      .setProtectedHeader({ alg: 'RS256', ...(this.claims.kid ? { kid: this.claims.kid } : {}) })
      .setIssuer('https://sts.windows.net/test-tenant/')
      .setAudience(this.claims.aud ?? 'https://iothubs.azure.net')
      .setExpirationTime(exp)
      .sign(this.key);
    return { token, expiresOnTimestamp: exp * 1000 };
  }
}

describe('Entra (TokenCredential) for the ServiceClient', function () {
  this.timeout(20_000);
  let rig: Rig;
  let jose: Jose;
  let trusted: { publicKey: KeyObject; privateKey: KeyObject };
  let svc: ServiceClient | undefined;
  before(async () => {
    jose = await import('jose');
    trusted = (await jose.generateKeyPair('RS256', { extractable: true })) as unknown as typeof trusted;
    rig = await Rig.start({ verifyBearerToken: createEntraVerifier({ publicKey: trusted.publicKey, issuer: 'https://sts.windows.net/test-tenant/' }) });
    await rig.addDevice('e1');
  });
  after(async () => {
    await rig.close();
  });
  afterEach(async () => {
    await svc?.close();
    svc = undefined;
  });

  function client(cred: TokenCredential): ServiceClient {
    svc = ServiceClient.fromTokenCredential(`localhost:${rig.ports.amqps}`, cred, {
      ca: rig.tls.cert,
      retryPolicy: new NoRetry(),
      ports: { https: rig.ports.https },
    });
    return svc;
  }

  it('asks for the scope https://iothubs.azure.net/.default, puts Bearer <jwt>, and sends', async () => {
    const cred = new TestCredential(jose, trusted.privateKey, {});
    const c = client(cred);
    await c.open();
    assert.deepEqual(cred.scopes, ['https://iothubs.azure.net/.default']);
    const r = await c.send('e1', Buffer.from('via entra'));
    assert.equal((await rig.hub.receive('e1'))?.messageId, r.messageId);
    await rig.hub.purge('e1');
  });

  it('refuses a token signed by another key, for another audience, or expired (401003, bad-credential)', async () => {
    const other = (await jose.generateKeyPair('RS256')) as unknown as typeof trusted;
    for (const cred of [
      new TestCredential(jose, other.privateKey, {}),
      new TestCredential(jose, trusted.privateKey, { aud: 'https://management.azure.com' }),
      new TestCredential(jose, trusted.privateKey, { expInS: -3600 }),
    ]) {
      const c = client(cred);
      await assert.rejects(c.open(), (e: C2DError) => e.code === 401003);
      await c.close();
    }
  });

  it('the same tokens work on the HTTPS service routes: registry, purge and feedback', async () => {
    const c = client(new TestCredential(jose, trusted.privateKey, {}));
    const d = await c.createDevice({ deviceId: 'e-https' });
    assert.equal((await c.getDevice('e-https')).etag, d.etag);
    assert.ok((await c.listDevices()).some((x) => x.deviceId === 'e-https'));
    await rig.hub.send('e-https', { body: Buffer.from('x') });
    assert.equal(await c.purge('e-https'), 1);
    const token = (await new TestCredential(jose, trusted.privateKey, {}).getToken([])).token;
    assert.equal((await get(rig.ports.https, '/messages/serviceBound/feedback?api-version=2021-04-12', `Bearer ${token}`, rig.tls.cert)).status, 204);
    await c.deleteDevice('e-https');
  });

  it('on HTTPS too, roles decide: a Data Reader reads the registry but cannot write it or purge (401); a foreign key is refused', async () => {
    const reader = client(new TestCredential(jose, trusted.privateKey, { roles: ['IoT Hub Data Reader'] }));
    assert.equal((await reader.getDevice('e1')).deviceId, 'e1');
    await assert.rejects(reader.createDevice({ deviceId: 'e-nope' }), (e: C2DError) => e.code === 401003 || e.httpStatus === 401);
    await assert.rejects(reader.purge('e1'), (e: C2DError) => e.httpStatus === 401);
    await reader.close();
    const other = (await jose.generateKeyPair('RS256')) as unknown as typeof trusted;
    const foreign = client(new TestCredential(jose, other.privateKey, {}));
    await assert.rejects(foreign.getDevice('e1'), (e: C2DError) => e.httpStatus === 401 && /Bearer token refused/.test(e.message));
  });

  it('maps roles to rights: a Data Reader cannot send', async () => {
    assert.deepEqual([...rightsForRoles(['IoTHubDataReader'])], ['RegistryRead']);
    assert.equal(rightsForRoles(['IoT Hub Data Contributor']).size, 4);
    const c = client(new TestCredential(jose, trusted.privateKey, { roles: ['IoT Hub Data Reader'] }));
    await c.open();
    await assert.rejects(c.send('e1', Buffer.from('x')), (e: C2DError) => e.httpStatus === 401);
  });
});

/** A GET with an Authorization header; resolves with the status (and the body). */
export function get(port: number, path: string, authorization: string, ca: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: 'localhost', port, path, method: 'GET', ca, headers: { authorization } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe("Entra on the embedded hub: trustEntra with an issuer's JWKS, end to end", function () {
  this.timeout(20_000);
  let jose: Jose;
  let hub: EmbeddedHub | undefined;
  afterEach(async () => {
    await hub?.close();
    hub = undefined;
  });

  it('a backend with a TokenCredential sends over AMQP and manages devices over HTTPS; a hub without it refuses Bearer on HTTPS (401003)', async () => {
    jose = await import('jose');
    const keys = (await jose.generateKeyPair('RS256', { extractable: true })) as unknown as { publicKey: KeyObject; privateKey: KeyObject };
    const jwk = { ...(await jose.exportJWK(keys.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    hub = await EmbeddedHub.start({
      ports: { amqps: 0, mqtts: false, https: 0 },
      host: '127.0.0.1',
      trustEntra: { jwks: { keys: [jwk] }, issuer: 'https://sts.windows.net/test-tenant/' },
    });
    const cred = new TestCredential(jose, keys.privateKey, { kid: 'k1' });
    const c = ServiceClient.fromTokenCredential(`localhost:${hub.ports.amqps}`, cred, {
      ca: hub.tls.cert,
      retryPolicy: new NoRetry(),
      ports: { https: hub.ports.https! },
    });
    try {
      await c.createDevice({ deviceId: 'jwks-dev' });
      await c.open();
      const { messageId } = await c.send('jwks-dev', Buffer.from('hello'));
      assert.equal((await hub.hub.receive('jwks-dev'))?.messageId, messageId);
      assert.equal(await c.purge('jwks-dev'), 1);
    } finally {
      await c.close();
    }
    await hub.close();
    hub = await EmbeddedHub.start({ ports: { amqps: false, mqtts: false, https: 0 }, host: '127.0.0.1' });
    const token = (await cred.getToken([])).token;
    const r = await get(hub.ports.https!, '/devices?api-version=2021-04-12', `Bearer ${token}`, hub.tls.cert);
    assert.equal(r.status, 401);
    assert.match(r.body, /trusts no Microsoft Entra issuer/);
  });

  it('refuses a JWKS that is not one (400004) before opening anything', async () => {
    await assert.rejects(
      EmbeddedHub.start({ ports: { amqps: 0, mqtts: false, https: false }, trustEntra: { jwks: { keys: [] } } }),
      (e: C2DError) => e.code === 400004 && /JSON Web Key Set/.test(e.message),
    );
  });
});

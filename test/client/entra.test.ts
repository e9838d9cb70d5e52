/**
 * Microsoft Entra for backends: ServiceClient.fromTokenCredential with a test
 * TokenCredential that signs JWTs with a generated key; the hub trusts that
 * key (lib/hub/entra.ts), checks signature, audience and expiry, and maps the
 * roles claim to rights.
 */
import { strict as assert } from 'node:assert';
import type { KeyObject } from 'node:crypto';
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
    private readonly claims: { aud?: string; roles?: string[]; expInS?: number },
  ) {}
  async getToken(scopes: string | string[]): Promise<{ token: string; expiresOnTimestamp: number }> {
    this.scopes.push(...([] as string[]).concat(scopes));
    const exp = Math.floor(Date.now() / 1000) + (this.claims.expInS ?? 3600);
    const token = await new this.jose.SignJWT({ roles: this.claims.roles ?? ['IoT Hub Data Contributor'], oid: 'test-app' })
      .setProtectedHeader({ alg: 'RS256' })
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
    svc = ServiceClient.fromTokenCredential(`localhost:${rig.ports.amqps}`, cred, { ca: rig.tls.cert, retryPolicy: new NoRetry() });
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

  it('maps roles to rights: a Data Reader cannot send', async () => {
    assert.deepEqual([...rightsForRoles(['IoTHubDataReader'])], ['RegistryRead']);
    assert.equal(rightsForRoles(['IoT Hub Data Contributor']).size, 4);
    const c = client(new TestCredential(jose, trusted.privateKey, { roles: ['IoT Hub Data Reader'] }));
    await c.open();
    await assert.rejects(c.send('e1', Buffer.from('x')), (e: C2DError) => e.httpStatus === 401);
  });
});

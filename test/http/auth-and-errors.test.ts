import { strict as assert } from 'node:assert';
import * as https from 'node:https';
import { createSas } from '../../lib/common/sas';
import { hubPaths } from '../../lib/common/codec/http-paths';
import { ensureTlsMaterial } from '../../lib/hub/tls';
import { startRig, type HttpReply, type Rig } from './helpers';

function assertUnauthorized(r: HttpReply, what: string): void {
  assert.equal(r.status, 401, what);
  assert.equal(r.headers['iothub-errorcode'], 'IotHubUnauthorized', what);
  const body = r.json() as { Message: string; ExceptionMessage: string };
  assert.match(body.Message, /^ErrorCode:IotHubUnauthorized;/, what);
  assert.match(body.ExceptionMessage, /^401003 /, what);
}

describe('HTTPS auth: every failure is 401 + 401003 (c2d-semantics §6)', () => {
  let rig: Rig;
  let keyA: string;
  let keyB: string;
  before(async () => {
    rig = await startRig();
    keyA = await rig.addDevice('auth-a');
    keyB = await rig.addDevice('auth-b');
  });
  after(async () => {
    await rig.close();
  });

  it('refuses a missing, malformed, forged or expired token on a device route', async () => {
    const path = hubPaths.deviceBound('auth-a');
    const cases: Array<[string, Record<string, string>]> = [
      ['no Authorization', {}],
      ['malformed', { authorization: 'Bearer abc' }],
      ['signed with another key', { authorization: rig.deviceToken('auth-a', keyB) }],
      ['expired', { authorization: rig.deviceToken('auth-a', keyA, -3600) }],
    ];
    for (const [what, headers] of cases) assertUnauthorized(await rig.request('GET', path, { headers }), what);
    assert.equal((await rig.request('GET', path, { headers: { authorization: rig.deviceToken('auth-a', keyA) } })).status, 204);
  });

  it("refuses device A's token on device B's paths, for receive, settle and D2C", async () => {
    const headers = { authorization: rig.deviceToken('auth-a', keyA) };
    assertUnauthorized(await rig.request('GET', hubPaths.deviceBound('auth-b'), { headers }), 'receive');
    assertUnauthorized(await rig.request('DELETE', hubPaths.deviceBoundLock('auth-b', 'tok'), { headers }), 'complete');
    assertUnauthorized(await rig.request('POST', hubPaths.deviceBoundAbandon('auth-b', 'tok'), { headers }), 'abandon');
    assertUnauthorized(await rig.request('POST', hubPaths.deviceEvents('auth-b'), { headers, body: 'x' }), 'd2c');
  });

  it('a policy with DeviceConnect may act for a device; one without may not', async () => {
    assert.equal((await rig.request('GET', hubPaths.deviceBound('auth-b'), { headers: { authorization: rig.serviceToken('owner') } })).status, 204);
    assertUnauthorized(await rig.request('GET', hubPaths.deviceBound('auth-b'), { headers: { authorization: rig.serviceToken('service') } }), 'service policy');
  });

  it('registry GET needs RegistryRead, PUT/DELETE RegistryWrite, purge and feedback ServiceConnect', async () => {
    const reader = { authorization: rig.serviceToken('reader') };
    const service = { authorization: rig.serviceToken('service') };
    const device = { authorization: rig.deviceToken('auth-a', keyA) };
    assert.equal((await rig.request('GET', hubPaths.device('auth-a'), { headers: reader })).status, 200);
    assertUnauthorized(await rig.request('PUT', hubPaths.device('auth-new'), { headers: reader, body: '{}' }), 'reader PUT');
    assertUnauthorized(await rig.request('DELETE', hubPaths.device('auth-a'), { headers: reader }), 'reader DELETE');
    assertUnauthorized(await rig.request('GET', hubPaths.device('auth-a'), { headers: service }), 'service GET');
    assertUnauthorized(await rig.request('GET', hubPaths.devices(), { headers: device }), 'device list');
    assertUnauthorized(await rig.request('DELETE', hubPaths.deviceCommands('auth-a'), { headers: reader }), 'reader purge');
    assertUnauthorized(await rig.request('DELETE', hubPaths.deviceCommands('auth-a'), { headers: device }), 'device purge');
    assertUnauthorized(await rig.request('GET', hubPaths.feedback(), { headers: reader }), 'reader feedback');
    assertUnauthorized(await rig.request('GET', hubPaths.feedback(), { headers: {} }), 'anonymous feedback');
    assertUnauthorized(
      await rig.request('GET', hubPaths.feedback(), { headers: { authorization: createSas('localhost', keyA, 9_999_999_999, 'owner') } }),
      'wrong policy key',
    );
  });

  it('a device may authenticate with its self-signed X.509 certificate instead of a token', async () => {
    const cert = await ensureTlsMaterial(undefined);
    const { X509Certificate } = await import('node:crypto');
    const thumb = new X509Certificate(cert.cert).fingerprint.replace(/:/g, '');
    await rig.hub.registry.createDevice({ deviceId: 'auth-x509', authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumb } } });
    const get = (deviceId: string, withCert: boolean): Promise<number> =>
      new Promise((resolve, reject) => {
        https
          .get(
            {
              host: 'localhost',
              port: rig.port,
              path: hubPaths.deviceBound(deviceId),
              ca: rig.tls.cert,
              agent: false,
              ...(withCert ? { cert: cert.cert, key: cert.key } : {}),
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          )
          .on('error', reject);
      });
    assert.equal(await get('auth-x509', true), 204);
    assert.equal(await get('auth-x509', false), 401);
    assert.equal(await get('auth-a', true), 401, 'the certificate is not auth-a');
  });
});

describe('HTTPS robustness: bad requests get a clean 4xx and the server keeps serving', () => {
  let rig: Rig;
  let auth: Record<string, string>;
  before(async () => {
    rig = await startRig();
    auth = { authorization: rig.serviceToken('owner') };
  });
  after(async () => {
    await rig.close();
  });

  it('unknown paths are 404 GenericNotFound in IoT Hub shape', async () => {
    for (const path of ['/', '/twins/x', '/devices/a/b/c/d/e/f/g', '/messages/serviceBound/x', '/devices/%ZZ']) {
      const r = await rig.request('GET', path, { headers: auth });
      assert.ok(r.status === 404 || r.status === 400, `${path} -> ${r.status}`);
      assert.match((r.json() as { Message: string }).Message, /^ErrorCode:\w+;/);
      assert.ok(r.headers['iothub-errorcode']);
    }
  });

  it('a wrong method is 405 with Allow', async () => {
    const r = await rig.request('PATCH', hubPaths.device('x'), { headers: auth, body: '{}' });
    assert.equal(r.status, 405);
    assert.equal(r.headers.allow, 'PUT, GET, DELETE');
    assert.equal(r.headers['iothub-errorcode'], 'GenericMethodNotAllowed');
  });

  it('an oversized body is refused 413 before it is parsed, declared or streamed', async () => {
    const big = Buffer.alloc(300 * 1024, 0x7b);
    const declared = await rig.request('PUT', hubPaths.device('big'), { headers: auth, body: big });
    assert.equal(declared.status, 413);
    assert.equal(declared.headers['iothub-errorcode'], 'GenericRequestEntityTooLarge');
    // Chunked: no Content-Length, the bound trips while reading.
    const streamed = await new Promise<number>((resolve, reject) => {
      const req = https.request(
        { host: 'localhost', port: rig.port, method: 'PUT', path: hubPaths.device('big'), ca: rig.tls.cert, agent: false, headers: auth },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 5; i++) req.write(Buffer.alloc(64 * 1024, 0x20));
      req.end();
    });
    assert.equal(streamed, 413);
    assert.equal(rig.hub.registry.getDevice('big'), undefined);
  });

  it('after all that, the same server still answers', async () => {
    await rig.addDevice('still-here');
    const r = await rig.request('GET', hubPaths.device('still-here'), { headers: auth });
    assert.equal(r.status, 200);
  });
});

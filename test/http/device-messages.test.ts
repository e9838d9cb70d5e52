import { strict as assert } from 'node:assert';
import { startRig, type Rig } from './helpers';
import { hubPaths } from '../../lib/common/codec/http-paths';
// The Node device SDK's own response -> Message conversion (azure-iot-http-base).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Http: SdkHttp } = require('azure-iot-http-base') as {
  Http: new () => {
    toMessage(
      res: { statusCode: number; headers: Record<string, unknown> },
      body: Buffer,
    ): { lockToken: string; messageId: string; to: string; expiryTimeUtc: string; correlationId: string; properties: { getValue(k: string): string } };
  };
};

describe('HTTPS device C2D endpoints (c2d-semantics §5.3)', () => {
  let rig: Rig;
  before(async () => {
    rig = await startRig();
  });
  after(async () => {
    await rig.close();
  });

  let n = 0;
  async function device(): Promise<{ id: string; auth: Record<string, string> }> {
    const id = `http-dev-${++n}`;
    const key = await rig.addDevice(id);
    return { id, auth: { authorization: rig.deviceToken(id, key) } };
  }

  it('an empty queue answers 204 with no body', async () => {
    const d = await device();
    const r = await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth });
    assert.equal(r.status, 204);
    assert.equal(r.body.length, 0);
  });

  it('a queued message comes back 200 with its body and every header, and the Node SDK reads it', async () => {
    const d = await device();
    const expiry = rig.clock.now() + 600_000;
    await rig.hub.send(d.id, {
      body: Buffer.from('hello device'),
      messageId: 'msg-1',
      correlationId: 'corr-1',
      userId: 'backend',
      expiryTimeUtc: expiry,
      ack: 'full',
      contentType: 'text/plain',
      contentEncoding: 'utf-8',
      properties: { color: 'blue' },
    });
    // Node's path: lower-case devicebound; C#'s: deviceBound. Both are served.
    const r = await rig.request('GET', `/devices/${d.id}/messages/deviceBound?api-version=2020-09-30&iothub-messagelocktimeout=60`, { headers: d.auth });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello device');
    const h = r.headers;
    assert.match(String(h.etag), /^"[^"]+"$/);
    assert.equal(h['iothub-messageid'], 'msg-1');
    assert.equal(h['iothub-correlationid'], 'corr-1');
    assert.equal(h['iothub-userid'], 'backend');
    assert.equal(h['iothub-to'], `/devices/${d.id}/messages/devicebound`);
    assert.equal(h['iothub-expiry'], new Date(expiry).toISOString());
    assert.equal(h['iothub-ack'], 'full');
    assert.match(String(h['iothub-sequencenumber']), /^\d+$/);
    assert.equal(h['iothub-enqueuedtime'], new Date(rig.clock.now()).toISOString());
    assert.equal(h['iothub-deliverycount'], '0');
    assert.equal(h['content-type'], 'text/plain');
    assert.equal(h['iothub-contenttype'], 'text/plain');
    assert.equal(h['iothub-contentencoding'], 'utf-8');
    assert.equal(h['iothub-app-color'], 'blue');

    const m = new SdkHttp().toMessage({ statusCode: 200, headers: h }, r.body);
    assert.equal(m.lockToken, String(h.etag).slice(1, -1));
    assert.equal(m.messageId, 'msg-1');
    assert.equal(m.correlationId, 'corr-1');
    assert.equal(m.properties.getValue('iothub-app-color'), 'blue');

    const done = await rig.request('DELETE', hubPaths.deviceBoundLock(d.id, m.lockToken), { headers: { ...d.auth, 'if-match': m.lockToken } });
    assert.equal(done.status, 204);
    assert.equal((await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth })).status, 204, 'completed means gone');
  });

  it('reject (bare &reject flag, or reject=true) dead-letters the message', async () => {
    const d = await device();
    for (const suffix of ['&reject', '&reject=true']) {
      await rig.hub.send(d.id, { body: Buffer.from('x') });
      const got = await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth });
      const token = String(got.headers.etag).slice(1, -1);
      const rejected = new Promise((resolve) => rig.hub.events.once('rejected', resolve));
      const r = await rig.request('DELETE', hubPaths.deviceBoundLock(d.id, token) + suffix, { headers: d.auth });
      assert.equal(r.status, 204, suffix);
      await rejected;
    }
    assert.equal(rig.hub.registry.getDevice(d.id)?.cloudToDeviceMessageCount, 0);
  });

  it('abandon puts the message back, delivered again with a higher delivery count', async () => {
    const d = await device();
    await rig.hub.send(d.id, { body: Buffer.from('again'), messageId: 'ab-1' });
    const first = await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth });
    const token = String(first.headers.etag).slice(1, -1);
    // C# sends If-Match quoted; Node bare. Both are the path's token.
    const r = await rig.request('POST', hubPaths.deviceBoundAbandon(d.id, token), { headers: { ...d.auth, 'if-match': `"${token}"` } });
    assert.equal(r.status, 204);
    const second = await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth });
    assert.equal(second.status, 200);
    assert.equal(second.headers['iothub-messageid'], 'ab-1');
    assert.equal(Number(second.headers['iothub-deliverycount']), Number(first.headers['iothub-deliverycount']) + 1);
    assert.notEqual(second.headers.etag, first.headers.etag, 'a new lock');
  });

  it('settling after the lock expired answers 412 with 412002 DeviceMessageLockLost', async () => {
    const d = await device();
    await rig.hub.send(d.id, { body: Buffer.from('slow') });
    const got = await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth });
    const token = String(got.headers.etag).slice(1, -1);
    rig.clock.advance(rig.hub.limits.lockTimeoutMs + 1000);
    for (const [method, path] of [
      ['DELETE', hubPaths.deviceBoundLock(d.id, token)],
      ['DELETE', hubPaths.deviceBoundLock(d.id, token, true)],
      ['POST', hubPaths.deviceBoundAbandon(d.id, token)],
    ] as const) {
      const r = await rig.request(method, path, { headers: d.auth });
      assert.equal(r.status, 412, `${method} ${path}`);
      assert.equal(r.headers['iothub-errorcode'], 'DeviceMessageLockLost');
      assert.match((r.json() as { ExceptionMessage: string }).ExceptionMessage, /^412002 /);
    }
    // The message itself is back in the queue, so it is not lost.
    assert.equal((await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth })).status, 200);
  });

  it('an If-Match naming another lock than the path is refused 412 PreconditionFailed, and nothing is settled', async () => {
    const d = await device();
    await rig.hub.send(d.id, { body: Buffer.from('x') });
    const got = await rig.request('GET', hubPaths.deviceBound(d.id), { headers: d.auth });
    const token = String(got.headers.etag).slice(1, -1);
    const r = await rig.request('DELETE', hubPaths.deviceBoundLock(d.id, token), { headers: { ...d.auth, 'if-match': 'other' } });
    assert.equal(r.status, 412);
    assert.equal(r.headers['iothub-errorcode'], 'PreconditionFailed');
    assert.equal((await rig.request('DELETE', hubPaths.deviceBoundLock(d.id, token), { headers: d.auth })).status, 204);
  });

  it('device-to-cloud POST answers 204 and reports the body and iothub-app-* properties', async () => {
    const d = await device();
    const seen = new Promise<{ deviceId: string; body: Buffer; properties: Record<string, string> }>((resolve) =>
      rig.hub.events.once('deviceToCloud', resolve),
    );
    const r = await rig.request('POST', hubPaths.deviceEvents(d.id), { headers: { ...d.auth, 'iothub-app-temp': '21' }, body: '{"t":21}' });
    assert.equal(r.status, 204);
    const e = await seen;
    assert.equal(e.deviceId, d.id);
    assert.equal(e.body.toString(), '{"t":21}');
    assert.deepEqual(e.properties, { temp: '21' });
  });
});

import { strict as assert } from 'node:assert';
import { startRig, type Rig } from './helpers';
import { hubPaths } from '../../lib/common/codec/http-paths';
import type { Device } from '../../lib/hub/api';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RestApiClient } = require('azure-iothub/dist/common-http/rest_api_client') as {
  RestApiClient: { translateError(body: string, res: { statusCode: number }): Error };
};

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

describe('HTTPS registry, purge and feedback (c2d-semantics §7, §4.3)', () => {
  let rig: Rig;
  let owner: Record<string, string>;
  before(async () => {
    rig = await startRig();
    owner = { authorization: rig.serviceToken('owner'), ...JSON_HEADERS };
  });
  after(async () => {
    await rig.close();
  });

  const put = (id: string, body: unknown, extra: Record<string, string> = {}) =>
    rig.request('PUT', hubPaths.device(id), { headers: { ...owner, ...extra }, body: JSON.stringify(body) });

  it('creates a device from the Node SDK body, generating the empty keys; JSON content type always', async () => {
    const r = await put('reg-1', { deviceId: 'reg-1', authentication: { type: 'sas', symmetricKey: { primaryKey: '', secondaryKey: '' } } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    const d = r.json() as Device;
    assert.equal(d.deviceId, 'reg-1');
    assert.equal(d.status, 'enabled');
    assert.equal(d.cloudToDeviceMessageCount, 0);
    for (const k of [d.authentication.symmetricKey.primaryKey, d.authentication.symmetricKey.secondaryKey]) {
      assert.equal(Buffer.from(k ?? '', 'base64').length, 32);
    }
    assert.equal(r.headers.etag, `"${d.etag}"`);
  });

  it('a second create (no If-Match) is 409 DeviceAlreadyExists, which the Node SDK maps to DeviceAlreadyExistsError', async () => {
    await put('reg-2', { deviceId: 'reg-2' });
    const r = await put('reg-2', { deviceId: 'reg-2' });
    assert.equal(r.status, 409);
    assert.equal(r.headers['iothub-errorcode'], 'DeviceAlreadyExists');
    assert.equal(RestApiClient.translateError(r.text, { statusCode: 409 }).constructor.name, 'DeviceAlreadyExistsError');
  });

  it('GET shows cloudToDeviceMessageCount; update needs the current etag (or *)', async () => {
    const created = (await put('reg-3', { deviceId: 'reg-3' })).json() as Device;
    await rig.hub.send('reg-3', { body: Buffer.from('1') });
    await rig.hub.send('reg-3', { body: Buffer.from('2') });
    const got = await rig.request('GET', hubPaths.device('reg-3'), { headers: { authorization: rig.serviceToken('reader') } });
    assert.equal(got.status, 200);
    assert.equal((got.json() as Device).cloudToDeviceMessageCount, 2);

    const updated = await put('reg-3', { deviceId: 'reg-3', status: 'disabled', statusReason: 'maintenance' }, { 'if-match': `"${created.etag}"` });
    assert.equal(updated.status, 200);
    const u = updated.json() as Device;
    assert.equal(u.status, 'disabled');
    assert.notEqual(u.etag, created.etag);
    assert.equal(u.authentication.symmetricKey.primaryKey, created.authentication.symmetricKey.primaryKey, 'keys kept');

    const stale = await put('reg-3', { deviceId: 'reg-3', status: 'enabled' }, { 'if-match': `"${created.etag}"` });
    assert.equal(stale.status, 412);
    assert.equal(stale.headers['iothub-errorcode'], 'PreconditionFailed');
    assert.equal(RestApiClient.translateError(stale.text, { statusCode: 412 }).constructor.name, 'InvalidEtagError');

    const any = await put('reg-3', { deviceId: 'reg-3', status: 'enabled' }, { 'if-match': '"*"' });
    assert.equal(any.status, 200);
    assert.equal((any.json() as Device).status, 'enabled');
  });

  it('lists devices, honouring top', async () => {
    await put('reg-4', { deviceId: 'reg-4' });
    const all = await rig.request('GET', hubPaths.devices(), { headers: owner });
    assert.equal(all.status, 200);
    const ids = (all.json() as Device[]).map((d) => d.deviceId);
    assert.ok(ids.includes('reg-4'));
    const one = await rig.request('GET', hubPaths.devices(1), { headers: owner });
    assert.equal((one.json() as Device[]).length, 1);
    const bad = await rig.request('GET', `/devices?top=-3`, { headers: owner });
    assert.equal(bad.status, 400);
  });

  it('deletes with If-Match "*", then GET is 404 404001, which the Node SDK maps to DeviceNotFoundError', async () => {
    await put('reg-5', { deviceId: 'reg-5' });
    const del = await rig.request('DELETE', hubPaths.device('reg-5'), { headers: { ...owner, 'if-match': '"*"' } });
    assert.equal(del.status, 204);
    const r = await rig.request('GET', hubPaths.device('reg-5'), { headers: owner });
    assert.equal(r.status, 404);
    assert.equal(r.headers['iothub-errorcode'], 'DeviceNotFound');
    assert.match((r.json() as { ExceptionMessage: string }).ExceptionMessage, /^404001 /);
    assert.equal(RestApiClient.translateError(r.text, { statusCode: 404 }).constructor.name, 'DeviceNotFoundError');
  });

  it('refuses a body that is not device JSON, or names another device, with 400 400004', async () => {
    for (const body of ['{not json', '[1,2]', JSON.stringify({ deviceId: 'someone-else' }), JSON.stringify({ status: 'sleepy' })]) {
      const r = await rig.request('PUT', hubPaths.device('reg-6'), { headers: owner, body });
      assert.equal(r.status, 400, body);
      assert.equal(r.headers['iothub-errorcode'], 'ArgumentInvalid');
    }
  });

  it('purge answers 200 {deviceId, totalMessagesPurged} and empties the queue', async () => {
    await put('reg-7', { deviceId: 'reg-7' });
    for (let i = 0; i < 3; i++) await rig.hub.send('reg-7', { body: Buffer.from(String(i)) });
    const r = await rig.request('DELETE', hubPaths.deviceCommands('reg-7'), { headers: { authorization: rig.serviceToken('service') } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json(), { deviceId: 'reg-7', totalMessagesPurged: 3 });
    assert.equal(rig.hub.registry.getDevice('reg-7')?.cloudToDeviceMessageCount, 0);
    const unknown = await rig.request('DELETE', hubPaths.deviceCommands('nobody'), { headers: { authorization: rig.serviceToken('service') } });
    assert.equal(unknown.status, 404);
  });

  it('feedback: GET returns the batch with its lock in ETag, abandon gives it back, complete removes it', async () => {
    const svc = { authorization: rig.serviceToken('service') };
    assert.equal((await rig.request('GET', hubPaths.feedback(), { headers: svc })).status, 204);
    await put('reg-8', { deviceId: 'reg-8' });
    await rig.hub.send('reg-8', { body: Buffer.from('ack me'), messageId: 'fb-1', ack: 'full' });
    const m = await rig.hub.receive('reg-8');
    await rig.hub.complete('reg-8', m?.lockToken ?? '');
    await rig.hub.flushFeedback();

    const first = await rig.request('GET', hubPaths.feedback(), { headers: svc });
    assert.equal(first.status, 200);
    assert.match(String(first.headers['content-type']), /json/);
    const records = first.json() as Array<{ originalMessageId: string; statusCode: string; deviceId: string }>;
    assert.deepEqual(
      records.map((r) => [r.originalMessageId, r.statusCode, r.deviceId]),
      [['fb-1', 'Success', 'reg-8']],
    );
    const lock = String(first.headers.etag).slice(1, -1);

    assert.equal((await rig.request('POST', hubPaths.feedbackAbandon(lock), { headers: svc })).status, 204);
    const again = await rig.request('GET', hubPaths.feedback(), { headers: svc });
    assert.equal(again.status, 200);
    assert.deepEqual(again.json(), records);
    const lock2 = String(again.headers.etag).slice(1, -1);

    assert.equal((await rig.request('DELETE', hubPaths.feedbackLock(lock2), { headers: svc })).status, 204);
    assert.equal((await rig.request('GET', hubPaths.feedback(), { headers: svc })).status, 204);
    const late = await rig.request('DELETE', hubPaths.feedbackLock(lock2), { headers: svc });
    assert.equal(late.status, 412, 'a settled lock is gone');
  });
});

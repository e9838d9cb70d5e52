import assert from 'node:assert/strict';
import { createSas } from '../../lib/common/sas';
import { codeOf, openTestHub, type TestHub } from './helpers';

const SHA1 = 'AB'.repeat(20);
const SHA256 = 'cd'.repeat(32);

describe('registry (c2d-semantics.md §7.3)', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.hub.close();
  });

  it('creates the default policies with generated keys', async () => {
    t = await openTestHub();
    const byName = new Map(t.hub.registry.listPolicies().map((p) => [p.keyName, p.rights]));
    assert.deepEqual(Object.fromEntries(byName), {
      iothubowner: ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'],
      service: ['ServiceConnect'],
      device: ['DeviceConnect'],
      registryRead: ['RegistryRead'],
      registryReadWrite: ['RegistryRead', 'RegistryWrite'],
    });
    for (const p of t.hub.registry.listPolicies()) assert.equal(Buffer.from(p.primaryKey, 'base64').length, 32);
  });

  it('device JSON has the IoT Hub shape; the etag changes on every update; generationId is fixed', async () => {
    t = await openTestHub();
    const d = t.hub.registry.getDevice('dev1')!;
    assert.deepEqual(Object.keys(d).sort(), [
      'authentication',
      'capabilities',
      'cloudToDeviceMessageCount',
      'connectionState',
      'connectionStateUpdatedTime',
      'deviceId',
      'deviceScope',
      'etag',
      'generationId',
      'lastActivityTime',
      'status',
      'statusReason',
      'statusUpdatedTime',
    ]);
    assert.equal(d.status, 'enabled');
    assert.equal(d.authentication.type, 'sas');
    assert.ok(d.authentication.symmetricKey.primaryKey && d.authentication.symmetricKey.secondaryKey);
    const u = await t.hub.registry.updateDevice({ deviceId: 'dev1', statusReason: 'x' }, d.etag);
    assert.notEqual(u.etag, d.etag);
    assert.equal(u.generationId, d.generationId);
    assert.equal(u.authentication.symmetricKey.primaryKey, d.authentication.symmetricKey.primaryKey, 'keys kept');
    assert.equal(await codeOf(t.hub.registry.updateDevice({ deviceId: 'dev1' }, d.etag)), 412001);
    assert.equal(await codeOf(t.hub.registry.deleteDevice('dev1', d.etag)), 412001);
    assert.equal(await codeOf(t.hub.registry.createDevice({ deviceId: 'dev1' })), 409001);
    assert.equal(await codeOf(t.hub.registry.createDevice({ deviceId: 'a/b' })), 400004);
    assert.equal(await codeOf(t.hub.registry.deleteDevice('ghost')), 404001);
    await t.hub.registry.deleteDevice('dev1', `"${u.etag}"`);
  });

  it('noteConnection updates connectionState and emits events', async () => {
    t = await openTestHub();
    const seen: string[] = [];
    t.hub.events.on('deviceConnected', (e) => seen.push(`+${e.protocol}`));
    t.hub.events.on('deviceDisconnected', (e) => seen.push(`-${e.protocol}`));
    t.hub.noteConnection('dev1', 'mqtt', true);
    assert.equal(t.hub.registry.getDevice('dev1')!.connectionState, 'Connected');
    t.hub.noteConnection('dev1', 'mqtt', false, 'bye');
    assert.equal(t.hub.registry.getDevice('dev1')!.connectionState, 'Disconnected');
    await t.hub.idle();
    assert.deepEqual(seen, ['+mqtt', '-mqtt']);
  });
});

describe('authentication (c2d-semantics.md §6)', () => {
  let t: TestHub;
  afterEach(async () => {
    await t?.hub.close();
  });

  const se = (t: TestHub, s: number): number => Math.floor(t.clock.now() / 1000) + s;

  it('accepts a device token signed by its primary or secondary key, on any host, strict on the device path', async () => {
    t = await openTestHub();
    const { primaryKey, secondaryKey } = t.hub.registry.getDevice('dev1')!.authentication.symmetricKey;
    for (const host of ['localhost', 'LOCALHOST:8883', 'myhub.azure-devices.net']) {
      const p = t.hub.auth.authenticateSas(createSas(`${host}/devices/dev1`, primaryKey!, se(t, 3600)));
      assert.deepEqual(p, { kind: 'device', deviceId: 'dev1', via: 'sas', expiresAtMs: se(t, 3600) * 1000 });
    }
    t.hub.auth.authenticateSas(createSas('localhost/devices/dev1', secondaryKey!, se(t, 60)));
    await t.hub.registry.createDevice({ deviceId: 'dev2' });
    const other = t.hub.registry.getDevice('dev2')!.authentication.symmetricKey.primaryKey!;
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(createSas('localhost/devices/dev1', other, se(t, 60)))), 401003);
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(createSas('localhost/devices', primaryKey!, se(t, 60)))), 401003);
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(createSas('localhost/devices/dev1/x', primaryKey!, se(t, 60)))), 401003);
  });

  it('refuses an expired token (se + 5 min skew < now), a disabled device and an uncovered audience with 401003', async () => {
    t = await openTestHub();
    const key = t.hub.registry.getDevice('dev1')!.authentication.symmetricKey.primaryKey!;
    t.hub.auth.authenticateSas(createSas('localhost/devices/dev1', key, se(t, -299)));
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(createSas('localhost/devices/dev1', key, se(t, -301)))), 401003);
    const tok = createSas('localhost/devices/dev1', key, se(t, 60));
    t.hub.auth.authenticateSas(tok, 'localhost/devices/dev1/messages/devicebound');
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(tok, 'localhost/devices/dev2')), 401003);
    await t.hub.registry.updateDevice({ deviceId: 'dev1', status: 'disabled' });
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(tok)), 401003);
  });

  it('policy tokens grant the policy rights; DeviceConnect may act for any device', async () => {
    t = await openTestHub();
    const svc = t.hub.registry.getPolicy('service')!;
    const p = t.hub.auth.authenticateSas(createSas('localhost', svc.primaryKey, se(t, 60), 'service'));
    assert.equal(p.kind, 'service');
    t.hub.auth.assertRight(p, 'ServiceConnect');
    assert.equal(await codeOf(() => t.hub.auth.assertRight(p, 'RegistryRead')), 401003);
    assert.equal(await codeOf(() => t.hub.auth.assertDevice(p, 'dev1')), 401003);
    const dev = t.hub.registry.getPolicy('device')!;
    const dp = t.hub.auth.authenticateSas(createSas('localhost/devices/dev1', dev.secondaryKey, se(t, 60), 'device'));
    t.hub.auth.assertDevice(dp, 'dev1');
    const rw = t.hub.registry.getPolicy('registryReadWrite')!;
    t.hub.auth.assertRight(t.hub.auth.authenticateSas(createSas('localhost', rw.primaryKey, se(t, 60), 'registryReadWrite')), 'RegistryRead');
    assert.equal(await codeOf(() => t.hub.auth.authenticateSas(createSas('localhost', rw.primaryKey, se(t, 60), 'service'))), 401003);
    const devP = t.hub.auth.authenticateSas(
      createSas('localhost/devices/dev1', t.hub.registry.getDevice('dev1')!.authentication.symmetricKey.primaryKey!, se(t, 60)),
    );
    t.hub.auth.assertDevice(devP, 'dev1');
    assert.equal(await codeOf(() => t.hub.auth.assertDevice(devP, 'dev2')), 401003);
    assert.equal(await codeOf(() => t.hub.auth.assertRight(devP, 'ServiceConnect')), 401003);
  });

  it('X.509: a sha1 or sha256 thumbprint (any case) of a selfSigned device, else 401003', async () => {
    t = await openTestHub();
    await t.hub.registry.createDevice({
      deviceId: 'cert1',
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: SHA1.toLowerCase(), secondaryThumbprint: SHA256 } },
    });
    const p = t.hub.auth.authenticateX509('cert1', { sha1Thumbprint: SHA1, sha256Thumbprint: '00'.repeat(32) });
    assert.deepEqual(p, { kind: 'device', deviceId: 'cert1', via: 'x509' });
    t.hub.auth.authenticateX509('cert1', { sha1Thumbprint: '11'.repeat(20), sha256Thumbprint: SHA256.toUpperCase() });
    assert.equal(await codeOf(() => t.hub.auth.authenticateX509('cert1', { sha1Thumbprint: '11'.repeat(20), sha256Thumbprint: '22'.repeat(32) })), 401003);
    assert.equal(await codeOf(() => t.hub.auth.authenticateX509('dev1', { sha1Thumbprint: SHA1, sha256Thumbprint: SHA256 })), 401003);
  });
});

/**
 * The official Node service SDK's bulk registry calls (azure-iothub
 * Registry.addDevices / updateDevices / removeDevices, which POST /devices)
 * against the embedded hub on IoT Hub's standard ports; see sdk-hub.ts for
 * why this needs 443/5671/8883 and NODE_EXTRA_CA_CERTS.
 */
import assert from 'node:assert/strict';
import { Registry } from 'azure-iothub';
import { startCompatHub, whyCompatCannotRun, type CompatHub } from './sdk-hub';

describe("the official Node SDK's bulk registry operations against the embedded hub (test/compat)", function () {
  this.timeout(60_000);
  let h: CompatHub;
  let registry: Registry;

  before(async function () {
    const why = await whyCompatCannotRun();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
    h = await startCompatHub();
    registry = Registry.fromConnectionString(h.hub.serviceConnectionString());
  });
  after(async () => {
    await h?.close();
  });
  const ids = (): string[] =>
    h.hub.hub.registry
      .listDevices()
      .map((d) => d.deviceId)
      .sort();

  it('addDevices, updateDevices (forced and by etag) and removeDevices: isSuccessful with no errors', async () => {
    const added = await registry.addDevices([{ deviceId: 'bulk-1' }, { deviceId: 'bulk-2', status: 'disabled' }]);
    assert.deepEqual(added.responseBody, { isSuccessful: true, errors: [], warnings: [] });
    assert.deepEqual(ids(), ['bulk-1', 'bulk-2']);
    assert.equal((await registry.get('bulk-2')).responseBody.status, 'disabled');

    const forced = await registry.updateDevices([{ deviceId: 'bulk-2', status: 'enabled' }], true);
    assert.equal(forced.responseBody.isSuccessful, true);
    const current = (await registry.get('bulk-1')).responseBody;
    const byEtag = await registry.updateDevices([{ deviceId: 'bulk-1', status: 'disabled', etag: current.etag }], false);
    assert.equal(byEtag.responseBody.isSuccessful, true);
    assert.deepEqual(
      h.hub.hub.registry.listDevices().map((d) => [d.deviceId, d.status]),
      [
        ['bulk-1', 'disabled'],
        ['bulk-2', 'enabled'],
      ],
    );

    const removed = await registry.removeDevices([{ deviceId: 'bulk-1' }, { deviceId: 'bulk-2' }], true);
    assert.equal(removed.responseBody.isSuccessful, true);
    assert.deepEqual(ids(), []);
  });

  it('a partial failure reaches the SDK as IoT Hub answers it: 400 with the result naming each failed device, the others applied', async () => {
    await registry.addDevices([{ deviceId: 'taken' }]);
    const err = await registry.addDevices([{ deviceId: 'fresh' }, { deviceId: 'taken' }]).then(
      () => assert.fail('a failed entry makes the request fail'),
      (e: Error & { responseBody?: string; response?: { statusCode?: number } }) => e,
    );
    assert.equal(err.response?.statusCode, 400);
    const body = JSON.parse(err.responseBody as string) as { isSuccessful: boolean; errors: { deviceId: string; errorCode: string; errorStatus: string }[] };
    assert.equal(body.isSuccessful, false);
    assert.deepEqual(
      body.errors.map((e) => [e.deviceId, e.errorCode]),
      [['taken', 'DeviceAlreadyExists']],
    );
    assert.deepEqual(ids(), ['fresh', 'taken']);
    const stale = await registry.removeDevices([{ deviceId: 'fresh', etag: '"stale"' }, { deviceId: 'taken' }], false).then(
      () => assert.fail('an etag mismatch fails'),
      (e: Error & { responseBody?: string }) => JSON.parse(e.responseBody as string) as { errors: { deviceId: string; errorCode: string }[] },
    );
    assert.deepEqual(
      stale.errors.map((e) => [e.deviceId, e.errorCode]),
      [
        ['fresh', 'PreconditionFailed'],
        ['taken', 'PreconditionFailed'],
      ],
    );
    assert.deepEqual(ids(), ['fresh', 'taken']);
  });
});

/**
 * `POST /devices`: IoT Hub's bulk registry operation (up to 100 entries of
 * create, update, updateIfMatchETag, delete, deleteIfMatchETag) answered
 * with a BulkRegistryOperationResult. Entries are applied one by one; the
 * ones that fail are reported and the others stand (200 when all
 * succeeded, 400 with the same shape when not). The official Node SDK's
 * Registry calls are in test/compat/sdk-registry-bulk.test.ts.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSas } from '../../lib/common/sas';
import { EmbeddedHub } from '../../lib/hub/embedded';

interface Result {
  isSuccessful: boolean;
  errors: { deviceId: string; errorCode: string; errorStatus: string }[];
  warnings: unknown[];
}

describe('registry bulk operations (POST /devices)', function () {
  this.timeout(20_000);
  let hub: EmbeddedHub;
  let dataDir: string;
  beforeEach(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-bulk-'));
    hub = await EmbeddedHub.start({ dataDir, ports: { amqps: false, mqtts: false, https: 0 } });
  });
  afterEach(async () => {
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const post = (body: unknown, policy = 'iothubowner'): Promise<{ status: number; json: Record<string, unknown> }> =>
    new Promise((resolve, reject) => {
      const token = createSas('localhost', hub.hub.registry.getPolicy(policy)?.primaryKey as string, Math.floor(Date.now() / 1000) + 3600, policy);
      const payload = Buffer.from(JSON.stringify(body));
      const req = https.request(
        {
          method: 'POST',
          host: 'localhost',
          port: hub.ports.https,
          path: '/devices?api-version=2021-04-12',
          ca: hub.tls.cert,
          agent: false,
          headers: { authorization: token, 'content-type': 'application/json; charset=utf-8', 'content-length': payload.length },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(text || '{}') as Record<string, unknown> }));
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const ids = (): string[] =>
    hub.hub.registry
      .listDevices()
      .map((d) => d.deviceId)
      .sort();

  it('creates, updates and deletes in one request: 200 and isSuccessful', async () => {
    const created = await post([
      { id: 'a', importMode: 'create' },
      { id: 'b', importMode: 'create', status: 'disabled' },
    ]);
    assert.deepEqual([created.status, created.json], [200, { isSuccessful: true, errors: [], warnings: [] }]);
    assert.deepEqual(ids(), ['a', 'b']);
    assert.equal(hub.hub.registry.getDevice('b')?.status, 'disabled');
    assert.ok(hub.hub.registry.getDevice('a')?.authentication.symmetricKey.primaryKey, 'keys generated as on a single create');
    const etag = hub.hub.registry.getDevice('b')?.etag as string;
    const mixed = await post([
      { id: 'b', importMode: 'UpdateIfMatchETag', eTag: etag, status: 'enabled' },
      { id: 'c', importMode: 'Update' }, // Update creates an absent device
      { id: 'a', importMode: 'Delete' },
    ]);
    assert.deepEqual([mixed.status, mixed.json.isSuccessful], [200, true]);
    assert.deepEqual(ids(), ['b', 'c']);
    assert.equal(hub.hub.registry.getDevice('b')?.status, 'enabled');
  });

  it('a partial failure: 400 with each failed device by IoT Hub error name, and the rest applied', async () => {
    await hub.hub.registry.createDevice({ deviceId: 'exists' });
    const r = await post([
      { id: 'new1', importMode: 'create' },
      { id: 'exists', importMode: 'create' },
      { id: 'ghost', importMode: 'delete' },
      { id: 'new2', importMode: 'updateIfMatchETag', eTag: '"nope"' },
      { id: 'new3', importMode: 'create' },
    ]);
    assert.equal(r.status, 400);
    const result = r.json as unknown as Result;
    assert.equal(result.isSuccessful, false);
    assert.deepEqual(result.warnings, []);
    assert.deepEqual(
      result.errors.map((e) => [e.deviceId, e.errorCode]),
      [
        ['exists', 'DeviceAlreadyExists'],
        ['ghost', 'DeviceNotFound'],
        ['new2', 'DeviceNotFound'],
      ],
    );
    assert.ok(result.errors.every((e) => typeof e.errorStatus === 'string' && e.errorStatus.length > 0));
    assert.deepEqual(ids(), ['exists', 'new1', 'new3']);
  });

  it('an etag mismatch on updateIfMatchETag and deleteIfMatchETag is PreconditionFailed; the device is untouched', async () => {
    await hub.hub.registry.createDevice({ deviceId: 'd' });
    const r = await post([{ id: 'd', importMode: 'updateIfMatchETag', eTag: '"stale"', status: 'disabled' }]);
    assert.deepEqual(
      (r.json as unknown as Result).errors.map((e) => e.errorCode),
      ['PreconditionFailed'],
    );
    const d = await post([{ id: 'd', importMode: 'deleteIfMatchETag', eTag: 'stale' }]);
    assert.deepEqual(
      (d.json as unknown as Result).errors.map((e) => e.errorCode),
      ['PreconditionFailed'],
    );
    assert.equal(hub.hub.registry.getDevice('d')?.status, 'enabled');
    const etag = hub.hub.registry.getDevice('d')?.etag as string;
    assert.equal((await post([{ id: 'd', importMode: 'deleteIfMatchETag', eTag: etag }])).status, 200);
    assert.deepEqual(ids(), []);
  });

  it('refuses a malformed request as a whole, applying nothing: a repeated id, an unknown importMode, no id, not an array, more than 100', async () => {
    for (const [body, status, code] of [
      [
        [
          { id: 'x', importMode: 'create' },
          { id: 'x', importMode: 'delete' },
        ],
        400,
        'ArgumentInvalid',
      ],
      [
        [
          { id: 'x', importMode: 'create' },
          { id: 'y', importMode: 'updateTwin' },
        ],
        400,
        'ArgumentInvalid',
      ],
      [[{ importMode: 'create' }], 400, 'ArgumentInvalid'],
      [{ id: 'x', importMode: 'create' }, 400, 'ArgumentInvalid'],
      [Array.from({ length: 101 }, (_, i) => ({ id: `d${i}`, importMode: 'create' })), 413, 'TooManyDevices'],
    ] as const) {
      const r = await post(body);
      assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
      assert.match(String(r.json.Message), new RegExp(`^ErrorCode:${code};`));
    }
    assert.deepEqual(ids(), []);
  });

  it('needs RegistryWrite (401003 with registryRead)', async () => {
    const r = await post([{ id: 'x', importMode: 'create' }], 'registryRead');
    assert.equal(r.status, 401);
    assert.deepEqual(ids(), []);
  });
});

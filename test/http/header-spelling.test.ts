/**
 * Response headers go out spelled as IoT Hub spells them. HTTP names are
 * case-insensitive, but the Azure IoT C SDK looks its headers up by exact
 * name (`ETag`, ...), so a hub that writes `etag` never delivers to it.
 * Read from res.rawHeaders, the names as they came over the socket.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as https from 'node:https';
import * as os from 'node:os';
import * as path from 'node:path';
import { createSas } from '../../lib/common/sas';
import { EmbeddedHub } from '../../lib/hub/embedded';

interface Raw {
  status: number;
  names: string[];
}

describe('HTTPS response header names as IoT Hub spells them', function () {
  this.timeout(20_000);
  let hub: EmbeddedHub;
  let dataDir: string;
  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-hdr-'));
    hub = await EmbeddedHub.start({ dataDir, ports: { amqps: false, mqtts: false, https: 0 } });
    await hub.hub.registry.createDevice({ deviceId: 'dev1' });
  });
  after(async () => {
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  const request = (method: string, p: string, authorization: string): Promise<Raw> =>
    new Promise((resolve, reject) => {
      https
        .request({ method, host: 'localhost', port: hub.ports.https, path: p, ca: hub.tls.cert, headers: { authorization }, agent: false }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, names: res.rawHeaders.filter((_, i) => i % 2 === 0) }));
        })
        .on('error', reject)
        .end();
    });
  const deviceToken = (): string =>
    createSas(
      'localhost/devices/dev1',
      hub.hub.registry.getDevice('dev1')?.authentication.symmetricKey.primaryKey as string,
      Math.floor(Date.now() / 1000) + 3600,
    );
  const serviceToken = (): string =>
    createSas('localhost', hub.hub.registry.getPolicy('iothubowner')?.primaryKey as string, Math.floor(Date.now() / 1000) + 3600, 'iothubowner');

  it('a device receive: ETag, Content-Type, Content-Length and the iothub-* headers', async () => {
    await hub.hub.send('dev1', {
      body: Buffer.from('x'),
      messageId: 'm1',
      correlationId: 'c1',
      userId: 'u1',
      ack: 'full',
      contentType: 'text/plain',
      properties: { color: 'blue' },
    });
    const r = await request('GET', '/devices/dev1/messages/devicebound?api-version=2020-09-30', deviceToken());
    assert.equal(r.status, 200);
    for (const name of [
      'ETag',
      'Content-Type',
      'Content-Length',
      'iothub-messageid',
      'iothub-to',
      'iothub-expiry',
      'iothub-enqueuedtime',
      'iothub-deliverycount',
      'iothub-sequencenumber',
      'iothub-correlationid',
      'iothub-userid',
      'iothub-ack',
      'iothub-app-color',
    ]) {
      assert.ok(r.names.includes(name), `${name} in ${r.names.join(', ')}`);
    }
  });

  it('the registry (ETag, Content-Type), an error (iothub-errorcode) and a wrong method (Allow)', async () => {
    const device = await request('GET', '/devices/dev1?api-version=2021-04-12', serviceToken());
    assert.equal(device.status, 200);
    for (const name of ['ETag', 'Content-Type', 'Content-Length']) assert.ok(device.names.includes(name), `${name} in ${device.names.join(', ')}`);
    const missing = await request('GET', '/devices/nobody?api-version=2021-04-12', serviceToken());
    assert.equal(missing.status, 404);
    for (const name of ['iothub-errorcode', 'Content-Type']) assert.ok(missing.names.includes(name), `${name} in ${missing.names.join(', ')}`);
    const wrong = await request('PATCH', '/devices/dev1/messages/devicebound?api-version=2020-09-30', deviceToken());
    assert.equal(wrong.status, 405);
    assert.ok(wrong.names.includes('Allow'), wrong.names.join(', '));
  });

  it('takes a C SDK device token, which ends in an empty skn=, and still refuses a malformed one', async () => {
    const cSdk = `${deviceToken()}&skn=`;
    assert.equal((await request('GET', '/devices/dev1/messages/devicebound?api-version=2020-09-30', cSdk)).status, 204);
    assert.equal((await request('GET', '/devices/dev1/messages/devicebound?api-version=2020-09-30', `${deviceToken()}&skn`)).status, 401);
    assert.equal((await request('GET', '/devices/dev1/messages/devicebound?api-version=2020-09-30', `${deviceToken()}&skn=%ZZ`)).status, 401);
  });
});

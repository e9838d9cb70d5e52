/**
 * Command-line clients against the embedded hub, each a stack of its own:
 * curl on the device HTTPS API with a token as the Azure IoT C SDK makes it
 * (ending in `&skn=`), reading the header names as they come over the wire,
 * and mosquitto_sub receiving C2D over MQTTS. Each skips, saying why, when
 * the tool is not installed (.ci/run installs mosquitto-clients; curl is on
 * every Debian image).
 */
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { buildMqttUsername, parseDeviceBoundTopic } from '../../lib/common/codec/mqtt';
import { createSas } from '../../lib/common/sas';
import { EmbeddedHub } from '../../lib/hub/embedded';

function whyNoTool(tool: string, debianPackage: string): string | undefined {
  const r = spawnSync(tool, ['--help'], { encoding: 'utf8' });
  return r.error ? `${tool} is not installed (Debian package ${debianPackage})` : undefined;
}

function run(tool: string, args: string[], timeoutMs = 20_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) =>
      err ? reject(new Error(`${tool}: ${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}

describe('command-line clients against the embedded hub', function () {
  this.timeout(40_000);
  let hub: EmbeddedHub;
  let dataDir: string;
  const token = (deviceId: string): string =>
    createSas(
      `localhost/devices/${deviceId}`,
      hub.hub.registry.getDevice(deviceId)?.authentication.symmetricKey.primaryKey as string,
      Math.floor(Date.now() / 1000) + 3600,
    );

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-tools-'));
    hub = await EmbeddedHub.start({ dataDir, ports: { amqps: false, mqtts: 0, https: 0 } });
    for (const id of ['curl-dev', 'mosq-dev']) await hub.hub.registry.createDevice({ deviceId: id });
  });
  after(async () => {
    await hub?.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  describe('curl, HTTPS as the C SDK speaks it', () => {
    before(function () {
      const why = whyNoTool('curl', 'curl');
      if (why) {
        console.log(`    skipped: ${why}`);
        this.skip();
      }
    });

    it('receives with a `&skn=` token, finds ETag and the iothub-* headers by exact name, and completes with the quoted ETag', async () => {
      await hub.hub.send('curl-dev', { body: Buffer.from('to curl'), messageId: 'm-curl', properties: { room: 'hall' } });
      const auth = `Authorization: ${token('curl-dev')}&skn=`;
      const base = `https://localhost:${hub.ports.https}/devices/curl-dev/messages/devicebound`;
      const out = await run('curl', ['-sS', '-i', '--cacert', hub.tls.caPath as string, '-H', auth, `${base}?api-version=2020-09-30`]);
      const [head, body] = out.split('\r\n\r\n');
      const lines = (head ?? '').split('\r\n');
      assert.match(lines[0] ?? '', /^HTTP\/1\.1 200/);
      const headers = new Map(lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()] as const));
      for (const name of ['ETag', 'Content-Type', 'iothub-messageid', 'iothub-to', 'iothub-enqueuedtime', 'iothub-deliverycount', 'iothub-app-room'])
        assert.ok(headers.has(name), `${name} in ${[...headers.keys()].join(', ')}`);
      assert.equal(headers.get('iothub-messageid'), 'm-curl');
      assert.equal(headers.has('iothub-ack'), false, 'the sender set no ack');
      assert.equal(body, 'to curl');
      const etag = headers.get('ETag') as string;
      const lock = etag.slice(1, -1);
      const done = await run('curl', [
        '-sS',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-X',
        'DELETE',
        '--cacert',
        hub.tls.caPath as string,
        '-H',
        auth,
        '-H',
        `If-Match: ${etag}`,
        `${base}/${lock}?api-version=2020-09-30`,
      ]);
      assert.equal(done, '204');
      assert.deepEqual([hub.hub.stats().queued, hub.hub.stats().locked], [0, 0]);
    });
  });

  describe('mosquitto_sub, MQTT over TLS', () => {
    before(function () {
      const why = whyNoTool('mosquitto_sub', 'mosquitto-clients');
      if (why) {
        console.log(`    skipped: ${why}`);
        this.skip();
      }
    });

    it('receives C2D at QoS 1 (its PUBACK completes it); the topic carries no iothub-ack the sender did not set', async () => {
      await hub.hub.send('mosq-dev', { body: Buffer.from('to mosquitto'), messageId: 'm-mosq' });
      const completed = once(hub.hub.events, 'completed');
      const out = await run('mosquitto_sub', [
        '-h',
        'localhost',
        '-p',
        String(hub.ports.mqtts),
        '--cafile',
        hub.tls.caPath as string,
        '-V',
        'mqttv311',
        '-i',
        'mosq-dev',
        '-c',
        '-u',
        buildMqttUsername({ host: 'localhost', deviceId: 'mosq-dev' }),
        '-P',
        token('mosq-dev'),
        '-t',
        'devices/mosq-dev/messages/devicebound/#',
        '-q',
        '1',
        '-v',
        '-C',
        '1',
        '-W',
        '15',
      ]);
      const [topic, ...payload] = out.trim().split(' ');
      const parsed = parseDeviceBoundTopic(topic as string);
      assert.equal(parsed?.deviceId, 'mosq-dev');
      assert.equal(parsed?.message.messageId, 'm-mosq');
      assert.equal(
        parsed?.entries.some(([k]) => k === 'iothub-ack'),
        false,
        topic,
      );
      assert.equal(payload.join(' '), 'to mosquitto');
      const [c] = (await completed) as [{ deviceId: string; messageId: string }];
      assert.deepEqual(c, { deviceId: 'mosq-dev', messageId: 'm-mosq' }, 'completed by the PUBACK');
    });
  });
});

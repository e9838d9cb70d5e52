import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client as SdkDeviceClient, Message as SdkMessage } from 'azure-iot-device';
import { Amqp as SdkAmqp } from 'azure-iot-device-amqp';
import { NoRetry } from 'azure-iot-common';
import { Client as SdkServiceClient } from 'azure-iothub';
import { generate } from 'selfsigned';
import { parseDeviceConnectionString, parseServiceConnectionString } from '../../lib/common/connection-string';
import { bannerHost } from '../../lib/hub/cli';

const BIN = path.resolve(__dirname, '../../../bin/c2d-hub.js');

/** Commands started by a test; afterEach kills what a failed assertion left running. */
const started = new Set<ChildProcess>();

/** Runs the command; afterEach kills it if a test ends while it still runs. */
function spawnCli(args: string[]): ChildProcess {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** Starts the command and resolves with what it printed once its banner is complete. */
async function startCli(args: string[]): Promise<{ child: ChildProcess; out: string }> {
  const child = spawnCli(args);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('Ctrl+C')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
  return { child, out };
}

describe('the c2d-hub command', function () {
  this.timeout(30_000);
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-cli-'));
  });
  afterEach(() => {
    for (const child of started) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts the hub alone, prints the service and demo device connection strings and the CA file, and stops on SIGTERM', async () => {
    const { child, out } = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', '0', '--https', 'off', '--device', 'dev-cli']);
    const lines = out.split('\n').map((l) => l.trim());
    const service = lines[lines.indexOf('Service connection string (iothubowner):') + 1] as string;
    const device = lines[lines.indexOf('Device connection string (dev-cli):') + 1] as string;
    assert.equal(parseServiceConnectionString(service).SharedAccessKeyName, 'iothubowner');
    assert.match(parseServiceConnectionString(service).HostName, /^127\.0\.0\.1:\d+$/, 'a dotted HostName the certificate covers, with the ephemeral AMQP port');
    assert.equal(parseDeviceConnectionString(device).DeviceId, 'dev-cli');
    assert.ok(out.includes(`NODE_EXTRA_CA_CERTS=${path.join(dataDir, 'tls', 'cert.pem')}`));
    assert.ok(!/https\s+port/.test(out), 'https is off');
    assert.match(out, /store synchronous FULL\)/, 'the default, as SQLite reports it');
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.ok(fs.existsSync(path.join(dataDir, 'hub.db')), 'the store is in the data folder');
  });

  it('--synchronous normal reaches the store (the banner reports what SQLite runs with); a bad value exits 1', async () => {
    const { child, out } = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--synchronous', 'normal']);
    assert.match(out, /store synchronous NORMAL\)/);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);

    const bad = spawnCli(['--data', dataDir, '--synchronous', 'off']);
    let err = '';
    bad.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    assert.equal(await new Promise<number | null>((resolve) => bad.on('exit', resolve)), 1);
    assert.match(err, /Invalid store synchronous setting 'OFF': FULL or NORMAL/);
  });

  it('prints HostName=127.0.0.1 (the C SDK needs a dot), which the official Node SDK takes too: a device and a backend reach each other with the printed strings', async function () {
    const tlsDir = process.env.C2D_TEST_TLS_DIR;
    if (!tlsDir || !process.env.NODE_EXTRA_CA_CERTS) {
      console.log('      skipped: NODE_EXTRA_CA_CERTS is not set (run through scripts/test.js), and the official service SDK trusts a certificate only through it');
      return this.skip();
    }
    const { child, out } = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--device', 'dev-c', '--cert', path.join(tlsDir, 'tls', 'cert.pem'), '--key', path.join(tlsDir, 'tls', 'key.pem')]);
    const lines = out.split('\n').map((l) => l.trim());
    const service = lines[lines.indexOf('Service connection string (iothubowner):') + 1] as string;
    const device = lines[lines.indexOf('Device connection string (dev-c):') + 1] as string;
    const hostName = parseDeviceConnectionString(device).HostName;
    assert.match(hostName, /^127\.0\.0\.1:\d+$/);
    assert.ok(hostName.split(':')[0]!.includes('.'), 'the part before the first dot is the C SDK\'s hub name');
    assert.match(out, /works for every SDK stack/);
    const sdkDevice = SdkDeviceClient.fromConnectionString(device, SdkAmqp);
    sdkDevice.setRetryPolicy(new NoRetry());
    sdkDevice.on('error', () => undefined);
    const sdkService = SdkServiceClient.fromConnectionString(service);
    sdkService.setRetryPolicy(new NoRetry());
    try {
      const got = new Promise<string>((resolve) =>
        sdkDevice.on('message', (m) => {
          resolve(m.getData().toString());
          void sdkDevice.complete(m);
        }),
      );
      await sdkDevice.open();
      await sdkService.open();
      await sdkService.send('dev-c', new SdkMessage('through the banner'));
      assert.equal(await got, 'through the banner');
    } finally {
      await sdkDevice.close();
      await sdkService.close();
    }
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
  });

  it('prints a dotted --hub-name as given; a dotless name the certificate does not cover as given, with a note', async () => {
    const { child, out } = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--hub-name', 'myhub.local']);
    assert.match(out, /HostName=myhub\.local:\d+;SharedAccessKeyName=iothubowner/);
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('exit', resolve));
    const other = await generate([{ name: 'commonName', value: 'somebox' }], { keySize: 2048, algorithm: 'sha256' });
    assert.deepEqual(bannerHost('somebox', other.cert, undefined).host, 'somebox');
    assert.match(String(bannerHost('somebox', other.cert, undefined).note), /C SDK needs a HostName with a dot/);
    assert.equal(bannerHost('localhost', fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'), 'utf8'), ['::1']).host, 'localhost', 'not listening on 127.0.0.1');
  });

  it('refuses a bad port with a clear message and exit code 1', async () => {
    const child = spawnCli(['--data', dataDir, '--amqps', 'nope']);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(err, /--amqps must be a port number or 'off'/);
  });
});

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { ServiceClient } from '../../lib/client/service-client';
import { parseDeviceConnectionString, parseServiceConnectionString } from '../../lib/common/connection-string';
import { NoRetry } from '../../lib/common/retry';

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
    assert.match(parseServiceConnectionString(service).HostName, /^localhost:\d+$/, 'an ephemeral AMQP port is named in HostName');
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

  it('refuses a bad port with a clear message and exit code 1', async () => {
    const child = spawnCli(['--data', dataDir, '--amqps', 'nope']);
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    assert.equal(code, 1);
    assert.match(err, /--amqps must be a port number or 'off'/);
  });

  it('--trust-jwks FILE (--entra-issuer): a backend with Entra tokens signed by a key of that set manages devices over HTTPS; a bad file exits 1', async () => {
    const jose = await import('jose');
    const keys = (await jose.generateKeyPair('RS256', { extractable: true })) as unknown as { publicKey: KeyObject; privateKey: KeyObject };
    const jwksFile = path.join(dataDir, 'issuer.jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await jose.exportJWK(keys.publicKey)), kid: 'cli-key', alg: 'RS256' }] }));
    const issuer = 'https://sts.windows.net/cli-tenant/';
    const { child, out } = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', '0', '--trust-jwks', jwksFile, '--entra-issuer', issuer]);
    assert.ok(out.includes(`Accepts Microsoft Entra tokens signed by a key in ${jwksFile} (issuer ${issuer}; audience https://iothubs.azure.net)`), out);
    const amqps = Number(/amqps\s+port (\d+)/.exec(out)?.[1]);
    const httpsPort = Number(/https\s+port (\d+)/.exec(out)?.[1]);
    const credential = {
      getToken: async () => {
        const exp = Math.floor(Date.now() / 1000) + 600;
        const token = await new jose.SignJWT({ roles: ['IoT Hub Data Contributor'] })
          .setProtectedHeader({ alg: 'RS256', kid: 'cli-key' })
          .setIssuer(issuer)
          .setAudience('https://iothubs.azure.net')
          .setExpirationTime(exp)
          .sign(keys.privateKey);
        return { token, expiresOnTimestamp: exp * 1000 };
      },
    };
    const ca = fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'));
    const svc = ServiceClient.fromTokenCredential(`localhost:${amqps}`, credential, { ca, retryPolicy: new NoRetry(), ports: { https: httpsPort } });
    try {
      assert.equal((await svc.createDevice({ deviceId: 'entra-cli' })).deviceId, 'entra-cli');
      await svc.open();
      await svc.send('entra-cli', Buffer.from('x'));
      assert.equal(await svc.purge('entra-cli'), 1);
    } finally {
      await svc.close();
    }
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);

    fs.writeFileSync(jwksFile, '{"keys": "none"}');
    const bad = spawnCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--trust-jwks', jwksFile]);
    let err = '';
    bad.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    assert.equal(await new Promise<number | null>((resolve) => bad.on('exit', resolve)), 1);
    assert.match(err, /must be a JSON Web Key Set/);
  });
});

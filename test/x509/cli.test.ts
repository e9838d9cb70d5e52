/**
 * `c2d-hub --ca-cert FILE` (repeatable): the CA certificates a
 * certificateAuthority device's chain must lead to. The banner lists them; a
 * file that cannot be read, or holds no CA certificate, stops the command
 * with exit code 1 and says why.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { parseServiceConnectionString } from '../../lib/common/connection-string';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { deviceOf, makePki, type Pki } from './pki';

const BIN = path.resolve(__dirname, '../../../bin/c2d-hub.js');

describe('the c2d-hub command with --ca-cert', function () {
  this.timeout(30_000);
  let dir: string;
  let pki: Pki;
  let other: Pki;
  const started = new Set<ChildProcess>();

  before(async () => {
    [pki, other] = await Promise.all([makePki('Contoso'), makePki('Fabrikam')]);
  });
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-cli-ca-'));
    fs.writeFileSync(path.join(dir, 'contoso-root.pem'), pki.root.cert);
    fs.writeFileSync(path.join(dir, 'fabrikam-int1.pem'), other.intermediate1.cert);
  });
  afterEach(() => {
    for (const child of started) child.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function run(args: string[]): { child: ChildProcess; banner: Promise<string>; exit: Promise<{ code: number | null; err: string }> } {
    const child = spawn(process.execPath, [BIN, '--data', path.join(dir, 'data'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    started.add(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
    const exit = new Promise<{ code: number | null; err: string }>((resolve) =>
      child.once('exit', (code) => {
        started.delete(child);
        resolve({ code, err });
      }),
    );
    const banner = new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Ctrl+C')) resolve(out);
      });
      void exit.then(({ code }) => reject(new Error(`exited ${code}: ${out}${err}`)));
    });
    banner.catch(() => undefined);
    return { child, banner, exit };
  }

  it('trusts each CA given (a root, an intermediate), lists them in the banner, and a CA-signed device logs in', async () => {
    const cli = run([
      '--amqps',
      '0',
      '--mqtts',
      '0',
      '--https',
      '0',
      '--ca-cert',
      path.join(dir, 'contoso-root.pem'),
      '--ca-cert',
      path.join(dir, 'fabrikam-int1.pem'),
    ]);
    const out = await cli.banner;
    assert.match(out, /Device CA: CN=Contoso Root CA \(SHA-256 [0-9A-F:]{95}, valid to \d{4}-/);
    assert.match(out, /Device CA: CN=Fabrikam Intermediate 1 /);
    const port = (p: string): number => Number(new RegExp(`${p}\\s+port (\\d+)`).exec(out)?.[1]);
    const ca = fs.readFileSync(path.join(dir, 'data', 'tls', 'cert.pem'), 'utf8');
    const serviceCs = /Service connection string \(iothubowner\):\n\s+(\S+)/.exec(out)?.[1] as string;
    const svc = ServiceClient.fromConnectionString(serviceCs, { ca, ports: { https: port('https') }, retryPolicy: new NoRetry() });
    try {
      assert.equal(parseServiceConnectionString(serviceCs).HostName, `127.0.0.1:${port('amqps')}`);
      await svc.open();
      // Contoso's chain leads to its registered root; Fabrikam's to its registered intermediate 1 (its root is not registered).
      for (const [id, p] of [
        ['cli-contoso-dev', pki],
        ['cli-fabrikam-dev', other],
      ] as const) {
        await svc.createDevice({ deviceId: id, authentication: { type: 'certificateAuthority' } });
        const dev = await deviceOf(p, id);
        const device = DeviceClient.fromParts(
          { hostName: `localhost:${port('mqtts')}`, deviceId: id, x509: { cert: dev.chain, key: dev.key } },
          { transport: 'mqtt', ca, retryPolicy: new NoRetry() },
        );
        try {
          await device.open();
          await svc.send(id, Buffer.from('via the command'));
          const m = (await device.receive({ timeoutMs: 5000 })) as ReceivedMessage;
          assert.equal(m.body.toString(), 'via the command');
          await device.complete(m);
        } finally {
          await device.close();
        }
      }
    } finally {
      await svc.close();
    }
    cli.child.kill('SIGTERM');
    assert.equal((await cli.exit).code, 0);
  });

  it('exits 1 naming the file it cannot read', async () => {
    const { exit } = run(['--amqps', '0', '--mqtts', 'off', '--https', 'off', '--ca-cert', path.join(dir, 'missing.pem')]);
    const { code, err } = await exit;
    assert.equal(code, 1);
    assert.match(err, /--ca-cert: cannot read '.*missing\.pem' \(ENOENT\)/);
  });

  it('exits 1 when the file holds a device certificate rather than a CA', async () => {
    const dev = await deviceOf(pki, 'not-a-ca');
    fs.writeFileSync(path.join(dir, 'device.pem'), dev.cert);
    const { exit } = run(['--amqps', '0', '--mqtts', 'off', '--https', 'off', '--ca-cert', path.join(dir, 'device.pem')]);
    const { code, err } = await exit;
    assert.equal(code, 1);
    assert.match(err, /The certificate 'CN=not-a-ca' is not a CA certificate \(basicConstraints CA:TRUE\)/);
  });
});

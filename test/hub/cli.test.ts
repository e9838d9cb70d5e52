/**
 * The c2d-hub command, started for real: banner, signals, the config file
 * (devices, policies and the credentials they make the only valid ones),
 * bad fields named, and the order flags < environment over the file.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { parseDeviceConnectionString, parseServiceConnectionString, formatConnectionString } from '../../lib/common/connection-string';
import { NoRetry } from '../../lib/common/retry';
import { faultRequestProperties } from '../../lib/common/fault-injection';
import { generateKey } from '../../lib/common/sas';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { OPTIONS } from '../../lib/hub/cli/options';
import { Client as SdkDeviceClient, Message as SdkMessage } from 'azure-iot-device';
import { Amqp as SdkAmqp } from 'azure-iot-device-amqp';
import { NoRetry as SdkNoRetry } from 'azure-iot-common';
import { Client as SdkServiceClient } from 'azure-iothub';
import { generate } from 'selfsigned';
import { bannerHost } from '../../lib/hub/cli/banner-host';
import { killAll, runCli, spawnCli, startCli } from './cli-process';

describe('the c2d-hub command', function () {
  this.timeout(30_000);
  let dataDir: string;
  beforeEach(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-cli-'));
  });
  afterEach(() => {
    killAll();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts the hub alone, prints the service and demo device connection strings and the CA file, and stops on SIGTERM', async () => {
    const cli = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', '0', '--https', 'off', '--device', 'dev-cli']);
    const lines = cli
      .out()
      .split('\n')
      .map((l) => l.trim());
    const service = lines[lines.indexOf('Service connection string (iothubowner):') + 1] as string;
    const device = lines[lines.indexOf('Device connection string (dev-cli):') + 1] as string;
    assert.equal(parseServiceConnectionString(service).SharedAccessKeyName, 'iothubowner');
    assert.match(
      parseServiceConnectionString(service).HostName,
      /^127\.0\.0\.1:\d+$/,
      'a dotted HostName the certificate covers, with the ephemeral AMQP port',
    );
    assert.equal(parseDeviceConnectionString(device).DeviceId, 'dev-cli');
    assert.ok(cli.out().includes(`NODE_EXTRA_CA_CERTS=${path.join(dataDir, 'tls', 'cert.pem')}`));
    assert.ok(!/https\s+port/.test(cli.out()), 'https is off');
    assert.match(cli.out(), /store synchronous FULL\)/, 'the default, as SQLite reports it');
    assert.equal(await cli.stop(), 0);
    assert.ok(fs.existsSync(path.join(dataDir, 'hub.db')), 'the store is in the data folder');
  });

  it('--synchronous normal reaches the store (the banner reports what SQLite runs with); a bad value exits 1 naming the flag', async () => {
    const cli = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--synchronous', 'normal']);
    assert.match(cli.out(), /store synchronous NORMAL\)/);
    assert.equal(await cli.stop(), 0);

    const bad = await runCli(['--data', dataDir, '--synchronous', 'off']);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--synchronous must be full or normal \(got "off"\)/);
  });

  it('prints HostName=127.0.0.1 (the C SDK needs a dot), which the official Node SDK takes too: a device and a backend reach each other with the printed strings', async function () {
    const tlsDir = process.env.C2D_TEST_TLS_DIR;
    if (!tlsDir || !process.env.NODE_EXTRA_CA_CERTS) {
      console.log(
        '      skipped: NODE_EXTRA_CA_CERTS is not set (run through scripts/test.js), and the official service SDK trusts a certificate only through it',
      );
      return this.skip();
    }
    const cli = await startCli([
      '--data',
      dataDir,
      '--amqps',
      '0',
      '--mqtts',
      'off',
      '--https',
      'off',
      '--device',
      'dev-c',
      '--cert',
      path.join(tlsDir, 'tls', 'cert.pem'),
      '--key',
      path.join(tlsDir, 'tls', 'key.pem'),
    ]);
    const lines = cli
      .out()
      .split('\n')
      .map((l) => l.trim());
    const service = lines[lines.indexOf('Service connection string (iothubowner):') + 1] as string;
    const device = lines[lines.indexOf('Device connection string (dev-c):') + 1] as string;
    const hostName = parseDeviceConnectionString(device).HostName;
    assert.match(hostName, /^127\.0\.0\.1:\d+$/);
    assert.match(cli.out(), /works for every SDK stack/);
    const sdkDevice = SdkDeviceClient.fromConnectionString(device, SdkAmqp);
    sdkDevice.setRetryPolicy(new SdkNoRetry());
    sdkDevice.on('error', () => undefined);
    const sdkService = SdkServiceClient.fromConnectionString(service);
    sdkService.setRetryPolicy(new SdkNoRetry());
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
    assert.equal(await cli.stop(), 0);
  });

  it('prints a dotted --hub-name as given; a dotless name the certificate does not cover as given, with a note', async () => {
    const cli = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--hub-name', 'myhub.local']);
    assert.match(cli.out(), /HostName=myhub\.local:\d+;SharedAccessKeyName=iothubowner/);
    assert.equal(await cli.stop(), 0);
    const other = await generate([{ name: 'commonName', value: 'somebox' }], { keySize: 2048, algorithm: 'sha256' });
    assert.deepEqual(bannerHost('somebox', other.cert, undefined).host, 'somebox');
    assert.match(String(bannerHost('somebox', other.cert, undefined).note), /C SDK needs a HostName with a dot/);
    assert.equal(
      bannerHost('localhost', fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'), 'utf8'), ['::1']).host,
      'localhost',
      'not listening on 127.0.0.1',
    );
  });

  it('refuses a bad port with a clear message and exit code 1', async () => {
    const r = await runCli(['--data', dataDir, '--amqps', 'nope']);
    assert.equal(r.code, 1);
    assert.match(r.err, /--amqps must be a port number or 'off'/);
  });

  it('--help lists every option with its config key and variable', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    for (const o of OPTIONS) {
      assert.ok(r.out.includes(`--${o.flag}`), `--${o.flag} in --help`);
      if (o.env) assert.ok(r.out.includes(o.env), `${o.env} in --help`);
      if (o.key) assert.ok(r.out.includes(`file: ${o.key}`), `${o.key} in --help`);
    }
  });

  describe('a config file', () => {
    const keys = { a: generateKey(), b: generateKey(), backend: generateKey() };
    const writeConfig = (config: unknown): string => {
      const file = path.join(dataDir, 'hub.json');
      fs.writeFileSync(file, JSON.stringify(config));
      return file;
    };

    it('with two devices and a policy starts a hub that accepts exactly those credentials', async () => {
      const file = writeConfig({
        dataDir: 'store',
        hubName: 'localhost',
        ports: { amqps: 0, mqtts: 0, https: 'off' },
        devices: [
          { deviceId: 'a', primaryKey: keys.a },
          { deviceId: 'b', primaryKey: keys.b, auth: 'sas' },
        ],
        policies: [{ keyName: 'backend', rights: ['ServiceConnect'], primaryKey: keys.backend }],
      });
      const cli = await startCli(['--config', file]);
      assert.ok(cli.out().includes(`data in ${path.join(dataDir, 'store')}`), 'dataDir is relative to the config file');
      assert.match(cli.out(), /Service connection string \(backend\):/, 'the banner names the one policy there is');
      const ca = fs.readFileSync(path.join(dataDir, 'store', 'tls', 'cert.pem'), 'utf8');
      const host = `localhost:${cli.ports.mqtts}`;
      const device = (id: string, key: string): DeviceClient =>
        DeviceClient.fromConnectionString(formatConnectionString({ HostName: host, DeviceId: id, SharedAccessKey: key }), {
          transport: 'mqtt',
          ca,
          retryPolicy: new NoRetry(),
        });
      const service = (keyName: string, key: string): ServiceClient =>
        ServiceClient.fromConnectionString(
          formatConnectionString({ HostName: `localhost:${cli.ports.amqps}`, SharedAccessKeyName: keyName, SharedAccessKey: key }),
          { ca, retryPolicy: new NoRetry() },
        );

      const a = device('a', keys.a);
      await a.open();
      const received = new Promise<string>((resolve) => a.on('message', (m: { body: Buffer }) => resolve(m.body.toString())));
      const b = device('b', keys.b);
      await b.open();
      const backend = service('backend', keys.backend);
      await backend.open();
      await backend.send('a', Buffer.from('from the config file'));
      assert.equal(await received, 'from the config file');

      // Anything else is refused: a wrong key, an unknown device, a policy the file did not list.
      await assert.rejects(device('a', keys.b).open(), (e: { code?: number }) => e.code === 401003);
      await assert.rejects(device('c', keys.a).open(), (e: { code?: number }) => e.code === 401003);
      const owner = service('iothubowner', keys.backend);
      await assert.rejects(owner.open(), (e: { code?: number }) => e.code === 401003);
      await Promise.all([a.close(), b.close(), backend.close(), owner.close()]);
      assert.equal(await cli.stop(), 0);
    });

    const badFields: Array<[string, unknown, RegExp]> = [
      ['an unknown key', { hubname: 'x' }, /hub\.json: the file has an unknown key 'hubname' \(known: .*hubName/],
      ['an unknown nested key', { ports: { amqp: 1 } }, /hub\.json: ports has an unknown key 'amqp'/],
      ['a bad port', { ports: { mqtts: 70000 } }, /hub\.json: ports\.mqtts must be a port number or 'off' \(got 70000\)/],
      ['a bad limit', { limits: { maxQueueDepth: 0 } }, /hub\.json: limits: maxQueueDepth must be an integer from 1/],
      ['an unknown limit', { limits: { queueDepth: 5 } }, /hub\.json: limits has an unknown key 'queueDepth'/],
      ['a bad device id', { devices: [{ deviceId: 'no spaces' }] }, /hub\.json: devices\[0\]\.deviceId must be a device id/],
      [
        'a device key of the wrong kind',
        { devices: [{ deviceId: 'x', auth: 'x509', primaryKey: generateKey() }] },
        /hub\.json: devices\[0\]: keys are for auth 'sas' only/,
      ],
      ['an x509 device without thumbprint', { devices: [{ deviceId: 'x', auth: 'x509' }] }, /needs primaryThumbprint/],
      [
        'a device key that is not base64 of 16..64 bytes',
        { ports: { amqps: 0, mqtts: 'off', https: 'off' }, devices: [{ deviceId: 'x', primaryKey: 'short' }] },
        /devices\[0\] \('x'\): Symmetric keys must be base64/,
      ],
      ['a bad right', { policies: [{ keyName: 'p', rights: ['Everything'] }] }, /hub\.json: policies\[0\]\.rights must be a non-empty array of RegistryRead/],
      ['a missing CA file', { trustedCaCertificates: ['nope.pem'] }, /hub\.json: trustedCaCertificates: cannot read '.*nope\.pem' \(ENOENT\)/],
      ['a CA file that is not a certificate', { trustedCaCertificates: ['hub.json'] }, /is not a PEM certificate file/],
      ['a bad synchronous', { synchronous: 'sometimes' }, /hub\.json: synchronous must be full or normal/],
      ['a bad log format', { log: 'xml' }, /hub\.json: log must be text or json/],
      ['a cert without key', { tls: { cert: 'hub.json' } }, /Give both a TLS certificate and key/],
      ['not JSON', '{ nope', /is not valid JSON/],
    ];
    for (const [what, config, message] of badFields) {
      it(`with ${what} is refused with an error naming the field`, async () => {
        const file = path.join(dataDir, 'hub.json');
        fs.writeFileSync(file, typeof config === 'string' ? config : JSON.stringify({ dataDir: 'store', ...(config as object) }));
        const r = await runCli(['--config', file]);
        assert.equal(r.code, 1, r.out + r.err);
        assert.match(r.err, message);
      });
    }

    it('is overridden by flags, and flags by C2D_* variables (a container needs no file)', async () => {
      const file = writeConfig({ dataDir: 'store', hubName: 'file-hub', ports: { amqps: 0, mqtts: 0, https: 'off' }, devices: ['file-device'] });
      let cli = await startCli(['--config', file]);
      assert.match(cli.out(), /c2d-hub 'file-hub' is running/);
      assert.ok(cli.ports.mqtts, 'mqtts from the file');
      await cli.stop();

      cli = await startCli(['--config', file, '--hub-name', 'flag-hub', '--mqtts', 'off']);
      assert.match(cli.out(), /c2d-hub 'flag-hub' is running/);
      assert.equal(cli.ports.mqtts, undefined, 'the flag turned mqtts off');
      assert.match(cli.out(), /Device connection string \(file-device\)/);
      await cli.stop();

      cli = await startCli(['--config', file, '--hub-name', 'flag-hub'], { C2D_HUB_NAME: 'env-hub', C2D_DEVICES: 'env-device', C2D_MQTTS_PORT: 'off' });
      assert.match(cli.out(), /c2d-hub 'env-hub' is running/);
      assert.match(cli.out(), /Device connection string \(env-device\)/);
      assert.equal(cli.ports.mqtts, undefined);
      await cli.stop();

      // No file, no flags: the environment alone.
      cli = await startCli([], {
        C2D_DATA_DIR: path.join(dataDir, 'env-store'),
        C2D_AMQPS_PORT: '0',
        C2D_MQTTS_PORT: 'off',
        C2D_HTTPS_PORT: 'off',
        C2D_LOG: 'json',
        C2D_CONFIG: file,
        C2D_HUB_NAME: 'only-env',
      });
      assert.match(cli.out(), /"event":"hub-started","message":"c2d-hub 'only-env' is running \(data in [^"]*env-store/);
      await cli.stop();

      const bad = await runCli(['--config', file], { C2D_AMQPS_PORT: 'eleven' });
      assert.equal(bad.code, 1);
      assert.match(bad.err, /C2D_AMQPS_PORT must be a port number or 'off' \(got "eleven"\)/);
    });

    it('an unknown flag, or one that does not apply to the command, is refused', async () => {
      let r = await runCli(['--data', dataDir, '--admin-prot', '9']);
      assert.equal(r.code, 1);
      assert.match(r.err, /Unknown option '--admin-prot'/);
      r = await runCli(['reset', '--data', dataDir, '--amqps', '0']);
      assert.equal(r.code, 1);
      assert.match(r.err, /--amqps does not apply to c2d-hub reset/);
    });
  });

  it('honours D2C fault requests by default; --no-fault-injection (or C2D_FAULT_INJECTION=false) leaves them ordinary D2C messages', async () => {
    for (const [args, env, honoured] of [
      [[], {}, true],
      [['--no-fault-injection'], {}, false],
      [[], { C2D_FAULT_INJECTION: 'false' }, false],
    ] as const) {
      const cli = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--device', 'dev-f', ...args], env);
      const lines = cli
        .out()
        .split('\n')
        .map((l) => l.trim());
      const device = DeviceClient.fromConnectionString(lines[lines.indexOf('Device connection string (dev-f):') + 1] as string, {
        transport: 'amqp',
        ca: fs.readFileSync(path.join(dataDir, 'tls', 'cert.pem'), 'utf8'),
        retryPolicy: new NoRetry(),
      });
      await device.open();
      // InvokeThrottling at once: the device's next send is refused 429001 while it holds, if the hub honours the request.
      await device.sendEvent(Buffer.from('fault'), faultRequestProperties({ type: 'InvokeThrottling', delayInSecs: 0, durationInSecs: 60 }));
      const next = await device.sendEvent(Buffer.from('next')).then(
        () => 'sent',
        (e: { code?: number }) => e.code,
      );
      assert.equal(next, honoured ? 429001 : 'sent', JSON.stringify(args) + JSON.stringify(env));
      await device.close();
      assert.equal(await cli.stop(), 0);
    }
  });

  it('starts when the environment holds unrelated C2D_* variables', async () => {
    const run = spawnCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off'], { C2D_SOMETHING_ELSE: '1' });
    await new Promise<void>((resolve) => run.child.stdout!.on('data', () => run.out().includes('Ctrl+C') && resolve()));
    run.child.kill('SIGTERM');
    assert.equal(await run.exited, 0);
  });

  it('--trust-jwks FILE (--entra-issuer): a backend with Entra tokens signed by a key of that set manages devices over HTTPS; a bad file exits 1', async () => {
    const jose = await import('jose');
    const keys = (await jose.generateKeyPair('RS256', { extractable: true })) as unknown as { publicKey: KeyObject; privateKey: KeyObject };
    const jwksFile = path.join(dataDir, 'issuer.jwks.json');
    fs.writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await jose.exportJWK(keys.publicKey)), kid: 'cli-key', alg: 'RS256' }] }));
    const issuer = 'https://sts.windows.net/cli-tenant/';
    const cli = await startCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', '0', '--trust-jwks', jwksFile, '--entra-issuer', issuer]);
    const out = cli.out();
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
    assert.equal(await cli.stop(), 0);

    fs.writeFileSync(jwksFile, '{"keys": "none"}');
    const bad = await runCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--trust-jwks', jwksFile]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /--trust-jwks .*must be a JSON Web Key Set/);
    const lonely = await runCli(['--data', dataDir, '--amqps', '0', '--mqtts', 'off', '--https', 'off', '--entra-issuer', issuer]);
    assert.equal(lonely.code, 1);
    assert.match(lonely.err, /go with --trust-jwks/);
  });
});

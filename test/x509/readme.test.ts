/**
 * The README's "X.509 CA setup, step by step" runs as written: its openssl
 * commands make the chain and the PFX, the hub takes root.pem as its device
 * CA, and a certificateAuthority device logs in with device-chain.pem and
 * device.key over MQTT and with device.pfx and its pass phrase over HTTPS.
 * It needs bash and the openssl command (CI installs openssl).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeviceClient } from '../../lib/client/device-client';
import type { DeviceTransport } from '../../lib/client/types';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { EmbeddedHub } from '../../lib/hub/embedded';
import { hasOpenssl } from './pki';

const ROOT = path.resolve(__dirname, '../../..');

describe('the README: X.509 CA setup, step by step', function () {
  this.timeout(60_000);
  let dir: string;
  before(function () {
    if (!hasOpenssl()) {
      console.log('      skipped: no openssl command on PATH (the README steps use it; CI installs it)');
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-readme-x509-'));
  });
  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('its openssl commands make a chain the hub accepts, and the device logs in with the chain and with the PFX', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const section = /## X\.509 CA setup, step by step\n([\s\S]*?)\n## /.exec(readme)?.[1];
    assert.ok(section, 'the README has the section');
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(script, 'the section has the openssl commands');
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /device\.pem: OK/, 'openssl verify accepts the chain');
    const file = (name: string): Buffer => fs.readFileSync(path.join(dir, name));

    const hub = await EmbeddedHub.start({ ports: { amqps: false, mqtts: 0, https: 0 }, trustedCaCertificates: [file('root.pem').toString('utf8')] });
    try {
      await hub.hub.registry.createDevice({ deviceId: 'my-device', authentication: { type: 'certificateAuthority' } });
      const credentials = [
        ['mqtt', { cert: file('device-chain.pem'), key: file('device.key') }],
        ['http', { pfx: file('device.pfx'), passphrase: 'my-pass-phrase' }],
      ] as const;
      for (const [transport, x509] of credentials) {
        const port = transport === 'mqtt' ? hub.ports.mqtts : hub.ports.https;
        const device = DeviceClient.fromParts(
          { hostName: `localhost:${port}`, deviceId: 'my-device', x509 },
          { transport: transport as DeviceTransport, ca: hub.tls.cert, retryPolicy: new NoRetry() },
        );
        try {
          await device.open();
          await hub.hub.send('my-device', { body: Buffer.from(`readme ${transport}`), messageId: `readme-${transport}` });
          const m = (await device.receive({ timeoutMs: 5000 })) as ReceivedMessage;
          assert.equal(m.body.toString(), `readme ${transport}`);
          await device.complete(m);
        } finally {
          await device.close();
        }
      }
    } finally {
      await hub.close();
    }
  });
});

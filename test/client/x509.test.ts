/**
 * X.509 devices: DeviceClient.fromParts with a certificate and key (and an
 * `x509=true` connection string with options.x509) authenticates by the TLS
 * client certificate (self-signed thumbprint) on every transport, no token.
 */
import { strict as assert } from 'node:assert';
import { generate } from 'selfsigned';
import { DeviceClient } from '../../lib/client/device-client';
import { DEVICE_TRANSPORTS } from '../../lib/client/types';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { Rig } from './rig';

describe('DeviceClient with an X.509 certificate', function () {
  this.timeout(20_000);
  let rig: Rig;
  let device: { cert: string; private: string };
  before(async () => {
    rig = await Rig.start();
    device = (await generate([{ name: 'commonName', value: 'x509dev' }], { keySize: 2048, algorithm: 'sha256' })) as unknown as typeof device & {
      fingerprint: string;
    };
    const thumbprint = (device as unknown as { fingerprint: string }).fingerprint.replace(/:/g, '').toUpperCase();
    await rig.hub.registry.createDevice({
      deviceId: 'x509dev',
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: thumbprint, secondaryThumbprint: null } },
    });
  });
  after(async () => {
    await rig.close();
  });

  for (const transport of DEVICE_TRANSPORTS) {
    it(`${transport}: receives and completes with no token`, async () => {
      const c =
        transport === 'mqtt'
          ? DeviceClient.fromConnectionString(`HostName=${rig.hostFor(transport)};DeviceId=x509dev;x509=true`, {
              transport,
              ca: rig.tls.cert,
              retryPolicy: new NoRetry(),
              x509: { cert: device.cert, key: device.private },
            })
          : DeviceClient.fromParts(
              { hostName: rig.hostFor(transport), deviceId: 'x509dev', x509: { cert: device.cert, key: device.private } },
              { transport, ca: rig.tls.cert, retryPolicy: new NoRetry() },
            );
      try {
        await c.open();
        await rig.hub.send('x509dev', { body: Buffer.from(`to ${transport}`), messageId: transport });
        const m = (await c.receive({ timeoutMs: 5000 })) as ReceivedMessage;
        assert.equal(m.body.toString(), `to ${transport}`);
        await c.complete(m);
      } finally {
        await c.close();
      }
    });
  }
});

/**
 * The official Azure IoT SDKs against the embedded hub, unmodified. The SDKs
 * only reach IoT Hub's standard ports (443 for HTTPS and both WebSocket
 * transports, sdk-wire.md §1.1) and trust a server certificate only through
 * NODE_EXTRA_CA_CERTS read at process start (the service Client and Registry
 * have no CA option, §1.3). So this suite needs ports 443, 5671 and 8883 (root
 * or CAP_NET_BIND_SERVICE) and the test launcher (scripts/test.js) to have set
 * NODE_EXTRA_CA_CERTS to the test certificate. Where either is missing, it
 * skips and says why.
 */
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { ManualClock } from '../../lib/common/clock';
import { EmbeddedHub, type EmbeddedHubOptions } from '../../lib/hub/embedded';

export const STANDARD_PORTS = { amqps: 5671, mqtts: 8883, https: 443 } as const;

/** Why the suite cannot run here, or undefined when it can. */
export async function whyCompatCannotRun(): Promise<string | undefined> {
  const tlsDir = process.env.C2D_TEST_TLS_DIR;
  if (!tlsDir || !process.env.NODE_EXTRA_CA_CERTS) {
    return 'NODE_EXTRA_CA_CERTS and C2D_TEST_TLS_DIR are not set: run the tests with `npm test` (scripts/test.js sets them), since the official service SDK trusts a local certificate only through NODE_EXTRA_CA_CERTS read at process start';
  }
  for (const port of Object.values(STANDARD_PORTS)) {
    const err = await tryBind(port);
    if (err) {
      return `port ${port} cannot be bound here (${err}); the official SDKs only reach IoT Hub's standard ports 443, 5671 and 8883, which need root or CAP_NET_BIND_SERVICE (CI runs as root)`;
    }
  }
  return undefined;
}

function tryBind(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(undefined)));
  });
}

export interface CompatHub {
  hub: EmbeddedHub;
  clock: ManualClock;
  dataDir: string;
  close(): Promise<void>;
}

/** An embedded hub on the standard ports, with the launcher's certificate and a manual clock starting now; `options` adds to that. */
export async function startCompatHub(options: Pick<EmbeddedHubOptions, 'trustedCaCertificates'> = {}): Promise<CompatHub> {
  const tlsDir = process.env.C2D_TEST_TLS_DIR as string;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-compat-'));
  const clock = new ManualClock(Date.now());
  const hub = await EmbeddedHub.start({
    ...options,
    dataDir,
    clock,
    ports: STANDARD_PORTS,
    tls: { cert: path.join(tlsDir, 'tls', 'cert.pem'), key: path.join(tlsDir, 'tls', 'key.pem') },
  });
  return {
    hub,
    clock,
    dataDir,
    async close() {
      await hub.close();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * `c2d-hub`: the embedded hub as a standalone process, so any IoT Hub app can
 * use it as a local C2D hub. On start it prints the connection strings of a
 * demo device and of the iothubowner policy, and the CA file to trust.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_LIMITS, DEFAULT_PORTS, type HubLimits } from '../common/limits';
import type { StoreSynchronous } from './api';
import { EmbeddedHub, type EmbeddedHubOptions } from './embedded';
import { IOTHUB_AUDIENCE, assertJwks, type EntraOptions } from './entra';

const USAGE = `Usage: c2d-hub [options]

Runs an IoT-Hub-style cloud-to-device hub: AMQP (amqps), MQTT (mqtts) and HTTPS,
with AMQP and MQTT over WebSocket on the HTTPS port, and a durable SQLite store.

Options:
  --data <dir>         data folder (store, TLS certificate)   [./c2d-hub-data]
  --hub-name <name>    host name in tokens and strings         [localhost]
  --host <addr>        address to bind; repeatable             [127.0.0.1 and ::1]
  --amqps <port|off>   AMQP over TLS port                      [${DEFAULT_PORTS.amqps}]
  --mqtts <port|off>   MQTT over TLS port                      [${DEFAULT_PORTS.mqtts}]
  --https <port|off>   HTTPS + WebSocket port                  [${DEFAULT_PORTS.https}]
  --device <id>        demo device to create if missing        [demo-device]
  --cert <file>        TLS certificate (PEM); with --key       [self-signed, generated once]
  --key <file>         TLS private key (PEM)
  --register-unknown-devices   create a device on its first send
  --synchronous <full|normal>  store commits synced to disk (full) or not:
                       normal survives a crash of this process, not
                       of the machine                         [full]
  --limit <name=value> a hub limit; repeatable, e.g. --limit maxConnections=1000
                       (maxQueueDepth, maxMessageBytes, maxConnections,
                       maxSendsPerSecond, defaultTtlMs, maxDeliveryCount,
                       lockTimeoutMs, ...: see HubLimits)   [IoT Hub's values]
  --trust-jwks <file>  accept Microsoft Entra bearer tokens signed by a key
                       of this JSON Web Key Set, on AMQP and HTTPS [none]
  --entra-issuer <iss> with --trust-jwks: the issuer tokens must name [any]
  --entra-audience <aud> with --trust-jwks: an accepted audience;
                       repeatable                [${IOTHUB_AUDIENCE}]
  -h, --help           this text

Port 443 needs root (or CAP_NET_BIND_SERVICE); use e.g. --https 8443 otherwise.
The official Azure IoT SDKs reach HTTPS and WebSocket only on 443.`;

/** `name=value` pairs of --limit into a partial HubLimits; Hub.open validates the values (400004). */
function limits(pairs: string[] | undefined): Partial<HubLimits> {
  const out: Record<string, number | boolean> = {};
  for (const pair of pairs ?? []) {
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    if (eq <= 0 || !Object.hasOwn(DEFAULT_LIMITS, name)) throw new Error(`--limit takes name=value with a HubLimits name (got '${pair}').`);
    const raw = pair.slice(eq + 1);
    out[name] = typeof DEFAULT_LIMITS[name as keyof HubLimits] === 'boolean' ? raw === 'true' : Number(raw);
  }
  return out as Partial<HubLimits>;
}

/** --trust-jwks FILE (with --entra-issuer, --entra-audience): EmbeddedHubOptions.trustEntra. */
function trustEntra(file: string | undefined, issuer: string | undefined, audience: string[] | undefined): EntraOptions | undefined {
  if (file === undefined) {
    if (issuer !== undefined || audience !== undefined) throw new Error('--entra-issuer and --entra-audience go with --trust-jwks <file>.');
    return undefined;
  }
  let jwks: unknown;
  try {
    jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`--trust-jwks: cannot read ${file} as JSON (${(e as Error).message}).`);
  }
  assertJwks(jwks, `--trust-jwks ${file}`);
  return { jwks, ...(issuer !== undefined ? { issuer } : {}), ...(audience !== undefined ? { audience } : {}) };
}

function port(value: string | undefined, fallback: number, name: string): number | false {
  if (value === undefined) return fallback;
  if (value === 'off') return false;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`--${name} must be a port number or 'off' (got '${value}').`);
  return n;
}

export async function main(argv: string[] = process.argv.slice(2)): Promise<EmbeddedHub | undefined> {
  const { values } = parseArgs({
    args: argv,
    options: {
      data: { type: 'string' },
      'hub-name': { type: 'string' },
      host: { type: 'string', multiple: true },
      amqps: { type: 'string' },
      mqtts: { type: 'string' },
      https: { type: 'string' },
      device: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'register-unknown-devices': { type: 'boolean' },
      synchronous: { type: 'string' },
      limit: { type: 'string', multiple: true },
      'trust-jwks': { type: 'string' },
      'entra-issuer': { type: 'string' },
      'entra-audience': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return undefined;
  }
  const options: EmbeddedHubOptions = {
    dataDir: path.resolve(values.data ?? 'c2d-hub-data'),
    hubName: values['hub-name'] ?? 'localhost',
    ports: {
      amqps: port(values.amqps, DEFAULT_PORTS.amqps, 'amqps'),
      mqtts: port(values.mqtts, DEFAULT_PORTS.mqtts, 'mqtts'),
      https: port(values.https, DEFAULT_PORTS.https, 'https'),
    },
    ...(values.host ? { host: values.host } : {}),
    ...(values.cert || values.key ? { tls: { cert: values.cert, key: values.key } } : {}),
    registerUnknownDevices: values['register-unknown-devices'] ?? false,
    // Hub.open checks the value (400004 for anything but FULL or NORMAL).
    ...(values.synchronous ? { synchronous: values.synchronous.toUpperCase() as StoreSynchronous } : {}),
    limits: limits(values.limit),
  };
  const entra = trustEntra(values['trust-jwks'], values['entra-issuer'], values['entra-audience']);
  if (entra) options.trustEntra = entra;
  const hub = await EmbeddedHub.start(options);
  const deviceId = values.device ?? 'demo-device';
  if (!hub.hub.registry.getDevice(deviceId)) await hub.hub.registry.createDevice({ deviceId });

  // Handlers first: whoever reads the banner may signal at once.
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    hub.close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
  const lines = [
    `c2d-hub '${hub.hub.hubName}' is running (data in ${options.dataDir}, store synchronous ${hub.hub.stats().synchronous})`,
    ...Object.entries(hub.ports).map(([p, n]) => `  ${p.padEnd(6)} port ${n}`),
    '',
    `Trust its certificate: NODE_EXTRA_CA_CERTS=${hub.tls.caPath ?? '(in memory)'}`,
    ...(entra
      ? [`Accepts Microsoft Entra tokens signed by a key in ${values['trust-jwks']} (issuer ${entra.issuer ?? 'any'}; audience ${[entra.audience ?? IOTHUB_AUDIENCE].flat().join(', ')})`]
      : []),
    '',
    'Service connection string (iothubowner):',
    `  ${hub.serviceConnectionString('iothubowner', 'amqps')}`,
    `Device connection string (${deviceId}):`,
    `  ${hub.deviceConnectionString(deviceId, 'amqps')}`,
    '',
    'Press Ctrl+C to stop.',
  ];
  console.log(lines.join('\n'));

  return hub;
}

/** Entry point of the `c2d-hub` command: exits 1 with a clear message when the hub cannot start. */
export function run(): void {
  main().catch((err: unknown) => {
    const e = err as NodeJS.ErrnoException & { port?: number };
    console.error(`c2d-hub: ${e.message ?? String(err)}`);
    if (e.code === 'EACCES') console.error('Ports below 1024 need root or CAP_NET_BIND_SERVICE; try --https 8443.');
    process.exit(1);
  });
}

if (require.main === module) run();

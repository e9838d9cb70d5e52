/**
 * `c2d-hub` (no command): runs the hub from a resolved CliConfig. The admin
 * listener comes up first (alive, not ready, while the store recovers), then
 * the hub; the config's devices and policies are applied; access decisions
 * go to the log and the metrics; SIGINT/SIGTERM close everything in order.
 */
import * as fs from 'node:fs';
import { DEFAULT_LIMITS } from '../../common/limits';
import type { DeviceSpec, Registry } from '../api';
import type { AccessEvent } from '../access';
import { HubMetrics } from '../admin/metrics';
import { Readiness } from '../admin/readiness';
import { startAdminServer, type AdminServer } from '../admin/server';
import { EmbeddedHub } from '../embedded';
import { IOTHUB_AUDIENCE, type EntraOptions, type JsonWebKeySet } from '../entra';
import { AccessLog } from './access-log';
import { bannerHost } from './banner-host';
import { ConfigError, type DeviceConfig, type PolicyConfig } from './kinds';
import type { CliConfig } from './options';

export interface RunningHub {
  hub: EmbeddedHub;
  admin?: AdminServer;
  /** Stops admin listener and hub (the signal handlers call it). */
  stop(): Promise<void>;
}

const DEMO_DEVICE: DeviceConfig = { deviceId: 'demo-device', auth: 'sas' };

function specOf(d: DeviceConfig): DeviceSpec {
  const type = d.auth === 'x509' ? 'selfSigned' : d.auth === 'ca' ? 'certificateAuthority' : 'sas';
  return {
    deviceId: d.deviceId,
    ...(d.status ? { status: d.status } : {}),
    authentication: {
      type,
      ...(type === 'sas' ? { symmetricKey: { primaryKey: d.primaryKey ?? null, secondaryKey: d.secondaryKey ?? null } } : {}),
      ...(type === 'selfSigned'
        ? { x509Thumbprint: { primaryThumbprint: d.primaryThumbprint ?? null, secondaryThumbprint: d.secondaryThumbprint ?? null } }
        : {}),
    },
  };
}

/**
 * Makes the registry match the config: each listed device is created or
 * updated (keys left out are kept, or generated for a new device); when
 * policies are listed, the hub has exactly those. The registry checks keys
 * and thumbprints; its errors are named by the entry.
 */
export async function provision(registry: Registry, devices: DeviceConfig[], policies: PolicyConfig[] | undefined): Promise<void> {
  for (const [i, d] of devices.entries()) {
    try {
      if (registry.getDevice(d.deviceId)) await registry.updateDevice(specOf(d));
      else await registry.createDevice(specOf(d));
    } catch (e) {
      throw new Error(`devices[${i}] ('${d.deviceId}'): ${(e as Error).message}`, { cause: e });
    }
  }
  if (!policies) return;
  for (const [i, p] of policies.entries()) {
    const old = registry.getPolicy(p.keyName);
    try {
      await registry.setPolicy({
        keyName: p.keyName,
        rights: p.rights,
        primaryKey: p.primaryKey ?? old?.primaryKey ?? '',
        secondaryKey: p.secondaryKey ?? old?.secondaryKey ?? '',
      });
    } catch (e) {
      throw new Error(`policies[${i}] ('${p.keyName}'): ${(e as Error).message}`, { cause: e });
    }
  }
  const wanted = new Set(policies.map((p) => p.keyName));
  for (const p of registry.listPolicies()) if (!wanted.has(p.keyName)) await registry.deletePolicy(p.keyName);
}

/** --trust-jwks (with --entra-issuer, --entra-audience): EmbeddedHubOptions.trustEntra. */
function trustEntra(config: CliConfig): EntraOptions | undefined {
  const e = config.entra;
  if (!e?.jwks) {
    if (e?.issuer !== undefined || e?.audience !== undefined) throw new ConfigError('--entra-issuer and --entra-audience go with --trust-jwks <file>.');
    return undefined;
  }
  const jwks = JSON.parse(fs.readFileSync(e.jwks, 'utf8')) as JsonWebKeySet;
  return { jwks, ...(e.issuer !== undefined ? { issuer: e.issuer } : {}), ...(e.audience !== undefined ? { audience: e.audience } : {}) };
}

export async function serve(config: CliConfig): Promise<RunningHub> {
  const log = new AccessLog(config.log);
  const metrics = new HubMetrics();
  const readiness = new Readiness({ dataDir: config.dataDir, probeBytes: config.limits.maxMessageBytes ?? DEFAULT_LIMITS.maxMessageBytes });
  const admin = config.admin.port === false ? undefined : await startAdminServer({ port: config.admin.port, host: config.admin.host, readiness, metrics });
  const onAccess = (e: AccessEvent): void => {
    metrics.onAccess(e);
    log.onAccess(e);
  };
  const entra = trustEntra(config);
  let hub: EmbeddedHub;
  try {
    hub = await EmbeddedHub.start({
      ...(entra ? { trustEntra: entra } : {}),
      dataDir: config.dataDir,
      hubName: config.hubName,
      ports: config.ports,
      ...(config.host ? { host: config.host } : {}),
      ...(config.tls?.cert && config.tls.key ? { tls: { cert: config.tls.cert, key: config.tls.key } } : {}),
      ...(config.trustedCaCertificates ? { trustedCaCertificates: config.trustedCaCertificates.map((f) => fs.readFileSync(f, 'utf8')) } : {}),
      registerUnknownDevices: config.registerUnknownDevices,
      faultInjection: config.faultInjection,
      ...(config.synchronous ? { synchronous: config.synchronous } : {}),
      limits: config.limits,
      onCommit: metrics.onCommit,
      onAccess,
    });
  } catch (e) {
    await admin?.close();
    throw e;
  }
  const devices = config.devices ?? [DEMO_DEVICE];
  try {
    await provision(hub.hub.registry, devices, config.policies);
  } catch (e) {
    await hub.close();
    await admin?.close();
    throw e;
  }
  metrics.attach(hub.hub, { openConnections: () => hub.openConnections() });
  log.attach(hub.hub.events);
  readiness.setListening(true);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      readiness.setStopping();
      await hub.close();
      await admin?.close();
    })();
    return stopping;
  };

  banner(hub, config, devices, admin, log);
  return { hub, ...(admin ? { admin } : {}), stop };
}

function banner(hub: EmbeddedHub, config: CliConfig, devices: DeviceConfig[], admin: AdminServer | undefined, log: AccessLog): void {
  const registry = hub.hub.registry;
  const policy = registry.getPolicy('iothubowner') ?? registry.listPolicies().find((p) => p.rights.includes('ServiceConnect'));
  const device = devices.find((d) => registry.getDevice(d.deviceId)?.authentication.symmetricKey.primaryKey);
  const running = `c2d-hub '${hub.hub.hubName}' is running (data in ${config.dataDir}, store synchronous ${hub.hub.stats().synchronous})`;
  if (config.log === 'json') {
    // Machine-read: no keys in a log stream; connection strings are for the text banner.
    log.line('info', 'hub-started', running, {
      ports: hub.ports,
      ...(admin ? { adminPort: admin.port } : {}),
      caFile: hub.tls.caPath ?? null,
      synchronous: hub.hub.stats().synchronous,
    });
    return;
  }
  const shown = bannerHost(hub.hub.hubName, hub.tls.cert, config.host);
  const lines = [
    running,
    ...Object.entries(hub.ports).map(([p, n]) => `  ${p.padEnd(6)} port ${n}`),
    ...(admin
      ? [
          `  admin  port ${admin.port} (http://${config.admin.host.includes(':') ? `[${config.admin.host}]` : config.admin.host}:${admin.port}/health, /ready, /metrics)`,
        ]
      : []),
    '',
    `Trust its certificate: NODE_EXTRA_CA_CERTS=${hub.tls.caPath ?? '(in memory)'}`,
    ...(config.entra?.jwks
      ? [
          `Accepts Microsoft Entra tokens signed by a key in ${config.entra.jwks} (issuer ${config.entra.issuer ?? 'any'}; audience ${(config.entra.audience ?? [IOTHUB_AUDIENCE]).join(', ')})`,
        ]
      : []),
    ...hub.hub.auth.trustedCas.list().map((ca) => `Device CA: ${ca.subject} (SHA-256 ${ca.fingerprint256}, valid to ${ca.validTo})`),
    '',
    ...(policy
      ? [`Service connection string (${policy.keyName}):`, `  ${hub.serviceConnectionString(policy.keyName, 'amqps', shown.host)}`]
      : ['No shared access policy with ServiceConnect is configured.']),
    ...(device ? [`Device connection string (${device.deviceId}):`, `  ${hub.deviceConnectionString(device.deviceId, 'amqps', shown.host)}`] : []),
    ...(shown.note
      ? [shown.note]
      : shown.host !== hub.hub.hubName
        ? [`(HostName=${shown.host} works for every SDK stack, the C SDK's included; the others also take HostName=${hub.hub.hubName}.)`]
        : []),
    '',
    'Press Ctrl+C to stop.',
  ];
  console.log(lines.join('\n'));
}

/**
 * Starts the embedded hub for a c2d-hub node: the engine plus its servers
 * (lib/hub/embedded: AMQPS, MQTTS, HTTPS/WebSocket). Then makes sure the
 * node's devices exist and carry the keys set in its credentials, and that
 * the iothubowner policy uses the service key from credentials, so the
 * connection strings a user writes into a network example stay valid.
 */
import type { HubLimits } from '../../lib/common/limits';
import type { HubApi, StoreSynchronous } from '../../lib/hub/api';
import { EmbeddedHub } from '../../lib/hub/embedded';
import type { CommitInfo } from '../../lib/hub/engine/sqlite-store';
import type { AccessEvent } from '../../lib/hub/access';

export type Protocol = 'amqps' | 'mqtts' | 'https';

export interface StartOptions {
  hubName: string;
  dataDir: string;
  host: string;
  ports: Record<Protocol, number | false>;
  limits: Partial<HubLimits>;
  registerUnknownDevices: boolean;
  /** Whether devices' D2C fault requests are honoured (HubOptions.faultInjection). */
  faultInjection?: boolean;
  synchronous: StoreSynchronous;
  /** CA certificates (PEM) for certificateAuthority devices. */
  trustedCaCertificates: string[];
  devices: string[];
  deviceKey?: string;
  serviceKey?: string;
  /** The server certificate and key (PEM), e.g. from a tls-config node; absent: self-signed. */
  tls?: { cert?: string; key?: string; ca?: string };
  /** Observers for metrics: store commits and access decisions (see lib/hub/admin/metrics). */
  onCommit?: (info: CommitInfo) => void;
  onAccess?: (event: AccessEvent) => void;
}

export interface StartedHub {
  hub: HubApi;
  ports: Partial<Record<Protocol, number>>;
  /** PEM to trust for the hub's TLS certificate. */
  ca?: string;
  close(): Promise<void>;
}

export async function startHub(o: StartOptions): Promise<StartedHub> {
  const common = {
    hubName: o.hubName,
    dataDir: o.dataDir,
    limits: o.limits,
    registerUnknownDevices: o.registerUnknownDevices,
    ...(o.faultInjection !== undefined ? { faultInjection: o.faultInjection } : {}),
    synchronous: o.synchronous,
    trustedCaCertificates: o.trustedCaCertificates,
    ...(o.onCommit ? { onCommit: o.onCommit } : {}),
  };
  const e = await EmbeddedHub.start({
    ...common,
    ports: o.ports,
    host: o.host,
    ...(o.tls ? { tls: o.tls } : {}),
    ...(o.onAccess ? { onAccess: o.onAccess } : {}),
  });
  const started: StartedHub = {
    hub: e.hub,
    get ports() {
      return e.ports;
    },
    ca: e.tls.ca ?? e.tls.cert,
    close: () => e.close(),
  };
  try {
    await provision(started.hub, o);
  } catch (e) {
    await started.close();
    throw e;
  }
  return started;
}

/**
 * Where a client in this process connects to a hub bound to `bind`: the
 * loopback address for loopback and wildcard binds (the generated
 * certificate covers 127.0.0.1 and localhost), else the bound name or address.
 */
export function connectHostFor(bind: string): string {
  const h = bind.trim().replace(/^\[(.*)\]$/, '$1');
  if (h === '' || h === '0.0.0.0' || h === '::' || h === '127.0.0.1') return '127.0.0.1';
  // An IPv6 literal cannot be written as host:port in a HostName; localhost reaches ::1.
  if (h.includes(':')) return 'localhost';
  return h;
}

async function provision(hub: HubApi, o: StartOptions): Promise<void> {
  if (o.serviceKey) {
    const p = hub.registry.getPolicy('iothubowner');
    if (p && p.primaryKey !== o.serviceKey) await hub.registry.setPolicy({ ...p, primaryKey: o.serviceKey });
  }
  for (const deviceId of o.devices) {
    const d = hub.registry.getDevice(deviceId);
    const symmetricKey = o.deviceKey ? { primaryKey: o.deviceKey } : undefined;
    if (!d) await hub.registry.createDevice({ deviceId, authentication: { type: 'sas', ...(symmetricKey ? { symmetricKey } : {}) } });
    else if (symmetricKey && d.authentication.symmetricKey.primaryKey !== o.deviceKey) {
      await hub.registry.updateDevice({
        deviceId,
        authentication: { type: 'sas', symmetricKey: { primaryKey: o.deviceKey, secondaryKey: d.authentication.symmetricKey.secondaryKey } },
      });
    }
  }
}

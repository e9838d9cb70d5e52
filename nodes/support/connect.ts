/**
 * Builds the client a `c2d-hub-config` node describes: in-process onto an
 * embedded c2d-hub of this Node-RED (waits for it to start), over the network
 * to such a hub with what the hub itself knows (support/hub-network), or over
 * the network by connection string / token / certificate / Entra (support/network).
 */
import type { DeviceTransport } from '../../lib/client/types';
import { runningHubs } from './hub-registry';
import { InProcessDeviceClient, InProcessServiceClient } from '../../lib/client/in-process';
import { networkClient } from './network';
import { hubNetworkClient } from './hub-network';
import { SetupError } from './setup-error';
import type { ClientFactory, SharedConnection } from './shared-connection';
import type { Node } from './red';
import type { ProxyConfig } from '../../lib/client/proxy';

/** embedded: in-process; embedded-network: the same hub over its sockets; network: by connection string etc. */
export type Target = 'embedded' | 'embedded-network' | 'network';
export const TARGETS: readonly Target[] = ['embedded', 'embedded-network', 'network'];
export type Role = 'service' | 'device';
export type Auth = 'connection-string' | 'sas-token' | 'x509' | 'entra-default' | 'entra-secret';

export interface ConfigSettings {
  target: Target;
  /** Node id of the c2d-hub (targets embedded and embedded-network). */
  hub: string;
  role: Role;
  /** Device id for the device role (embedded target, or network X.509 / token). */
  deviceId: string;
  transport: DeviceTransport;
  auth: Auth;
  /** Host name (with an optional :port) where the auth has none (token, X.509, Entra). */
  hostName: string;
  tenantId: string;
  clientId: string;
  /** Node id of a Node-RED `tls-config` node (network target), or ''. */
  tls: string;
  /** Node id of a Node-RED `http proxy` node (network target, WebSocket transports), or ''. */
  proxy: string;
}

/** Everything secret, from Node-RED credentials only. */
export interface ConfigCredentials {
  connectionString?: string;
  sasToken?: string;
  cert?: string;
  key?: string;
  /** A PKCS#12 (PFX) file, base64: the device certificate, its key and its intermediates. */
  pfx?: string;
  passphrase?: string;
  clientSecret?: string;
  ca?: string;
}

export interface ConnectOptions {
  /** HTTP polling interval for the device role over http (from the c2d-receive node). */
  httpPollIntervalMs?: number;
}

/** `proxy`: from the config's `http proxy` node; absent: the environment's (HTTPS_PROXY, NO_PROXY). */
export function clientFactory(s: ConfigSettings, creds: ConfigCredentials, opts: () => ConnectOptions, proxy?: ProxyConfig): ClientFactory {
  if (s.target === 'embedded' || s.target === 'embedded-network') {
    if (!s.hub) return () => Promise.reject(new SetupError('no hub selected', 'No c2d-hub node selected in the c2d-hub-config.'));
    if (s.role === 'device' && !s.deviceId) return () => Promise.reject(new SetupError('no device ID', 'No device ID set in the c2d-hub-config.'));
    return async (signal) => {
      const hub = await runningHubs.whenUp(s.hub, signal);
      if (s.target === 'embedded-network') return hubNetworkClient(hub, runningHubs.endpoint(s.hub), s, opts());
      return s.role === 'device' ? new InProcessDeviceClient(hub, s.deviceId) : new InProcessServiceClient(hub);
    };
  }
  return async () => networkClient(s, creds, opts(), proxy);
}

/** What a running c2d-hub-config node offers its users. */
export interface HubConfigNode extends Node<ConfigCredentials> {
  settings: ConfigSettings;
  shared: SharedConnection;
  /** Options contributed by users (e.g. a c2d-receive's HTTP polling interval). */
  connectOptions: ConnectOptions;
}

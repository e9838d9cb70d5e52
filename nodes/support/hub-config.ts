/**
 * What a `c2d-hub-config` node holds: its settings, its secrets (from
 * Node-RED credentials only) and the one shared connection its users join.
 */
import type { DeviceTransport } from '../../lib/client/types';
import type { SharedConnection } from './shared-connection';
import type { Node } from './red';

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

/** What a running c2d-hub-config node offers its users. */
export interface HubConfigNode extends Node<ConfigCredentials> {
  settings: ConfigSettings;
  shared: SharedConnection;
}

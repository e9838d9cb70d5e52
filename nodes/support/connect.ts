/**
 * Builds the client a `c2d-hub-config` node describes: in-process onto an
 * embedded c2d-hub of this Node-RED (waits for it to start), over the network
 * to such a hub with what the hub itself knows (support/hub-network), or over
 * the network by connection string / token / certificate / Entra (support/network).
 */
import { runningHubs } from './hub-registry';
import { InProcessDeviceClient, InProcessServiceClient } from '../../lib/client/in-process';
import { networkClient } from './network';
import { hubNetworkClient } from './hub-network';
import { SetupError } from './setup-error';
import type { ClientFactory, ConnectOptions } from './shared-connection';
import type { ConfigCredentials, ConfigSettings } from './hub-config';
import type { ProxyConfig } from '../../lib/client/proxy';

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

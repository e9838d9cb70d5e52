/**
 * `c2d-hub-config`: which hub (a c2d-hub in this Node-RED, in-process or over
 * its sockets, or a hub over the network), as which role, with which secrets. Owns one shared
 * connection for the flow nodes that use it (see support/shared-connection).
 */
import type { NodeDef, RED } from './support/red';
import { closeWith } from './support/red';
import { clientFactory } from './support/connect';
import { TARGETS, type ConfigSettings, type HubConfigNode, type Target } from './support/hub-config';
import { expandCredentials, proxyConfigOf, tlsConfigOf } from './support/red-conventions';
import type { ClientFactory } from './support/shared-connection';
import { runningHubs } from './support/hub-registry';
import { SharedConnection } from './support/shared-connection';

type Def = NodeDef & Partial<ConfigSettings>;

export = function register(RED: RED): void {
  function HubConfig(this: HubConfigNode, def: Def): void {
    RED.nodes.createNode(this, def);
    const settings: ConfigSettings = {
      target: TARGETS.includes(def.target as Target) ? (def.target as Target) : 'embedded',
      hub: def.hub ?? '',
      role: def.role === 'device' ? 'device' : 'service',
      deviceId: (def.deviceId ?? '').trim(),
      transport: def.transport ?? 'amqp',
      auth: def.auth ?? 'connection-string',
      hostName: (def.hostName ?? '').trim(),
      tenantId: (def.tenantId ?? '').trim(),
      clientId: (def.clientId ?? '').trim(),
      tls: def.tls ?? '',
      proxy: def.proxy ?? '',
    };
    this.settings = settings;
    // Errors here never carry a secret: our clients name codes and hosts only.
    let factory: ClientFactory;
    try {
      const creds = expandCredentials(RED, this, this.credentials ?? {});
      // A tls-config node, when chosen, replaces the CA, certificate, key and passphrase fields.
      const tls = settings.target === 'network' ? tlsConfigOf(RED, settings.tls, 'this c2d-hub-config') : undefined;
      const merged = tls ? { ...creds, ca: tls.ca, cert: tls.cert, key: tls.key, passphrase: tls.passphrase } : creds;
      const proxy = settings.target === 'network' ? proxyConfigOf(RED, settings.proxy, 'this c2d-hub-config') : undefined;
      factory = clientFactory(settings, merged, () => this.shared.connectOptions(), proxy);
    } catch (e) {
      // Shown on every node that uses this config (status and log), as a connection failure is.
      factory = () => Promise.reject(e);
    }
    this.shared = new SharedConnection(factory, (e) => this.warn(e.message));
    const onDown = (id: string): void => {
      if (id === settings.hub) void this.shared.reset('node-red:common.status.disconnected');
    };
    if (settings.target !== 'network') runningHubs.on('down', onDown);
    closeWith(this, async () => {
      runningHubs.off('down', onDown);
      await this.shared.close();
    });
  }

  RED.nodes.registerType('c2d-hub-config', HubConfig as never, {
    credentials: {
      connectionString: { type: 'password' },
      sasToken: { type: 'password' },
      cert: { type: 'text' },
      key: { type: 'password' },
      pfx: { type: 'password' },
      passphrase: { type: 'password' },
      clientSecret: { type: 'password' },
      ca: { type: 'text' },
    },
  });
};

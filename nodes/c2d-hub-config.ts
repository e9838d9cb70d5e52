/**
 * `c2d-hub-config`: which hub (a c2d-hub in this Node-RED, in-process or over
 * its sockets, or a hub over the network), as which role, with which secrets. Owns one shared
 * connection for the flow nodes that use it (see support/shared-connection).
 */
import type { NodeDef, RED } from './support/red';
import { closeWith } from './support/red';
import { clientFactory, TARGETS, type ConfigSettings, type HubConfigNode, type Target } from './support/connect';
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
    };
    this.settings = settings;
    this.connectOptions = {};
    // Errors here never carry a secret: our clients name codes and hosts only.
    this.shared = new SharedConnection(
      clientFactory(settings, this.credentials ?? {}, () => this.connectOptions),
      (e) => this.warn(e.message),
    );
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
      passphrase: { type: 'password' },
      clientSecret: { type: 'password' },
      ca: { type: 'text' },
    },
  });
};

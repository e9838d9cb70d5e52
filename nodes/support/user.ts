/**
 * How a flow node joins its c2d-hub-config: look it up, check the role,
 * register for status (and messages or feedback), deregister on close.
 */
import type { HubConfigNode } from './connect';
import type { Node, RED } from './red';
import type { ConnectionUser } from './shared-connection';
import type { Role } from './connect';

export function joinConfig(
  RED: RED,
  node: Node,
  configId: string | undefined,
  role: Role,
  extra: Omit<ConnectionUser, 'id' | 'status'> = {},
): HubConfigNode | undefined {
  const cfg = configId ? (RED.nodes.getNode(configId) as HubConfigNode | null) : null;
  if (!cfg) {
    node.status({ fill: 'red', shape: 'ring', text: 'no hub config' });
    node.error('No c2d-hub-config selected.');
    return undefined;
  }
  if (cfg.settings.role !== role) {
    node.status({ fill: 'red', shape: 'ring', text: `needs ${role} role` });
    node.error(`The selected c2d-hub-config has the ${cfg.settings.role} role; this node needs the ${role} role.`);
    return undefined;
  }
  const user: ConnectionUser = { id: node.id, status: (s) => node.status(s), ...extra };
  cfg.shared.register(user);
  node.on('close', (_removed: boolean, done: () => void) => {
    void cfg.shared.deregister(user).finally(done);
  });
  return cfg;
}

/** How long an input waits for the connection before failing 503001. */
export const CONNECT_WAIT_MS = 30_000;

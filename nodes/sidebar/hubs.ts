/**
 * The c2d-hub nodes the sidebar can pick from: every deployed one (from the
 * runtime's flow configuration, so a hub that failed to start is listed too,
 * as not running), with its hub when it is up (support/hub-registry) and the
 * ports it bound (the node's `ports`).
 */
import type { HubApi } from '../../lib/hub/api';
import { runningHubs } from '../support/hub-registry';
import type { RED } from '../support/red';

export interface HubListing {
  id: string;
  name: string;
  /** The tab the node is on. */
  z?: string;
  running: boolean;
}

export interface RunningHub {
  id: string;
  hub: HubApi;
  /** Bound port per protocol (amqps, mqtts, https); empty: in-process only. */
  ports: Record<string, number>;
}

interface FlowConfigNode {
  id: string;
  type: string;
  name?: string;
  z?: string;
  d?: boolean;
}

export function deployedHubs(red: RED): HubListing[] {
  const found = new Map<string, HubListing>();
  (red.nodes as unknown as { eachNode(cb: (n: FlowConfigNode) => void): void }).eachNode((n) => {
    if (n.type === 'c2d-hub' && n.d !== true) found.set(n.id, { id: n.id, name: n.name || '', ...(n.z ? { z: n.z } : {}), running: false });
  });
  for (const id of runningHubs.ids()) found.set(id, { ...(found.get(id) ?? { id, name: '' }), running: true });
  return [...found.values()].sort((a, b) => (a.name || a.id).localeCompare(b.name || b.id));
}

export function runningHub(red: RED, id: string): RunningHub | undefined {
  const hub = runningHubs.get(id);
  if (!hub) return undefined;
  const node = red.nodes.getNode(id) as { ports?: Record<string, number> } | null;
  return { id, hub, ports: { ...(node?.ports ?? {}) } };
}

/**
 * The embedded hubs running in this Node-RED, by `c2d-hub` node id. Config
 * nodes are constructed before flow nodes and a hub starts asynchronously,
 * so an in-process config asks for a hub that may not be up yet: it waits on
 * `whenUp` and follows `up`/`down` to reconnect across partial redeploys.
 * Module-level on purpose: every node file loads this one module instance.
 */
import { EventEmitter } from 'node:events';
import type { HubApi } from '../../lib/hub/api';

/**
 * How to reach a running hub over the network, for configs with the
 * `embedded-network` target: where to connect, its bound ports, and the CA
 * to trust. Kept in this process only; never sent to the editor.
 */
export interface HubEndpoint {
  /** Host to connect to (an address the hub listens on, or localhost). */
  connectHost: string;
  /** Bound ports by protocol (amqps, mqtts, https); absent = off. */
  ports: Partial<Record<'amqps' | 'mqtts' | 'https', number>>;
  /** PEM of the certificate(s) that sign the hub's TLS certificate. */
  ca: string;
}

class HubRegistry extends EventEmitter {
  private readonly hubs = new Map<string, HubApi>();
  private readonly endpoints = new Map<string, HubEndpoint>();

  constructor() {
    super();
    // One listener per in-process config node; a large flow may have many.
    this.setMaxListeners(0);
  }

  /** A c2d-hub node finished starting (with its endpoint when it serves the network). */
  up(nodeId: string, hub: HubApi, endpoint?: HubEndpoint): void {
    this.hubs.set(nodeId, hub);
    if (endpoint) this.endpoints.set(nodeId, endpoint);
    else this.endpoints.delete(nodeId);
    this.emit('up', nodeId, hub);
  }

  /** A c2d-hub node is stopping: users must drop their clients now. */
  down(nodeId: string): void {
    this.endpoints.delete(nodeId);
    if (!this.hubs.delete(nodeId)) return;
    this.emit('down', nodeId);
  }

  get(nodeId: string): HubApi | undefined {
    return this.hubs.get(nodeId);
  }

  /** The network endpoint of a running hub (set together with the hub in up()). */
  endpoint(nodeId: string): HubEndpoint | undefined {
    return this.endpoints.get(nodeId);
  }

  /** The ids of the c2d-hub nodes whose hub is up now. */
  ids(): string[] {
    return [...this.hubs.keys()];
  }

  /**
   * Resolves with the hub once that node is up (at once when it already is);
   * rejects when `signal` aborts first, so a closing waiter leaves no listener.
   */
  whenUp(nodeId: string, signal?: AbortSignal): Promise<HubApi> {
    const hub = this.hubs.get(nodeId);
    if (hub) return Promise.resolve(hub);
    return new Promise((resolve, reject) => {
      const onUp = (id: string, h: HubApi): void => {
        if (id !== nodeId) return;
        cleanup();
        resolve(h);
      };
      const onAbort = (): void => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const cleanup = (): void => {
        this.off('up', onUp);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return onAbort();
      this.on('up', onUp);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export const runningHubs = new HubRegistry();

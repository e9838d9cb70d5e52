/**
 * The runtime side of the C2D sidebar, once per Node-RED: a live view of
 * every running hub (live.ts), made and dropped as c2d-hub nodes come and go,
 * and the admin routes (routes.ts). Comms topics:
 *   c2d/hubs       a hub came up or went down (read the list again)
 *   c2d/hub/<id>   that hub changed: which devices, and the latest rates
 */
import { systemClock, type Clock } from '../../lib/common/clock';
import type { HubApi } from '../../lib/hub/api';
import { runningHubs } from '../support/hub-registry';
import type { RED } from '../support/red';
import { LiveHub, type LiveOptions } from './live';
import { mountRoutes } from './routes';
import { countsOf } from './views';

export const HUBS_TOPIC = 'c2d/hubs';
export const hubTopic = (hubId: string): string => `c2d/hub/${hubId}`;

interface Comms {
  publish(topic: string, data: unknown, retain?: boolean): void;
}

/** One per runtime: a live view of every running hub, made and dropped as hubs come and go. */
export class SidebarService {
  private readonly lives = new Map<string, LiveHub>();
  private readonly onUp = (id: string, hub: HubApi): void => {
    this.add(id, hub);
    this.comms.publish(HUBS_TOPIC, { up: id });
  };
  private readonly onDown = (id: string): void => {
    this.lives.get(id)?.close();
    this.lives.delete(id);
    this.comms.publish(HUBS_TOPIC, { down: id });
  };

  constructor(
    private readonly comms: Comms,
    private readonly clock: Clock = systemClock,
    private readonly options: LiveOptions = {},
  ) {
    for (const id of runningHubs.ids()) this.add(id, runningHubs.get(id)!);
    runningHubs.on('up', this.onUp);
    runningHubs.on('down', this.onDown);
  }

  private add(id: string, hub: HubApi): void {
    this.lives.get(id)?.close();
    // The counts are read only when an update goes out: at most four times a second, and only while an editor watches.
    this.lives.set(
      id,
      new LiveHub(hub, (update) => this.comms.publish(hubTopic(id), { ...update, counts: countsOf(hub) }), { clock: this.clock, ...this.options }),
    );
  }

  live(hubId: string): LiveHub | undefined {
    return this.lives.get(hubId);
  }

  now(): number {
    return this.clock.now();
  }

  close(): void {
    runningHubs.off('up', this.onUp);
    runningHubs.off('down', this.onDown);
    for (const l of this.lives.values()) l.close();
    this.lives.clear();
  }
}

/** The service of the last registration (a test runtime registers the plugin again for each flow it loads). */
let current: SidebarService | undefined;

export function startSidebar(red: RED, clock?: Clock, options?: LiveOptions): SidebarService {
  current?.close();
  const service = new SidebarService((red as unknown as { comms: Comms }).comms, clock, options);
  current = service;
  mountRoutes(red, service);
  return service;
}

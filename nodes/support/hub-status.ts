/**
 * The c2d-hub node's status line: its ports, then how many devices it has and
 * how many messages are pending (Enqueued + locked), e.g.
 * `amqps:5671 mqtts:8883 https:8443 · 3 devices · 5 pending`. It follows the
 * hub's events (observing only) and is redrawn at most once per interval, so
 * a busy hub costs one stats() call per interval, not one per message.
 */
import type { HubApi, HubEventName } from '../../lib/hub/api';
import type { NodeStatusLike } from './status';

/** The events after which the counts may have changed. */
const COUNT_EVENTS: HubEventName[] = ['enqueued', 'completed', 'deadLettered', 'purged', 'cancelled', 'requeued', 'deviceCreated', 'deviceDeleted'];

/** At most one redraw per this many ms. */
export const HUB_STATUS_INTERVAL_MS = 1000;

export function hubStatusText(ports: Record<string, number>, devices: number, pending: number): string {
  const p =
    Object.entries(ports)
      .map(([name, n]) => `${name}:${n}`)
      .join(' ') || 'in-process';
  return `${p} · ${devices} device${devices === 1 ? '' : 's'} · ${pending} pending`;
}

/**
 * Draws the status now and after every counting event, throttled (the first
 * change in a quiet period is drawn at once, later ones at the end of the
 * interval). Returns the function that stops it.
 */
export function followHubStatus(
  hub: HubApi,
  ports: () => Record<string, number>,
  show: (s: NodeStatusLike) => void,
  intervalMs = HUB_STATUS_INTERVAL_MS,
): () => void {
  let timer: NodeJS.Timeout | undefined;
  let lastDrawn = 0;
  const draw = (): void => {
    timer = undefined;
    lastDrawn = Date.now();
    const s = hub.stats();
    show({ fill: 'green', shape: 'dot', text: hubStatusText(ports(), s.devices, s.queued + s.locked) });
  };
  const changed = (): void => {
    if (timer) return;
    const wait = lastDrawn + intervalMs - Date.now();
    if (wait <= 0) return draw();
    timer = setTimeout(draw, wait);
  };
  for (const e of COUNT_EVENTS) hub.events.on(e, changed);
  draw();
  return () => {
    clearTimeout(timer);
    timer = undefined;
    for (const e of COUNT_EVENTS) hub.events.off(e, changed);
  };
}

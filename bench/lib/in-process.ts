/**
 * The in-process halves of the breakdown scenarios, run inside a hub's own
 * process: receivers that complete each message at once (no device
 * connections), and a send pump through Hub.send (no service connection).
 * Completions are counted from the hub's 'completed' events.
 */
import { once } from 'node:events';
import type { Hub } from '../../lib/hub';

/** Opens a receiver on `${prefix}${i}`, i < devices, that completes each delivery at once. */
export function autoCompleteReceivers(hub: Hub, devices: number, options: { prefix?: string; credit?: number } = {}): void {
  for (let i = 0; i < devices; i++) {
    const id = `${options.prefix ?? 'dev-'}${i}`;
    const r = hub.openReceiver(
      id,
      {
        deliver: (m) => {
          hub.complete(id, m.lockToken).then(
            () => r.addCredit(1),
            () => undefined,
          );
        },
      },
      { credit: options.credit ?? 8 },
    );
  }
}

/**
 * Sends `count` messages round robin over `${prefix}${i}`, i < devices, with
 * `window` in flight, and resolves once that many more were completed. A full
 * queue (403004) waits for a completion and sends again.
 */
export async function pumpSends(hub: Hub, o: { prefix?: string; devices: number; count: number; window: number; bodyBytes: number }): Promise<void> {
  const body = Buffer.alloc(o.bodyBytes, 'x');
  let completed = 0;
  const onCompleted = (): void => void completed++;
  hub.events.on('completed', onCompleted);
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < o.count) {
        const i = next++;
        for (;;) {
          try {
            await hub.send(`${o.prefix ?? 'dev-'}${i % o.devices}`, { body });
            break;
          } catch (e) {
            if ((e as Error).name !== 'DeviceMaximumQueueDepthExceeded') throw e;
            await once(hub.events, 'completed');
          }
        }
      }
    };
    await Promise.all(Array.from({ length: o.window }, worker));
    while (completed < o.count) await once(hub.events, 'completed');
  } finally {
    hub.events.off('completed', onCompleted);
  }
}

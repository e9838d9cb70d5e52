/**
 * The hub under test, in its own process (and core): an EmbeddedHub on
 * ephemeral loopback ports, driven over IPC by the bench. Devices share one
 * key so the driver can build every connection string from one secret.
 */
import { once } from 'node:events';
import { writeHeapSnapshot } from 'node:v8';
import { formatConnectionString } from '../../lib/common/connection-string';
import { generateKey } from '../../lib/common/sas';
import type { HubLimits } from '../../lib/common/limits';
import { EmbeddedHub } from '../../lib/hub/embedded';
import type { HubOptions } from '../../lib/hub/engine/hub';
import { processStats, serve } from './ipc';
import { autoCompleteReceivers, pumpSends } from './in-process';

export interface HubStartArgs {
  dataDir?: string;
  limits?: Partial<HubLimits>;
  /** Devices `${prefix}${i}` for i < devices, created unless they exist (restart). */
  devices?: number;
  prefix?: string;
  /** The store's SQLite synchronous setting (default FULL, as the hub's). */
  synchronous?: HubOptions['synchronous'];
}

export interface HubInfo {
  ports: { amqps: number; mqtts: number; https: number };
  ca: string;
  deviceKey: string;
  serviceConnectionString: string;
  /** Wall-clock time (epoch ms) when the ports were bound and the state recovered. */
  startedAtMs: number;
  stats: ReturnType<typeof processStats>;
}

let hub: EmbeddedHub | undefined;
let completed = 0;
/** Wall-clock times (epoch ms) of first events after start, for the restart scenario. */
const marks: Record<string, number> = {};
let sent = 0;
const DEVICE_KEY = generateKey();

function current(): EmbeddedHub {
  if (!hub) throw new Error('hub not started');
  return hub;
}

async function ensureDevices(h: EmbeddedHub, prefix: string, count: number): Promise<void> {
  // After a restart they are all there: do not walk the registry (it competes with recovery).
  if (count === 0 || h.hub.registry.getDevice(`${prefix}${count - 1}`)) return;
  const chunk = 1000;
  for (let i = 0; i < count; i += chunk) {
    const ids: string[] = [];
    for (let j = i; j < Math.min(count, i + chunk); j++) if (!h.hub.registry.getDevice(`${prefix}${j}`)) ids.push(`${prefix}${j}`);
    // Concurrent creates share one commit.
    await Promise.all(
      ids.map((deviceId) => h.hub.registry.createDevice({ deviceId, authentication: { symmetricKey: { primaryKey: DEVICE_KEY, secondaryKey: DEVICE_KEY } } })),
    );
  }
}

serve({
  async start(a: HubStartArgs): Promise<HubInfo> {
    hub = await EmbeddedHub.start({
      dataDir: a.dataDir,
      limits: a.limits,
      synchronous: a.synchronous,
      host: '127.0.0.1',
      ports: { amqps: 0, mqtts: 0, https: 0 },
    });
    const startedAtMs = performance.timeOrigin + performance.now();
    hub.hub.events.on('completed', () => completed++);
    const t = (name: string): void => void (marks[name] ??= performance.timeOrigin + performance.now());
    hub.hub.events.on('deviceConnected', () => t('firstConnectedAtMs'));
    hub.hub.events.on('delivered', () => t('firstDeliveredAtMs'));
    await ensureDevices(hub, a.prefix ?? 'dev-', a.devices ?? 0);
    const p = hub.ports;
    return {
      ports: { amqps: p.amqps ?? 0, mqtts: p.mqtts ?? 0, https: p.https ?? 0 },
      ca: hub.tls.ca ?? hub.tls.cert,
      // After a restart the devices keep the key the first process gave them.
      deviceKey: hub.hub.registry.getDevice(`${a.prefix ?? 'dev-'}0`)?.authentication.symmetricKey.primaryKey ?? DEVICE_KEY,
      serviceConnectionString: formatConnectionString({
        HostName: `localhost:${p.amqps}`,
        SharedAccessKeyName: 'iothubowner',
        SharedAccessKey: hub.hub.registry.getPolicy('iothubowner')!.primaryKey,
      }),
      startedAtMs,
      stats: processStats(),
    };
  },
  /** `idle`: first let every commit in flight finish, so a completion is counted as completed and not lost between the queue and the event. */
  stats: async (a?: { idle?: boolean }) => {
    if (a?.idle) await hub?.hub.idle();
    return { ...processStats(), completed, sent, hub: hub?.hub.stats() };
  },
  marks: () => marks,
  /** Writes a heap snapshot of the hub to `file` (memory work: the per-device breakdowns in BENCHMARKS.md). */
  snapshot: (a: { file: string }) => writeHeapSnapshot(a.file),
  /** Resolves once `count` messages were completed since start. */
  async waitCompleted(a: { count: number }): Promise<number> {
    const h = current();
    while (completed < a.count) await once(h.hub.events, 'completed');
    return completed;
  },
  /** Sends `perDevice` messages of `bodyBytes` to each device, in parallel waves (engine API, no network). */
  async fill(a: { prefix: string; devices: number; perDevice: number; bodyBytes: number }): Promise<number> {
    const h = current();
    const body = Buffer.alloc(a.bodyBytes, 'x');
    const wave = 2000;
    for (let k = 0; k < a.perDevice; k++) {
      for (let i = 0; i < a.devices; i += wave) {
        const sends: Promise<unknown>[] = [];
        for (let j = i; j < Math.min(a.devices, i + wave); j++) sends.push(h.hub.send(`${a.prefix}${j}`, { body, properties: { k: String(k) } }));
        await Promise.all(sends);
        sent += sends.length;
      }
    }
    return sent;
  },
  /** Sends `count` messages to one device, `window` in flight (a stream for the client benchmark). */
  async stream(a: { deviceId: string; count: number; bodyBytes: number; window: number }): Promise<void> {
    const h = current();
    const body = Buffer.alloc(a.bodyBytes, 'x');
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < a.count) {
        next++;
        // A full queue (403002) means the device is behind: wait for a completion and retry.
        for (;;) {
          try {
            await h.hub.send(a.deviceId, { body });
            break;
          } catch (e) {
            if ((e as Error).name !== 'DeviceMaximumQueueDepthExceeded') throw e;
            await once(h.hub.events, 'completed');
          }
        }
      }
    };
    await Promise.all(Array.from({ length: a.window }, worker));
  },
  /** In-process receivers that complete at once (the breakdown's service-side-only scenario). */
  autoComplete(a: { prefix?: string; devices: number; credit?: number }): void {
    autoCompleteReceivers(current().hub, a.devices, a);
  },
  /** Sends through Hub.send until `count` more are completed (the breakdown's device-side-only scenario). */
  pump: (a: { prefix?: string; devices: number; count: number; window: number; bodyBytes: number }) => pumpSends(current().hub, a),
  async close(): Promise<void> {
    await hub?.close();
    hub = undefined;
  },
});

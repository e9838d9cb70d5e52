/**
 * The load side of a scenario: the hub process (started on its own core),
 * one ServiceClient, and a fleet of DeviceClients connected with bounded
 * concurrency. Everything here runs in the driver process, never the hub's.
 */
import path from 'node:path';
import { formatConnectionString } from '../../lib/common/connection-string';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import type { AckMode, ReceivedMessage } from '../../lib/common/message';
import type { DeviceTransport } from '../../lib/client/types';
import { Child } from './ipc';
import type { HubInfo, HubStartArgs } from './hub-child';

export const HUB_CPU = 1;
export const LOAD_CPU = 0;

/**
 * BENCH_HUB_PROF=<dir>: the hub process writes a CPU profile there (node --cpu-prof) when it exits.
 * BENCH_HUB_BUILD=<dir>: the hub process runs another build's code (that checkout's `dist`), the
 * load stays this build's: how `ab.ts` compares the code before and after a change in one run.
 */
export async function startHub(args: HubStartArgs): Promise<{ child: Child; info: HubInfo }> {
  const prof = process.env.BENCH_HUB_PROF;
  const build = process.env.BENCH_HUB_BUILD;
  const child = Child.start('lib/hub-child', {
    cpu: HUB_CPU,
    nodeArgs: prof ? ['--cpu-prof', '--cpu-prof-dir', prof] : [],
    ...(build ? { benchDir: path.join(path.resolve(build), 'bench') } : {}),
  });
  try {
    const info = await child.call<HubInfo>('start', args);
    return { child, info };
  } catch (e) {
    await child.kill();
    throw e;
  }
}

export function portFor(info: HubInfo, t: DeviceTransport): number {
  return t === 'amqp' ? info.ports.amqps : t === 'mqtt' ? info.ports.mqtts : info.ports.https;
}

export function deviceConnectionString(info: HubInfo, deviceId: string, t: DeviceTransport): string {
  return formatConnectionString({ HostName: `localhost:${portFor(info, t)}`, DeviceId: deviceId, SharedAccessKey: info.deviceKey });
}

export async function openService(info: HubInfo): Promise<ServiceClient> {
  const s = ServiceClient.fromConnectionString(info.serviceConnectionString, { ca: info.ca });
  await s.open();
  return s;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Sends and waits for the commit; a full queue (403004: the device is behind)
 * is backpressure: wait for room, then send again. `room` resolves when the
 * device has (probably) taken a message off its queue; without one, 2 ms.
 * Returns the retries.
 */
export async function sendWithBackpressure(
  service: ServiceClient,
  deviceId: string,
  body: Buffer,
  options: { ack?: AckMode } = {},
  room: () => Promise<void> = () => sleep(2),
): Promise<number> {
  for (let retries = 0; ; retries++) {
    try {
      await service.send(deviceId, body, options);
      return retries;
    } catch (e) {
      if ((e as Error).name !== 'DeviceMaximumQueueDepthExceeded') throw e;
      await room();
    }
  }
}

/** Runs `work(i)` for i < count with at most `limit` at once. */
export async function pool(count: number, limit: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(limit, count) }, worker));
}

export interface FleetOptions {
  transport: DeviceTransport;
  devices: number;
  prefix?: string;
  /** Called for each message; the fleet completes it afterwards unless `settle` is false. */
  onMessage?: (m: ReceivedMessage, deviceIndex: number) => void;
  settle?: boolean;
  httpPollIntervalMs?: number;
}

/** Connected DeviceClients listening for messages; close() ends them all. */
export class Fleet {
  readonly clients: DeviceClient[] = [];
  completes = 0;
  /** Senders waiting for room in a device's queue, by device index (see room()). */
  private readonly roomWaiters = new Map<number, (() => void)[]>();

  constructor(
    private readonly info: HubInfo,
    private readonly o: FleetOptions,
  ) {}

  async open(concurrency = 50): Promise<void> {
    const prefix = this.o.prefix ?? 'dev-';
    await pool(this.o.devices, concurrency, async (i) => {
      const c = DeviceClient.fromConnectionString(deviceConnectionString(this.info, `${prefix}${i}`, this.o.transport), {
        transport: this.o.transport,
        ca: this.info.ca,
        httpPollIntervalMs: this.o.httpPollIntervalMs ?? 50,
      });
      c.on('error', () => undefined);
      await c.open();
      c.on('message', (m: ReceivedMessage) => {
        this.o.onMessage?.(m, i);
        if (this.o.settle === false) return;
        c.complete(m).then(
          () => {
            this.completes++;
            this.roomWaiters.get(i)?.shift()?.();
          },
          () => undefined,
        );
      });
      this.clients[i] = c;
    });
  }

  /**
   * Resolves at device `i`'s next completion, one waiting sender per completion, so
   * that a full queue (403004) is retried as the device drains it, not in a storm of
   * refused sends (with 20 sends in flight to one device, a 2 ms retry sent ~5 of them
   * per message the device took). `maxMs` bounds the wait: over MQTT complete() resolves
   * as the PUBACK leaves, so the hub may not have applied it when a retry arrives.
   */
  room(i: number, maxMs = 50): Promise<void> {
    return new Promise((resolve) => {
      let list = this.roomWaiters.get(i);
      if (!list) this.roomWaiters.set(i, (list = []));
      const queue = list;
      const wake = (): void => {
        clearTimeout(timer);
        const k = queue.indexOf(wake);
        if (k >= 0) queue.splice(k, 1);
        resolve();
      };
      const timer = setTimeout(wake, maxMs);
      queue.push(wake);
    });
  }

  async close(): Promise<void> {
    await pool(this.clients.length, 200, async (i) => {
      await this.clients[i]?.close().catch(() => undefined);
    });
  }
}

/**
 * Where the hub's CPU per message goes in scenario 1, measured in the same run
 * by taking one side of the path away at a time (the hub on its own core, as
 * in scenario 1, 100 devices, 100 in flight, durable store):
 * - service side: ServiceClient sends over AMQP; in-process receivers in the
 *   hub complete each message at once (no device connections);
 * - device side: the hub sends to itself through Hub.send; 100 DeviceClients
 *   over MQTT receive and complete (no service connection).
 * With the engine-and-store row (baselines.ts engineOnly) these say what each
 * protocol server costs on top of the engine: side - engine.
 */
import fs from 'node:fs';
import { Fleet, openService, pool, sendWithBackpressure, startHub } from '../lib/fleet';
import { tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';

export async function breakdown(o: { side: 'service' | 'device'; devices: number; messages: number; window: number; bodyBytes: number }): Promise<Row> {
  const dataDir = tmpDir();
  const { child, info } = await startHub({ dataDir, devices: o.devices });
  let fleet: Fleet | undefined;
  const service = o.side === 'service' ? await openService(info) : undefined;
  try {
    if (o.side === 'device') {
      fleet = new Fleet(info, { transport: 'mqtt', devices: o.devices });
      await fleet.open();
    } else {
      await child.call('autoComplete', { devices: o.devices });
    }
    const body = Buffer.alloc(o.bodyBytes, 'x');
    const run = async (count: number): Promise<number> => {
      const t0 = performance.now();
      if (service) {
        const { completed } = await child.call<{ completed: number }>('stats');
        let next = 0;
        await pool(count, o.window, async () => {
          await sendWithBackpressure(service, `dev-${next++ % o.devices}`, body);
        });
        await child.call('waitCompleted', { count: completed + count });
      } else {
        await child.call('pump', { devices: o.devices, count, window: o.window, bodyBytes: o.bodyBytes });
      }
      return performance.now() - t0;
    };
    await run(Math.min(2000, o.messages)); // warm-up
    const before = await child.call<{ cpuS: number }>('stats');
    const ms = await run(o.messages);
    const after = await child.call<{ cpuS: number }>('stats');
    const cpu = after.cpuS - before.cpuS;
    return {
      scenario: `breakdown: ${o.side === 'service' ? 'service side only' : 'device side only'}`,
      setup:
        o.side === 'service'
          ? `AMQP ServiceClient sends, in-process receivers in the hub complete at once; ${o.devices} devices, ${o.window} in flight`
          : `in-process Hub.send, MQTT DeviceClients receive and complete; ${o.devices} devices, ${o.window} in flight`,
      rate: (o.messages * 1000) / ms,
      hubCpuS: cpu,
      hubCpuUsPerMsg: (cpu * 1e6) / o.messages,
    };
  } finally {
    await fleet?.close();
    await service?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

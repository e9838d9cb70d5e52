/**
 * Scenario 4: N connected, subscribed, idle MQTT devices. The hub's RSS and
 * CPU over an idle window (keep-alives only), after all are connected.
 */
import fs from 'node:fs';
import { Fleet, startHub } from '../lib/fleet';
import { tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';

export async function idleDevices(o: { devices: number; idleSeconds: number }): Promise<Row> {
  const dataDir = tmpDir();
  const { child, info } = await startHub({ dataDir, devices: o.devices });
  let fleet: Fleet | undefined;
  try {
    const base = await child.call<{ rssMB: number }>('stats');
    fleet = new Fleet(info, { transport: 'mqtt', devices: o.devices });
    const t0 = performance.now();
    await fleet.open(100);
    const connectS = (performance.now() - t0) / 1000;
    const before = await child.call<{ cpuS: number }>('stats');
    await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
    const after = await child.call<{ cpuS: number; rssMB: number; maxRssMB: number }>('stats');
    const cpu = after.cpuS - before.cpuS;
    return {
      scenario: '4 idle MQTT devices',
      setup: `${o.devices} devices connected, idle ${o.idleSeconds} s`,
      hubCpuS: cpu,
      hubMaxRssMB: after.maxRssMB,
      note: `RSS ${after.rssMB.toFixed(0)} MB now (${base.rssMB.toFixed(0)} MB before connects, ${(((after.rssMB - base.rssMB) * 1024) / o.devices).toFixed(1)} KB per device); idle CPU ${((cpu / o.idleSeconds) * 100).toFixed(1)}% of a core; connecting all took ${connectS.toFixed(1)} s`,
      target: { text: `RSS <= 300 MB for 10,000 devices`, met: after.rssMB <= 300 * Math.max(1, o.devices / 10_000) && o.devices >= 10_000 },
    };
  } finally {
    await fleet?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

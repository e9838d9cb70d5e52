/**
 * Scenario 5: `perDevice` queued messages on each of `devices` devices
 * (default 50 x 20,000 = 1,000,000), then the hub process is stopped and a
 * new one started on the same data folder. Measured: spawn -> ports bound
 * with state recovered ("serving"), and -> the first message delivered to a
 * device that connects right then.
 */
import fs from 'node:fs';
import { Fleet, startHub } from '../lib/fleet';
import { tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';

export async function restart(o: { devices: number; perDevice: number }): Promise<Row> {
  const dataDir = tmpDir();
  try {
    const t0 = performance.now();
    const first = await startHub({ dataDir, devices: o.devices });
    try {
      await first.child.call('fill', { prefix: 'dev-', devices: o.devices, perDevice: o.perDevice, bodyBytes: 256 });
    } finally {
      await first.child.stop();
    }
    const fillS = (performance.now() - t0) / 1000;
    const t1 = performance.now();
    const spawnedAt = Date.now();
    const second = await startHub({ dataDir, devices: o.devices });
    const servingS = (second.info.startedAtMs - spawnedAt) / 1000;
    const replyS = (Date.now() - spawnedAt) / 1000;
    let fleet: Fleet | undefined;
    try {
      let got: () => void = () => undefined;
      const firstMessage = new Promise<void>((r) => (got = r));
      fleet = new Fleet(second.info, { transport: 'mqtt', devices: 1, onMessage: () => got() });
      await fleet.open();
      await firstMessage;
      const deliveredS = (performance.now() - t1) / 1000;
      const marks = await second.child.call<Record<string, number>>('marks');
      const at = (k: string): string => (marks[k] ? `${((marks[k] - spawnedAt) / 1000).toFixed(2)} s` : '-');
      // Counting loads every deferred queue: done last, with the device gone and every commit done
      // (a completion leaves the queue before its commit and counts as completed after it).
      await fleet.close();
      fleet = undefined;
      const stats = await second.child.call<{ maxRssMB: number; completed: number; hub: { queued: number; locked: number } }>('stats', { idle: true });
      const count = stats.hub.queued + stats.hub.locked + stats.completed;
      const total = o.devices * o.perDevice;
      return {
        scenario: '5 restart with queued messages',
        setup: `${o.perDevice} x ${o.devices} devices = ${total.toLocaleString('en-US')} messages`,
        hubMaxRssMB: stats.maxRssMB,
        note: `serving after ${servingS.toFixed(2)} s (process spawn -> ports bound, state recovered), start reply after ${replyS.toFixed(2)} s, device connected after ${at('firstConnectedAtMs')}, first message delivered after ${at('firstDeliveredAtMs')} (received ${deliveredS.toFixed(2)} s); recovered ${count.toLocaleString('en-US')} messages; filling took ${fillS.toFixed(0)} s`,
        target: { text: 'serving again within 5 s', met: servingS <= 5 && count === total, ratio: servingS / 5 },
      };
    } finally {
      await fleet?.close();
      await second.child.stop();
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

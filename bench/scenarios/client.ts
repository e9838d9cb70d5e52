/**
 * Scenario 7: our DeviceClient against the official azure-iot-device client
 * (both MQTT) on the same stream: the hub pushes `messages` 256-byte messages
 * to the device, the client completes each. Each client runs alone in its own
 * process; we compare its CPU seconds and peak RSS per 10,000 messages.
 */
import fs from 'node:fs';
import { deviceConnectionString, LOAD_CPU, startHub } from '../lib/fleet';
import { Child } from '../lib/ipc';
import { tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';

type Stats = { cpuS: number; userS: number; systemS: number; maxRssMB: number };

async function measure(kind: 'ours' | 'official', deviceId: string, messages: number, bodyBytes: number): Promise<{ cpuPer10k: number; systemShare: number; maxRssMB: number; rate: number }> {
  const dataDir = tmpDir();
  const hub = await startHub({ dataDir, devices: 1, prefix: deviceId });
  // BENCH_CLIENT_PROF=<dir>: the client process writes a CPU profile there.
  const prof = process.env.BENCH_CLIENT_PROF;
  const client = Child.start('lib/client-child', { cpu: LOAD_CPU, nodeArgs: prof ? ['--cpu-prof', '--cpu-prof-dir', `${prof}/${kind}`] : [] });
  try {
    const id = `${deviceId}0`;
    await client.call('open', { kind, connectionString: deviceConnectionString(hub.info, id, 'mqtt'), ca: hub.info.ca });
    const warm = Math.min(1000, messages);
    const w = client.call<Stats>('mark', { count: warm });
    await hub.child.call('stream', { deviceId: id, count: warm, bodyBytes, window: 20 });
    const s0 = await w;
    const t0 = performance.now();
    const done = client.call<Stats>('mark', { count: warm + messages });
    await hub.child.call('stream', { deviceId: id, count: messages, bodyBytes, window: 20 });
    const s1 = await done;
    const ms = performance.now() - t0;
    return { cpuPer10k: ((s1.cpuS - s0.cpuS) * 10_000) / messages, systemShare: (s1.systemS - s0.systemS) / (s1.cpuS - s0.cpuS), maxRssMB: s1.maxRssMB, rate: (messages * 1000) / ms };
  } finally {
    await client.stop();
    await hub.child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function clientCpu(o: { messages: number; bodyBytes: number }): Promise<Row[]> {
  const official = await measure('official', 'official-', o.messages, o.bodyBytes);
  const ours = await measure('ours', 'ours-', o.messages, o.bodyBytes);
  const ratio = ours.cpuPer10k / official.cpuPer10k;
  const row = (name: string, r: typeof ours): Row => ({
    scenario: '7 device client CPU',
    setup: `${name}, mqtt, ${o.messages} msgs`,
    rate: r.rate,
    note: `${name}: ${r.cpuPer10k.toFixed(2)} CPU s per 10,000 messages (${(r.systemShare * 100).toFixed(0)}% of it in the kernel), peak RSS ${r.maxRssMB.toFixed(0)} MB (client process)`,
  });
  return [
    row('official azure-iot-device', official),
    { ...row('our DeviceClient', ours), target: { text: '<= 0.5x the official client CPU per message', met: ratio <= 0.5, ratio } },
  ];
}

/**
 * Scenario 7: our DeviceClient against the official azure-iot-device client
 * (both MQTT) on the same stream: the hub pushes `messages` 256-byte messages
 * to the device, the client completes each. Each client runs alone in its own
 * process; we compare its CPU seconds and peak RSS per 10,000 messages.
 * Same-run floor: a bare MQTT connection on the same stream that only
 * acknowledges each PUBLISH (client-child.ts, kind 'floor'): what any client
 * pays for TLS, the socket and the wake-up per message on this machine.
 */
import fs from 'node:fs';
import { deviceConnectionString, LOAD_CPU, startHub } from '../lib/fleet';
import { Child } from '../lib/ipc';
import { medianBy, tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';
import type { ClientKind } from '../lib/client-child';

type Stats = { cpuS: number; userS: number; systemS: number; maxRssMB: number };

async function measure(
  kind: ClientKind,
  deviceId: string,
  messages: number,
  bodyBytes: number,
): Promise<{ cpuPer10k: number; systemShare: number; maxRssMB: number; rate: number }> {
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
    return {
      cpuPer10k: ((s1.cpuS - s0.cpuS) * 10_000) / messages,
      systemShare: (s1.systemS - s0.systemS) / (s1.cpuS - s0.cpuS),
      maxRssMB: s1.maxRssMB,
      rate: (messages * 1000) / ms,
    };
  } finally {
    await client.stop();
    await hub.child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

type Measured = Awaited<ReturnType<typeof measure>>;

const median = (xs: number[]): number => medianBy(xs, (x) => x);

/** `rounds` interleaved rounds (official, ours, floor): this machine is noisy, so medians, and ratios within a round. */
export async function clientCpu(o: { messages: number; bodyBytes: number; rounds?: number }): Promise<Row[]> {
  const runs: { official: Measured; ours: Measured; floor: Measured }[] = [];
  for (let k = 0; k < (o.rounds ?? 3); k++) {
    const official = await measure('official', `official${k}-`, o.messages, o.bodyBytes);
    const ours = await measure('ours', `ours${k}-`, o.messages, o.bodyBytes);
    const floor = await measure('floor', `floor${k}-`, o.messages, o.bodyBytes);
    runs.push({ official, ours, floor });
  }
  const ratio = median(runs.map((r) => r.ours.cpuPer10k / r.official.cpuPer10k));
  const floorRatio = median(runs.map((r) => r.floor.cpuPer10k / r.official.cpuPer10k));
  const pick = (key: 'official' | 'ours' | 'floor'): Measured => {
    const m = median(runs.map((r) => r[key].cpuPer10k));
    return runs.find((r) => r[key].cpuPer10k === m)![key];
  };
  const spread = (key: 'official' | 'ours' | 'floor'): string => runs.map((r) => r[key].cpuPer10k.toFixed(2)).join(' / ');
  const row = (name: string, key: 'official' | 'ours' | 'floor'): Row => {
    const r = pick(key);
    return {
      scenario: '7 device client CPU',
      setup: `${name}, mqtt, ${o.messages} msgs (median of ${runs.length})`,
      rate: r.rate,
      note: `${name}: ${r.cpuPer10k.toFixed(2)} CPU s per 10,000 messages (runs ${spread(key)}; ${(r.systemShare * 100).toFixed(0)}% of it in the kernel), peak RSS ${r.maxRssMB.toFixed(0)} MB (client process)`,
    };
  };
  const floorRow = row('bare MQTT connection', 'floor');
  return [
    {
      ...floorRow,
      scenario: 'baseline: MQTT over TLS, nothing on top',
      note: `${floorRow.note}: parses each PUBLISH and writes its PUBACK, no message model; median ${floorRatio.toFixed(2)}x the official client's CPU, so that is as low as any client gets on this stream`,
    },
    row('official azure-iot-device', 'official'),
    {
      ...row('our DeviceClient', 'ours'),
      target: { text: '<= 0.5x the official client CPU per message (median of the ratios within a round)', met: ratio <= 0.5, ratio },
    },
  ];
}

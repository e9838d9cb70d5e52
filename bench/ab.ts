/**
 * Same-run comparison of hub builds: `node dist/bench/ab.js [name=<dist dir> ...] [--rounds N]
 * [--messages N] [--devices N] [--only e2e|idle] [--transport mqtt|amqp|...] [--ack none|full] [--e2e-devices N]`. "this" (the build that runs the driver) is
 * always one of them; each other build is another checkout's `dist` (e.g. the code before a
 * change: `git archive <commit> | tar -x -C /tmp/before`, node_modules linked, `npm run build`).
 *
 * Per round, builds in a rotating order, the load always this build's:
 * - scenario 1: 100 devices (--e2e-devices; MQTT unless --transport), ack none unless --ack, 100 sends in
 *   flight: msgs/s and the hub's CPU per message, with raw aedes QoS 1 measured just before each
 *   round, as the target ratio (the ratio is printed for MQTT only: it compares like with like);
 * - scenario 4: `devices` idle MQTT devices: the hub's RSS per device above the bare Node TLS
 *   floor measured in the same round.
 * Prints each run and the median per build. Writes nothing.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { DeviceTransport } from '../lib/client/types';
import type { AckMode } from '../lib/common/message';
import { aedesBaseline } from './baselines';
import { LOAD_CPU } from './lib/fleet';
import { pinSelf } from './lib/ipc';
import { fmt } from './lib/measure';
import { machineLine } from './lib/report';
import { endToEnd } from './scenarios/end-to-end';
import { idleFleet, perDevice, tlsFloor } from './scenarios/idle';

const argv = process.argv.slice(2);
const opt = (name: string, def: number): number => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : def;
};
const only = ((): string | undefined => {
  const i = argv.indexOf('--only');
  return i >= 0 ? argv[i + 1] : undefined;
})();
const optText = (name: string, def: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? String(argv[i + 1]) : def;
};
const transport = optText('transport', 'mqtt') as DeviceTransport;
const ack = optText('ack', 'none') as AckMode;
const rounds = opt('rounds', 3);
const messages = opt('messages', 10_000);
const devices = opt('devices', 2000);
const e2eDevices = opt('e2e-devices', 100);
const builds: { name: string; dir?: string }[] = [{ name: 'this' }];
for (const a of argv) {
  const m = /^([\w.-]+)=(.+)$/.exec(a);
  if (!m) continue;
  const dir = path.resolve(m[2]!);
  if (!fs.existsSync(path.join(dir, 'bench', 'lib', 'hub-child.js'))) throw new Error(`${dir} is not a build's dist (no bench/lib/hub-child.js)`);
  builds.push({ name: m[1]!, dir });
}

/** Runs `fn` with the hub process taken from `dir` (BENCH_HUB_BUILD, fleet.ts). */
async function withBuild<T>(dir: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env.BENCH_HUB_BUILD;
  if (dir) process.env.BENCH_HUB_BUILD = dir;
  else delete process.env.BENCH_HUB_BUILD;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.BENCH_HUB_BUILD;
    else process.env.BENCH_HUB_BUILD = before;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  pinSelf(LOAD_CPU);
  console.log(machineLine());
  const e2e = new Map<string, { rate: number; cpu: number; ratio: number }[]>(builds.map((b) => [b.name, []]));
  const idle = new Map<string, { above: number; perDevice: number; heap: number }[]>(builds.map((b) => [b.name, []]));
  for (let r = 0; r < rounds; r++) {
    const order = builds.map((_, i) => builds[(i + r) % builds.length]!);
    if (only !== 'idle') {
      const aedes = await aedesBaseline({ subscribers: 100, messages, window: 100, bodyBytes: 256 });
      // Printed for every transport: it shows how fast the machine is this round.
      console.log(`round ${r + 1} raw aedes QoS 1: ${fmt(aedes.perSec)} msgs/s, ${fmt((aedes.serverCpuS * 1e6) / messages)} µs/msg`);
      for (const b of order) {
        const row = await withBuild(b.dir, () => endToEnd({ transport, devices: e2eDevices, ack, messages, window: 100, bodyBytes: 256 }));
        const run = { rate: row.rate, cpu: row.hubCpuUsPerMsg ?? NaN, ratio: transport === 'mqtt' ? row.rate / aedes.perSec : NaN };
        e2e.get(b.name)!.push(run);
        console.log(
          `round ${r + 1} scenario 1 (${transport}, ${e2eDevices} devices, ack ${ack}) ${b.name}: ${fmt(run.rate)} msgs/s, hub ${fmt(run.cpu)} µs/msg, load ${fmt(row.loadCpuUsPerMsg ?? NaN)} µs/msg, ${transport === 'mqtt' ? `ratio to aedes ${run.ratio.toFixed(2)}, ` : ''}p99 ${fmt(row.latency?.p99 ?? NaN, 1)} ms; ${row.note}`,
        );
      }
    }
    if (only !== 'e2e') {
      const floor = await tlsFloor(devices);
      console.log(`round ${r + 1} bare TLS floor: ${floor.perConnKB.toFixed(1)} KB per connection`);
      for (const b of order) {
        const f = await withBuild(b.dir, () => idleFleet('mqtt', devices, 3000));
        const per = perDevice(f.base, f.after, devices);
        const run = { above: per.rssKB - floor.perConnKB, perDevice: per.rssKB, heap: per.heapKB };
        idle.get(b.name)!.push(run);
        console.log(
          `round ${r + 1} scenario 4 ${b.name}: ${run.perDevice.toFixed(1)} KB per device (heap ${run.heap.toFixed(1)}), ${run.above.toFixed(1)} KB above the floor`,
        );
      }
    }
  }
  console.log('\nmedians:');
  for (const b of builds) {
    const e = e2e.get(b.name)!;
    const i = idle.get(b.name)!;
    const parts: string[] = [];
    if (e.length)
      parts.push(
        `scenario 1 (${transport}, ${e2eDevices} devices, ack ${ack}) ${fmt(median(e.map((x) => x.rate)))} msgs/s, hub ${fmt(median(e.map((x) => x.cpu)))} µs/msg (runs ${e.map((x) => fmt(x.cpu)).join(' / ')})` +
          (transport === 'mqtt' ? `, ratio to aedes ${median(e.map((x) => x.ratio)).toFixed(2)} (${e.map((x) => x.ratio.toFixed(2)).join(' / ')})` : ''),
      );
    if (i.length)
      parts.push(
        `scenario 4 ${median(i.map((x) => x.above)).toFixed(1)} KB per idle device above the TLS floor (runs ${i.map((x) => x.above.toFixed(1)).join(' / ')}; heap ${median(i.map((x) => x.heap)).toFixed(1)} KB)`,
      );
    console.log(`${b.name}: ${parts.join('; ')}`);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

/**
 * Our DeviceClient vs the official azure-iot-device client (both MQTT over
 * TLS) receiving the same stream of messages through the embedded hub. Each
 * client runs alone in a child process, so its CPU time (process.cpuUsage)
 * and RSS are its own; the hub runs in this process and keeps ~200 messages
 * queued ahead of the client. Prints CPU ms and RSS growth per 10k messages
 * and the ratio ours / official.
 *
 * Run: npm run build && node dist/bench/client.js [messages=10000] [rounds=3]
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { DeviceClient } from '../lib/client/device-client';
import { NoRetry } from '../lib/common/retry';
import { EmbeddedHub } from '../lib/hub/embedded';

interface Result {
  cpuMs: number;
  rssGrowthMb: number;
  peakRssMb: number;
  wallMs: number;
}

const AHEAD = 200;

async function child(kind: string, cs: string, caFile: string, n: number): Promise<void> {
  const { readFileSync } = await import('node:fs');
  const ca = readFileSync(caFile, 'utf8');
  let received = 0;
  let peak = 0;
  const rss0 = process.memoryUsage().rss;
  let t0 = 0;
  let cpu0 = process.cpuUsage();
  const done = new Promise<void>((resolve) => {
    const onOne = (): void => {
      received++;
      if (received === 1) {
        t0 = Date.now();
        cpu0 = process.cpuUsage();
      }
      if (received % 500 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      if (received === n) resolve();
    };
    void (async () => {
      if (kind === 'ours') {
        const c = DeviceClient.fromConnectionString(cs, { transport: 'mqtt', ca, retryPolicy: new NoRetry() });
        c.on('message', (m) => void c.complete(m).then(onOne));
        await c.open();
        await done;
        await c.close();
      } else {
        const { Client } = await import('azure-iot-device');
        const { Mqtt } = await import('azure-iot-device-mqtt');
        const c = Client.fromConnectionString(cs, Mqtt);
        await c.setOptions({ ca });
        c.on('message', (m) => c.complete(m, onOne));
        await c.open();
        await done;
        await c.close();
      }
    })();
  });
  await done;
  const cpu = process.cpuUsage(cpu0);
  const rss = process.memoryUsage().rss;
  const r: Result = {
    cpuMs: (cpu.user + cpu.system) / 1000,
    rssGrowthMb: (Math.max(peak, rss) - rss0) / 2 ** 20,
    peakRssMb: Math.max(peak, rss) / 2 ** 20,
    wallMs: Date.now() - t0,
  };
  process.send?.(r);
}

async function runOne(hub: EmbeddedHub, kind: string, deviceId: string, caFile: string, n: number): Promise<Result> {
  const d = await hub.hub.registry.createDevice({ deviceId });
  const cs = `HostName=localhost:${hub.ports.mqtts};DeviceId=${deviceId};SharedAccessKey=${d.authentication.symmetricKey.primaryKey}`;
  let sent = 0;
  const sendOne = (): void => {
    if (sent >= n) return;
    sent++;
    void hub.hub.send(deviceId, { body: Buffer.alloc(256, 97), properties: { seq: String(sent) } });
  };
  const onCompleted = (e: { deviceId: string }): void => {
    if (e.deviceId === deviceId) sendOne();
  };
  hub.hub.events.on('completed', onCompleted);
  for (let i = 0; i < AHEAD; i++) sendOne();
  const proc = fork(__filename, ['--child', kind, cs, caFile, String(n)], { stdio: 'inherit' });
  const result = await new Promise<Result>((resolve, reject) => {
    proc.once('message', (m) => resolve(m as Result));
    proc.once('exit', (code) => reject(new Error(`${kind} child exited ${code}`)));
  });
  await new Promise((r) => proc.once('exit', r));
  hub.hub.events.off('completed', onCompleted);
  return result;
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 10_000);
  const rounds = Number(process.argv[3] ?? 3);
  const hub = await EmbeddedHub.start({
    ports: { amqps: false, https: false, mqtts: 0 },
    host: '127.0.0.1',
    limits: { maxQueueDepth: 1000 },
    synchronous: 'NORMAL',
  });
  const dir = mkdtempSync(path.join(tmpdir(), 'c2d-bench-'));
  const caFile = path.join(dir, 'ca.pem');
  writeFileSync(caFile, hub.tls.cert);
  const per10k = (r: Result): string =>
    `${((r.cpuMs * 10_000) / n).toFixed(0)} ms CPU, +${r.rssGrowthMb.toFixed(1)} MB RSS (peak ${r.peakRssMb.toFixed(0)} MB), ${((n / r.wallMs) * 1000).toFixed(0)} msg/s`;
  try {
    for (let round = 1; round <= rounds; round++) {
      const sdk = await runOne(hub, 'sdk', `sdk-${round}`, caFile, n);
      const ours = await runOne(hub, 'ours', `ours-${round}`, caFile, n);
      console.log(`round ${round}: official ${per10k(sdk)}`);
      console.log(`round ${round}: ours     ${per10k(ours)}`);
      console.log(
        `round ${round}: CPU ratio ours/official ${(ours.cpuMs / sdk.cpuMs).toFixed(2)}, peak RSS ratio ${(ours.peakRssMb / sdk.peakRssMb).toFixed(2)}`,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await hub.close();
  }
}

if (process.argv[2] === '--child') {
  child(process.argv[3] as string, process.argv[4] as string, process.argv[5] as string, Number(process.argv[6])).catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}

/**
 * Engine benchmark: durable C2D sends per second with group commit, against
 * the raw better-sqlite3 baseline in the same run.
 *
 * Engine: D devices, N waves; each wave sends one message to every device
 * concurrently (D sends in flight, so each group commit holds D sends) and
 * waits for all of them to be acknowledged (committed, synchronous FULL, WAL).
 * Baseline: the same number of rows of the same size inserted straight into
 * SQLite, one transaction per group of D rows, synchronous FULL, WAL.
 *
 * Run: npm run build && node dist/bench/engine.js [devices] [waves]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Hub } from '../lib/hub';
import { sqliteGroupCommitRate } from './lib/sqlite-baseline';

const DEVICES = Number(process.argv[2] ?? 100);
const WAVES = Number(process.argv[3] ?? 100);
const BODY = Buffer.alloc(256, 'x');

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-bench-'));
}

async function engineRate(): Promise<{ perSec: number; ms: number }> {
  const dir = tmp();
  const hub = await Hub.open({ dataDir: dir, limits: { maxQueueDepth: WAVES + 1 } });
  try {
    const ids = Array.from({ length: DEVICES }, (_, i) => `bench-${i}`);
    for (const id of ids) await hub.registry.createDevice({ deviceId: id });
    const t0 = process.hrtime.bigint();
    for (let w = 0; w < WAVES; w++) {
      await Promise.all(ids.map((id) => hub.send(id, { body: BODY, ack: 'full', properties: { wave: String(w) } })));
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { perSec: (DEVICES * WAVES * 1000) / ms, ms };
  } finally {
    await hub.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Raw inserts, `groupSize` rows per transaction, `rows` rows in all. */
function baselineRate(groupSize = DEVICES, rows = DEVICES * WAVES): { perSec: number; ms: number } {
  return sqliteGroupCommitRate(groupSize, rows, BODY.length, DEVICES);
}

async function main(): Promise<void> {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
  console.log(`machine: ${os.cpus().length} cpus (${cpu}), node ${process.version}, tmpdir ${os.tmpdir()}`);
  console.log(`${DEVICES} devices x ${WAVES} waves = ${DEVICES * WAVES} sends, group of ${DEVICES}, synchronous FULL, WAL`);
  // Order alternates so that neither side always runs on a warmer disk.
  const swap = process.env.BENCH_ENGINE_FIRST === '1';
  const eng0 = swap ? await engineRate() : undefined;
  const base = baselineRate();
  const eng = eng0 ?? (await engineRate());
  console.log(`raw better-sqlite3 inserts: ${base.perSec.toFixed(0)} rows/s (${base.ms.toFixed(0)} ms)`);
  console.log(`engine durable sends:       ${eng.perSec.toFixed(0)} sends/s (${eng.ms.toFixed(0)} ms)`);
  console.log(`ratio engine/baseline:      ${(eng.perSec / base.perSec).toFixed(2)}`);
  // For scale: what group commit saves. One fsync'd transaction per row.
  const single = baselineRate(1, 1000);
  console.log(`(raw, one transaction per row: ${single.perSec.toFixed(0)} rows/s)`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});

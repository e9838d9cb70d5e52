/**
 * Raw better-sqlite3 group-commit baseline: rows of the same shape and size
 * as the engine's message rows (256-byte body plus metadata JSON), one
 * transaction per group, WAL with synchronous FULL, as the hub's store.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';

export function sqliteGroupCommitRate(groupSize: number, rows: number, bodyBytes = 256, devices = groupSize): { perSec: number; ms: number } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-bench-'));
  const db = new Database(path.join(dir, 'raw.db'));
  const body = Buffer.alloc(bodyBytes, 'x');
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec(
      'CREATE TABLE rows (device_id TEXT NOT NULL, seq INTEGER NOT NULL, delivery_count INTEGER NOT NULL, body BLOB NOT NULL, meta TEXT NOT NULL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID',
    );
    const insert = db.prepare('INSERT INTO rows VALUES (?, ?, ?, ?, ?)');
    // Meta of the same length as the engine's row (ids, to, expiry, ack, properties).
    const meta = JSON.stringify({
      messageId: '00000000-0000-0000-0000-000000000000',
      to: '/devices/bench-00/messages/devicebound',
      expiryTimeUtc: Date.now(),
      ack: 'full',
      properties: { wave: '00' },
      enqueuedTimeUtc: Date.now(),
    });
    let n = 0;
    const group = db.transaction(() => {
      for (let i = 0; i < groupSize; i++, n++) insert.run(`bench-${n % devices}`, n, 0, body, meta);
    });
    const t0 = process.hrtime.bigint();
    while (n < rows) group();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { perSec: (n * 1000) / ms, ms };
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Latency of one small durable commit (one row, WAL, synchronous FULL), `count`
 * times at `ratePerSec`: the floor under any send -> commit -> deliver latency
 * on this disk.
 */
export async function sqliteCommitLatency(count: number, ratePerSec: number, bodyBytes = 256): Promise<number[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-bench-'));
  const db = new Database(path.join(dir, 'raw.db'));
  const body = Buffer.alloc(bodyBytes, 'x');
  const out: number[] = [];
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE rows (id INTEGER PRIMARY KEY, body BLOB NOT NULL)');
    const insert = db.prepare('INSERT INTO rows (id, body) VALUES (?, ?)');
    const one = db.transaction((i: number) => insert.run(i, body));
    const gap = 1000 / ratePerSec;
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      one(i);
      const ms = performance.now() - t0;
      out.push(ms);
      if (ms < gap) await new Promise((r) => setTimeout(r, gap - ms));
    }
    return out;
  } finally {
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

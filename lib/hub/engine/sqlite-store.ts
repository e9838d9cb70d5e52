/**
 * The Store on SQLite (better-sqlite3): WAL journal, synchronous FULL by
 * default, prepared statements, group commit.
 *
 * Schema (one file, hub.db):
 *   meta(key PK, value)                         schema version
 *   devices(device_id PK, json)                 DeviceRecord as JSON (keys included)
 *   policies(key_name PK, json)                 SharedAccessPolicy as JSON
 *   messages(device_id, seq, delivery_count,    one row per pending C2D message;
 *            body BLOB, meta JSON)  PK(device_id, seq)   meta = the other C2DMessage fields
 *   sequences(device_id PK, last_seq)           last sequence number handed out per device
 *   dead_letters(device_id, seq, reason, at,    kept dead letters (rowid = the order they were
 *            delivery_count, body, meta)         dead-lettered); meta as in messages
 *   feedback_pending(id PK, added_at, json)     records not yet batched, rowid = arrival order
 *   feedback_batches(id PK, enqueued, expires,  feedback messages, rowid = creation order
 *            delivery_count, json)
 *
 * Group commit: write() queues its operations and, once per tick
 * (setImmediate), runs everything queued in ONE transaction, then resolves
 * every caller. better-sqlite3 is synchronous, so nothing can arrive while a
 * COMMIT runs; whatever arrives during the tick after it joins the next group.
 *
 * Lazy writes (MQTT PUBACKs, presettled AMQP outcomes, expired locks: nobody
 * outside the hub waits on them) do not start a group of their own at once: they join the next group
 * a send or an API call starts, or commit after LAZY_COMMIT_MS. A completed
 * message is a delete in the next commit; a crash before it means the message
 * is delivered again (at least once), never lost. At a steady trickle of sends
 * this halves the commits (each one an fsync): a send and the completion of
 * the one before it share one.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { SharedAccessPolicy, StoreSynchronous } from '../api';
import type { C2DMessage } from '../../common/message';
import type { DeadLetter } from './dead-letters';
import type { FeedbackBatchState, PendingRecord } from './feedback';
import type { DeviceRecord, Store, StoreOp, StoredState, WriteOptions } from './store';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices (device_id TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS policies (key_name TEXT PRIMARY KEY, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, delivery_count INTEGER NOT NULL,
  body BLOB NOT NULL, meta TEXT NOT NULL, PRIMARY KEY (device_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sequences (device_id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS dead_letters (
  device_id TEXT NOT NULL, seq INTEGER NOT NULL, reason TEXT NOT NULL, at INTEGER NOT NULL,
  delivery_count INTEGER NOT NULL, body BLOB NOT NULL, meta TEXT NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS dead_letters_key ON dead_letters (device_id, seq);
CREATE TABLE IF NOT EXISTS feedback_pending (id TEXT PRIMARY KEY, added_at INTEGER NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS feedback_batches (
  id TEXT PRIMARY KEY, enqueued INTEGER NOT NULL, expires INTEGER NOT NULL,
  delivery_count INTEGER NOT NULL, json TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', '1');
`;

const SELECT_MESSAGES = 'SELECT device_id, seq, delivery_count, body, meta FROM messages';

/** SQLite's `PRAGMA synchronous` levels (1 NORMAL, 2 FULL) by the names the hub uses. */
const SYNCHRONOUS_LEVELS: Record<number, StoreSynchronous> = { 1: 'NORMAL', 2: 'FULL' };

/** How long a lazy write waits for a group to join before it commits on its own. */
export const LAZY_COMMIT_MS = 5;

interface Waiter {
  ops: StoreOp[];
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** One commit as an observer (metrics) sees it; `error` when the transaction failed and its writers were rejected. */
export interface CommitInfo {
  /** Time in the transaction, COMMIT (and its sync) included. */
  durationMs: number;
  /** Writes (callers) that shared the commit. */
  writes: number;
  /** Store operations it held. */
  ops: number;
  error?: unknown;
}

export interface SqliteStoreOptions {
  /** Folder for hub.db (created if missing); undefined = in memory. */
  dataDir?: string;
  /** Default FULL; see StoreSynchronous for what each value survives. */
  synchronous?: StoreSynchronous;
  /** How long a lazy write waits for a group (default LAZY_COMMIT_MS); tests set a long one to see the joining alone. */
  lazyCommitMs?: number;
  /** Told after each commit (observation only: it cannot delay or fail the commit). */
  onCommit?: (info: CommitInfo) => void;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly run: (ops: StoreOp[]) => void;
  private queue: Waiter[] = [];
  /** A flush is set for the next turn (setImmediate): someone waits on the group. */
  private flushScheduled = false;
  /** Only lazy writes are queued: they commit when this fires, unless a group took them first. */
  private lazyTimer: NodeJS.Timeout | undefined;
  private readonly lazyCommitMs: number;
  private readonly onCommit: ((info: CommitInfo) => void) | undefined;
  /** Transactions committed so far (tests and the bench check group commit with it). */
  commits = 0;
  readonly synchronous: StoreSynchronous;

  constructor(options: SqliteStoreOptions = {}) {
    this.lazyCommitMs = options.lazyCommitMs ?? LAZY_COMMIT_MS;
    this.onCommit = options.onCommit;
    let file = ':memory:';
    if (options.dataDir !== undefined) {
      fs.mkdirSync(options.dataDir, { recursive: true });
      file = path.join(options.dataDir, 'hub.db');
    }
    this.db = new Database(file);
    try {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma(`synchronous = ${options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
      // Read back, not echoed: what SQLite runs with is what stats() and the banners report.
      this.synchronous = SYNCHRONOUS_LEVELS[this.db.pragma('synchronous', { simple: true }) as number] ?? 'FULL';
      this.db.exec(SCHEMA);
      this.run = this.prepareWriter();
    } catch (e) {
      // E.g. a read-only folder: do not leave the file open behind a hub that never started.
      this.db.close();
      throw e;
    }
  }

  private prepareWriter(): (ops: StoreOp[]) => void {
    const db = this.db;
    const s = {
      insertMessage: db.prepare('INSERT INTO messages (device_id, seq, delivery_count, body, meta) VALUES (?, ?, ?, ?, ?)'),
      setDeliveryCount: db.prepare('UPDATE messages SET delivery_count = ? WHERE device_id = ? AND seq = ?'),
      deleteMessage: db.prepare('DELETE FROM messages WHERE device_id = ? AND seq = ?'),
      setSequence: db.prepare('INSERT INTO sequences (device_id, last_seq) VALUES (?, ?) ON CONFLICT (device_id) DO UPDATE SET last_seq = excluded.last_seq'),
      deleteMessages: db.prepare('DELETE FROM messages WHERE device_id = ?'),
      deleteSequence: db.prepare('DELETE FROM sequences WHERE device_id = ?'),
      insertDeadLetter: db.prepare('INSERT OR REPLACE INTO dead_letters (device_id, seq, reason, at, delivery_count, body, meta) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      deleteDeadLetter: db.prepare('DELETE FROM dead_letters WHERE device_id = ? AND seq = ?'),
      deleteDeadLetters: db.prepare('DELETE FROM dead_letters WHERE device_id = ?'),
      putDevice: db.prepare('INSERT OR REPLACE INTO devices (device_id, json) VALUES (?, ?)'),
      deleteDevice: db.prepare('DELETE FROM devices WHERE device_id = ?'),
      putPolicy: db.prepare('INSERT OR REPLACE INTO policies (key_name, json) VALUES (?, ?)'),
      deletePolicy: db.prepare('DELETE FROM policies WHERE key_name = ?'),
      insertPending: db.prepare('INSERT INTO feedback_pending (id, added_at, json) VALUES (?, ?, ?)'),
      deletePending: db.prepare('DELETE FROM feedback_pending WHERE id = ?'),
      insertBatch: db.prepare('INSERT INTO feedback_batches (id, enqueued, expires, delivery_count, json) VALUES (?, ?, ?, ?, ?)'),
      setBatchDeliveryCount: db.prepare('UPDATE feedback_batches SET delivery_count = ? WHERE id = ?'),
      deleteBatch: db.prepare('DELETE FROM feedback_batches WHERE id = ?'),
    };
    const one = (op: StoreOp): void => {
      switch (op.t) {
        case 'insertMessage': {
          const { body, deviceId, sequenceNumber, deliveryCount, ...meta } = op.message;
          s.insertMessage.run(deviceId, sequenceNumber, deliveryCount, body, JSON.stringify(meta));
          return;
        }
        case 'setDeliveryCount':
          s.setDeliveryCount.run(op.deliveryCount, op.deviceId, op.sequenceNumber);
          return;
        case 'deleteMessage':
          s.deleteMessage.run(op.deviceId, op.sequenceNumber);
          return;
        case 'setSequence':
          s.setSequence.run(op.deviceId, op.sequenceNumber);
          return;
        case 'deleteQueue':
          s.deleteMessages.run(op.deviceId);
          s.deleteSequence.run(op.deviceId);
          s.deleteDeadLetters.run(op.deviceId);
          return;
        case 'insertDeadLetter': {
          const { body, deviceId, sequenceNumber, deliveryCount, ...meta } = op.deadLetter.message;
          s.insertDeadLetter.run(deviceId, sequenceNumber, op.deadLetter.reason, op.deadLetter.deadLetteredTimeUtc, deliveryCount, body, JSON.stringify(meta));
          return;
        }
        case 'deleteDeadLetters':
          for (const seq of op.sequenceNumbers) s.deleteDeadLetter.run(op.deviceId, seq);
          return;
        case 'putDevice':
          s.putDevice.run(op.device.deviceId, JSON.stringify(op.device));
          return;
        case 'deleteDevice':
          s.deleteDevice.run(op.deviceId);
          return;
        case 'putPolicy':
          s.putPolicy.run(op.policy.keyName, JSON.stringify(op.policy));
          return;
        case 'deletePolicy':
          s.deletePolicy.run(op.keyName);
          return;
        case 'insertPending':
          s.insertPending.run(op.pending.id, op.pending.addedAtUtc, JSON.stringify(op.pending.record));
          return;
        case 'deletePending':
          for (const id of op.ids) s.deletePending.run(id);
          return;
        case 'insertBatch': {
          const b = op.batch;
          s.insertBatch.run(b.id, b.enqueuedTimeUtc, b.expiresAtUtc, b.deliveryCount, JSON.stringify(b.records));
          return;
        }
        case 'setBatchDeliveryCount':
          s.setBatchDeliveryCount.run(op.deliveryCount, op.id);
          return;
        case 'deleteBatch':
          s.deleteBatch.run(op.id);
          return;
      }
    };
    return db.transaction((ops: StoreOp[]) => {
      // Only the last sequence number per device in a group matters: write it once.
      const lastSeq = new Map<string, StoreOp>();
      for (const op of ops) if (op.t === 'setSequence') lastSeq.set(op.deviceId, op);
      for (const op of ops) if (op.t !== 'setSequence' || lastSeq.get(op.deviceId) === op) one(op);
    });
  }

  load(options: { deferMessages?: boolean } = {}): StoredState {
    const db = this.db;
    const devices = (db.prepare('SELECT json FROM devices').all() as { json: string }[]).map((r) => JSON.parse(r.json) as DeviceRecord);
    const policies = (db.prepare('SELECT json FROM policies').all() as { json: string }[]).map((r) => JSON.parse(r.json) as SharedAccessPolicy);
    const messages = options.deferMessages ? [] : this.readMessages(db.prepare(`${SELECT_MESSAGES} ORDER BY device_id, seq`));
    const sequences = new Map<string, number>();
    for (const r of db.prepare('SELECT device_id, last_seq FROM sequences').all() as { device_id: string; last_seq: number }[]) {
      sequences.set(r.device_id, r.last_seq);
    }
    const deadLetters = (
      db.prepare('SELECT device_id, seq, reason, at, delivery_count, body, meta FROM dead_letters ORDER BY rowid').raw(true).all() as [
        string,
        number,
        string,
        number,
        number,
        Buffer,
        string,
      ][]
    ).map((r): DeadLetter => {
      const message = JSON.parse(r[6]) as C2DMessage;
      message.body = r[5];
      message.deviceId = r[0];
      message.sequenceNumber = r[1];
      message.deliveryCount = r[4];
      return { message, reason: r[2] as DeadLetter['reason'], deadLetteredTimeUtc: r[3] };
    });
    const pendingFeedback = (
      db.prepare('SELECT id, added_at, json FROM feedback_pending ORDER BY rowid').all() as { id: string; added_at: number; json: string }[]
    ).map((r): PendingRecord => ({ id: r.id, addedAtUtc: r.added_at, record: JSON.parse(r.json) }));
    const feedbackBatches = (
      db.prepare('SELECT id, enqueued, expires, delivery_count, json FROM feedback_batches ORDER BY rowid').all() as {
        id: string;
        enqueued: number;
        expires: number;
        delivery_count: number;
        json: string;
      }[]
    ).map((r): FeedbackBatchState => ({
      id: r.id,
      enqueuedTimeUtc: r.enqueued,
      expiresAtUtc: r.expires,
      deliveryCount: r.delivery_count,
      records: JSON.parse(r.json),
    }));
    return {
      devices,
      policies,
      messages,
      sequences,
      deadLetters,
      pendingFeedback,
      feedbackBatches,
      ...(options.deferMessages ? { messagesDeferred: true } : {}),
    };
  }

  /** One device's stored messages in sequence order (recovery that loads queues as they are needed). */
  loadQueue(deviceId: string): C2DMessage[] {
    this.selectQueue ??= this.db.prepare(`${SELECT_MESSAGES} WHERE device_id = ? ORDER BY seq`);
    return this.readMessages(this.selectQueue, deviceId);
  }

  private selectQueue: Database.Statement | undefined;

  // Rows as arrays and one object per message (no per-row object plus spread copy): recovering
  // a million queued messages is bounded by allocation and GC, not by SQLite.
  private readMessages(statement: Database.Statement, ...params: unknown[]): C2DMessage[] {
    const out: C2DMessage[] = [];
    for (const r of statement.raw(true).iterate(...params) as IterableIterator<[string, number, number, Buffer, string]>) {
      const m = JSON.parse(r[4]) as C2DMessage;
      m.body = r[3];
      m.deviceId = r[0];
      m.sequenceNumber = r[1];
      m.deliveryCount = r[2];
      out.push(m);
    }
    return out;
  }

  write(ops: StoreOp[], options?: WriteOptions): Promise<void> {
    if (!this.db.open) return Promise.reject(new Error('The hub store is closed.'));
    if (ops.length === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      if (this.flushScheduled) return;
      if (!options?.lazy) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      } else if (!this.lazyTimer) {
        this.lazyTimer = setTimeout(() => this.flush(), this.lazyCommitMs);
      }
    });
  }

  /** Commits everything queued as one transaction and settles every waiter. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.lazyTimer) clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    const group = this.queue;
    this.queue = [];
    if (group.length === 0) return;
    const ops = group.flatMap((w) => w.ops);
    const started = this.onCommit ? performance.now() : 0;
    try {
      this.run(ops);
      this.commits++;
    } catch (e) {
      this.observe(started, group.length, ops.length, e);
      for (const w of group) w.reject(e);
      return;
    }
    this.observe(started, group.length, ops.length);
    for (const w of group) w.resolve();
  }

  private observe(started: number, writes: number, ops: number, error?: unknown): void {
    if (!this.onCommit) return;
    try {
      this.onCommit({ durationMs: performance.now() - started, writes, ops, ...(error !== undefined ? { error } : {}) });
    } catch {
      // An observer's failure is its own: the commit stands.
    }
  }

  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }
}

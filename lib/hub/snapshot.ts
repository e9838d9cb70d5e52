/**
 * Export, import and reset of a stopped hub's store (`<dataDir>/hub.db`),
 * through the store itself: SqliteStore.load() reads what a hub would
 * recover, and the store's own operations (StoreOp) write, so a snapshot
 * holds exactly what the hub persists and an import is what the hub itself
 * would have written.
 *
 * The JSON has a format name, a version and one section per kind of state,
 * so a section can be added (as kept dead letters were) without breaking old files;
 * an importer refuses a section or version it does not know rather than
 * drop it silently.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import type { C2DMessage } from '../common/message';
import type { SharedAccessPolicy } from './api';
import type { DeadLetter } from './engine/dead-letters';
import type { FeedbackBatchState, PendingRecord } from './engine/feedback';
import { SqliteStore } from './engine/sqlite-store';
import type { DeviceRecord, StoreOp, StoredState } from './engine/store';

export const SNAPSHOT_FORMAT = 'c2d-hub-store';
export const SNAPSHOT_VERSION = 1;

/** A message as JSON: the body in base64, every other field as the store keeps it. */
export type MessageJson = Omit<C2DMessage, 'body'> & { body: string };

export interface Snapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  exportedAt: string;
  /** Devices (keys included: a snapshot is as secret as the store) and shared access policies. */
  registry: { devices: DeviceRecord[]; policies: SharedAccessPolicy[] };
  /** Pending messages (a locked one comes back Enqueued, as after any restart) and each device's last sequence number. */
  queues: { messages: MessageJson[]; sequences: Record<string, number> };
  /** Feedback records not yet batched, and feedback messages not yet completed. */
  feedback: { pending: PendingRecord[]; batches: FeedbackBatchState[] };
  /** Kept dead letters, oldest first (absent in exports made before hubs kept them: none). */
  deadLetters?: DeadLetterJson[];
}

/** A kept dead letter as JSON: the message as in `queues`, why and when it was dead-lettered. */
export type DeadLetterJson = { message: MessageJson; reason: DeadLetter['reason']; deadLetteredTimeUtc: number };

const SECTIONS = ['format', 'version', 'exportedAt', 'registry', 'queues', 'feedback', 'deadLetters'];

export interface SnapshotCounts {
  devices: number;
  policies: number;
  messages: number;
  feedbackRecords: number;
  feedbackBatches: number;
  deadLetters: number;
}

const dbFile = (dataDir: string): string => path.join(dataDir, 'hub.db');

/**
 * Fails unless no other connection has the store open: SQLite refuses the
 * exclusive lock while a hub (any process) holds the database in WAL mode.
 */
function assertStopped(dataDir: string): void {
  const db = new Database(dbFile(dataDir), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') throw new Error(`The store in ${dataDir} is in use by a running hub: stop it first.`);
    throw e;
  } finally {
    db.close();
  }
}

/** Opens an existing stopped store; `create`: a new store may be made. */
function openStopped(dataDir: string, create: boolean): SqliteStore {
  if (!fs.existsSync(dbFile(dataDir))) {
    if (!create) throw new Error(`There is no hub store in ${dataDir} (no hub.db).`);
  } else assertStopped(dataDir);
  return new SqliteStore({ dataDir });
}

function countsOf(s: StoredState): SnapshotCounts {
  return {
    devices: s.devices.length,
    policies: s.policies.length,
    messages: s.messages.length,
    feedbackRecords: s.pendingFeedback.length,
    feedbackBatches: s.feedbackBatches.length,
    deadLetters: s.deadLetters.length,
  };
}

export function exportStore(dataDir: string): { snapshot: Snapshot; counts: SnapshotCounts } {
  const store = openStopped(dataDir, false);
  try {
    const s = store.load();
    const snapshot: Snapshot = {
      format: SNAPSHOT_FORMAT,
      version: SNAPSHOT_VERSION,
      exportedAt: new Date().toISOString(),
      registry: { devices: s.devices, policies: s.policies },
      queues: { messages: s.messages.map((m) => ({ ...m, body: m.body.toString('base64') })), sequences: Object.fromEntries(s.sequences) },
      feedback: { pending: s.pendingFeedback, batches: s.feedbackBatches },
      deadLetters: s.deadLetters.map((d) => ({
        message: { ...d.message, body: d.message.body.toString('base64') },
        reason: d.reason,
        deadLetteredTimeUtc: d.deadLetteredTimeUtc,
      })),
    };
    return { snapshot, counts: countsOf(s) };
  } finally {
    store.close();
  }
}

/** Checks a parsed snapshot's frame; the records inside are the store's own shapes. */
export function checkSnapshot(value: unknown): Snapshot {
  const o = value as Partial<Snapshot> | null;
  if (typeof o !== 'object' || o === null || o.format !== SNAPSHOT_FORMAT) throw new Error(`Not a c2d-hub export (no "format": "${SNAPSHOT_FORMAT}").`);
  if (o.version !== SNAPSHOT_VERSION) throw new Error(`This c2d-hub reads export version ${SNAPSHOT_VERSION}, the file is version ${String(o.version)}.`);
  for (const k of Object.keys(o))
    if (!SECTIONS.includes(k)) throw new Error(`The export has a section '${k}' this c2d-hub does not know; use a c2d-hub that does.`);
  const arrays: Array<[unknown, string]> = [
    [o.registry?.devices, 'registry.devices'],
    [o.registry?.policies, 'registry.policies'],
    [o.queues?.messages, 'queues.messages'],
    [o.feedback?.pending, 'feedback.pending'],
    [o.feedback?.batches, 'feedback.batches'],
    ...(o.deadLetters !== undefined ? [[o.deadLetters, 'deadLetters'] as [unknown, string]] : []),
  ];
  for (const [a, name] of arrays) if (!Array.isArray(a)) throw new Error(`The export has no ${name} list.`);
  if (typeof o.queues?.sequences !== 'object' || o.queues.sequences === null) throw new Error('The export has no queues.sequences object.');
  return o as Snapshot;
}

/** Store ops that empty what `s` holds; `keepRegistry` leaves devices and policies. */
function emptyingOps(s: StoredState, keepRegistry: boolean): StoreOp[] {
  const ops: StoreOp[] = [];
  const queues = new Set<string>([...s.devices.map((d) => d.deviceId), ...s.messages.map((m) => m.deviceId), ...s.sequences.keys()]);
  for (const deviceId of queues) ops.push({ t: 'deleteQueue', deviceId });
  if (s.pendingFeedback.length > 0) ops.push({ t: 'deletePending', ids: s.pendingFeedback.map((p) => p.id) });
  for (const b of s.feedbackBatches) ops.push({ t: 'deleteBatch', id: b.id });
  if (!keepRegistry) {
    for (const d of s.devices) ops.push({ t: 'deleteDevice', deviceId: d.deviceId });
    for (const p of s.policies) ops.push({ t: 'deletePolicy', keyName: p.keyName });
  }
  return ops;
}

/**
 * Loads a snapshot into the store of `dataDir` (created when missing). A store
 * that holds anything is only replaced with `force`.
 */
export async function importStore(dataDir: string, snapshot: Snapshot, options: { force?: boolean } = {}): Promise<SnapshotCounts> {
  const store = openStopped(dataDir, true);
  try {
    const existing = store.load();
    const held = countsOf(existing);
    if (Object.values(held).some((n) => n > 0) && !options.force) {
      throw new Error(
        `The store in ${dataDir} is not empty (${held.devices} devices, ${held.policies} policies, ${held.messages} messages); add --force to replace it.`,
      );
    }
    const ops: StoreOp[] = emptyingOps(existing, false);
    for (const device of snapshot.registry.devices) ops.push({ t: 'putDevice', device });
    for (const policy of snapshot.registry.policies) ops.push({ t: 'putPolicy', policy });
    for (const m of snapshot.queues.messages) ops.push({ t: 'insertMessage', message: { ...m, body: Buffer.from(m.body, 'base64') } });
    for (const [deviceId, sequenceNumber] of Object.entries(snapshot.queues.sequences)) ops.push({ t: 'setSequence', deviceId, sequenceNumber });
    for (const pending of snapshot.feedback.pending) ops.push({ t: 'insertPending', pending });
    for (const batch of snapshot.feedback.batches) ops.push({ t: 'insertBatch', batch });
    for (const d of snapshot.deadLetters ?? [])
      ops.push({
        t: 'insertDeadLetter',
        deadLetter: { message: { ...d.message, body: Buffer.from(d.message.body, 'base64') }, reason: d.reason, deadLetteredTimeUtc: d.deadLetteredTimeUtc },
      });
    // One write: one transaction, so a failed import leaves the store as it was.
    await store.write(ops);
    return countsOf(store.load());
  } finally {
    store.close();
  }
}

/** Empties a stopped store: messages and feedback, and the registry unless `keepRegistry`. */
export async function resetStore(dataDir: string, options: { keepRegistry?: boolean } = {}): Promise<SnapshotCounts> {
  const store = openStopped(dataDir, false);
  try {
    const s = store.load();
    await store.write(emptyingOps(s, options.keepRegistry ?? false));
    return countsOf(s);
  } finally {
    store.close();
  }
}

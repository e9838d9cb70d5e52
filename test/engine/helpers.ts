import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ManualClock } from '../../lib/common/clock';
import type { HubLimits } from '../../lib/common/limits';
import type { ReceivedFeedbackBatch, ReceivedMessage } from '../../lib/common/message';
import { Hub, type HubOptions } from '../../lib/hub';

export interface TestHub {
  hub: Hub;
  clock: ManualClock;
}

/** A hub on an in-memory SQLite store with a ManualClock, and device `dev1` registered. */
export async function openTestHub(limits: Partial<HubLimits> = {}, options: HubOptions = {}): Promise<TestHub> {
  const clock = (options.clock as ManualClock | undefined) ?? new ManualClock();
  const hub = await Hub.open({ clock, limits, ...options });
  if (!hub.registry.getDevice('dev1')) await hub.registry.createDevice({ deviceId: 'dev1' });
  return { hub, clock };
}

export function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-engine-'));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

export const body = (s: string): Buffer => Buffer.from(s);

/** Receives and asserts a message is there. */
export async function mustReceive(hub: Hub, deviceId = 'dev1'): Promise<ReceivedMessage> {
  const m = await hub.receive(deviceId);
  if (!m) throw new Error(`expected a message for ${deviceId}`);
  return m;
}

/** Flushes feedback and drains every batch (completing each); returns all records. */
export async function drainFeedback(hub: Hub): Promise<ReceivedFeedbackBatch['records']> {
  await hub.flushFeedback();
  const out: ReceivedFeedbackBatch['records'] = [];
  for (;;) {
    const b = await hub.receiveFeedback();
    if (!b) return out;
    out.push(...b.records);
    await hub.completeFeedback(b.lockToken);
  }
}

/** Resolves with the C2DError code a promise (or function) rejects with. */
export async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<number | undefined> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    return (e as { code?: number }).code;
  }
  return undefined;
}

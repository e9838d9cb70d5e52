/**
 * Whether the hub is ready to accept sends: its listeners are bound, and its
 * store's folder takes a write of one largest message, synced (a full disk
 * fails with ENOSPC, a read-only one with EROFS). The probe is a file beside
 * the store, written and removed through the file system, so it measures
 * the disk the store writes to without touching the store's own data.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface ReadinessReport {
  ready: boolean;
  /** Why not, in words (empty when ready). */
  reasons: string[];
}

export interface ReadinessOptions {
  /** The store's folder; absent: an in-memory store, always writable. */
  dataDir?: string;
  /** Bytes the probe writes: the largest message the hub accepts. */
  probeBytes: number;
}

export class Readiness {
  private listening = false;
  private stopping = false;
  /** One probe at a time; concurrent /ready requests share it. */
  private probing: Promise<string | undefined> | undefined;

  constructor(private readonly options: ReadinessOptions) {}

  /** The listeners are bound (true) or being closed (false). */
  setListening(listening: boolean): void {
    this.listening = listening;
  }

  /** The process is shutting down: not ready from now on. */
  setStopping(): void {
    this.stopping = true;
  }

  async check(): Promise<ReadinessReport> {
    const reasons: string[] = [];
    if (this.stopping) reasons.push('the hub is stopping');
    else if (!this.listening) reasons.push('the listeners are not bound yet');
    const store = await this.probeStore();
    if (store) reasons.push(store);
    return { ready: reasons.length === 0, reasons };
  }

  private probeStore(): Promise<string | undefined> {
    const dir = this.options.dataDir;
    if (dir === undefined) return Promise.resolve(undefined);
    this.probing ??= probe(dir, this.options.probeBytes).finally(() => (this.probing = undefined));
    return this.probing;
  }
}

async function probe(dir: string, bytes: number): Promise<string | undefined> {
  const file = path.join(dir, `.ready-probe-${process.pid}`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(file, 'w');
    await handle.write(Buffer.alloc(bytes, 0x5a));
    await handle.datasync();
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOSPC'
        ? 'the disk is full'
        : code === 'EROFS'
          ? 'the file system is read-only'
          : code === 'EACCES' || code === 'EPERM'
            ? 'no permission to write'
            : 'it cannot be written';
    return `the store folder ${dir} does not take a ${bytes}-byte write: ${why} (${code ?? (e as Error).message})`;
  } finally {
    await handle?.close().catch(() => undefined);
    await fs.rm(file, { force: true }).catch(() => undefined);
  }
}

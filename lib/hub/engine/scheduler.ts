/**
 * One scheduler for every lock and TTL deadline in the hub: a binary min-heap
 * of (time, key) driving ONE clock.at() for the earliest entry, never a timer
 * per message. A key names what to re-examine ("the queue of device X", "the
 * feedback queue"); when its time comes the owner re-applies the rules, which
 * are idempotent, so stale entries are harmless (lazy deletion). Each key keeps
 * at most its earliest live entry: scheduling a later time for a key that is
 * already due sooner is a no-op. Keys due at the same instant run in key
 * order, so a run is reproducible (the model-based test relies on it).
 */
import type { Cancel, Clock } from '../../common/clock';

interface Entry {
  at: number;
  key: string;
}

const before = (a: Entry, b: Entry): boolean => a.at < b.at || (a.at === b.at && a.key < b.key);

export class Scheduler {
  private readonly heap: Entry[] = [];
  /** Earliest time each key is scheduled for. */
  private readonly due = new Map<string, number>();
  private armedAt: number | undefined;
  private cancel: Cancel | undefined;
  private stopped = false;

  constructor(
    private readonly clock: Clock,
    private readonly onDue: (key: string) => void,
  ) {}

  /** Makes sure `key` is examined at `at` (or earlier, if it already is). */
  schedule(key: string, at: number): void {
    if (this.stopped) return;
    const current = this.due.get(key);
    if (current !== undefined && current <= at) return;
    this.due.set(key, at);
    this.push({ at, key });
    // Superseded entries pile up under lazy deletion; rebuild from the live ones when they dominate.
    if (this.heap.length > 64 + 2 * this.due.size) this.compact();
    this.arm();
  }

  /** Number of entries in the heap (tests check it stays bounded). */
  get size(): number {
    return this.heap.length;
  }

  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  private arm(): void {
    const top = this.heap[0];
    if (!top || this.stopped) return;
    if (this.armedAt !== undefined && this.armedAt <= top.at) return;
    this.cancel?.();
    this.armedAt = top.at;
    this.cancel = this.clock.at(top.at, () => this.fire());
  }

  private fire(): void {
    this.armedAt = undefined;
    this.cancel = undefined;
    const now = this.clock.now();
    while (!this.stopped && this.heap.length > 0 && this.heap[0]!.at <= now) {
      const e = this.pop();
      // Only the key's live entry runs; an entry superseded by an earlier one was already handled.
      if (this.due.get(e.key) !== e.at) continue;
      this.due.delete(e.key);
      this.onDue(e.key);
    }
    this.arm();
  }

  private compact(): void {
    this.heap.length = 0;
    for (const [key, at] of this.due) this.push({ at, key });
  }

  private push(e: Entry): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  private pop(): Entry {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && before(h[r]!, h[l]!) ? r : l;
        if (!before(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

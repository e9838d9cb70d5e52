/**
 * Time as the hub sees it. The engine never calls Date.now() or setTimeout
 * directly: tests inject a ManualClock and move time by hand.
 */

export type Cancel = () => void;

export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
  /** Runs `fn` once `now() >= atMs`. Returns a function that cancels it. */
  at(atMs: number, fn: () => void): Cancel;
}

/** Wall-clock time with real timers (unref'd, so a pending deadline never keeps a process alive). */
export const systemClock: Clock = {
  now: () => Date.now(),
  at(atMs, fn) {
    // setTimeout overflows past 2^31-1 ms; long deadlines are re-armed on the way.
    const MAX = 2 ** 31 - 1;
    let timer: NodeJS.Timeout;
    const arm = (): void => {
      const wait = atMs - Date.now();
      timer = setTimeout(wait > MAX ? arm : fn, Math.max(0, Math.min(wait, MAX)));
      timer.unref();
    };
    arm();
    return () => clearTimeout(timer);
  },
};

/** A clock that only moves when told to; due callbacks run in deadline order. */
export class ManualClock implements Clock {
  private t: number;
  private seq = 0;
  private pending = new Map<number, { atMs: number; fn: () => void }>();

  constructor(startMs = Date.UTC(2026, 0, 1)) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  at(atMs: number, fn: () => void): Cancel {
    const id = this.seq++;
    this.pending.set(id, { atMs, fn });
    return () => {
      this.pending.delete(id);
    };
  }

  /** Moves time forward by `ms`, running every callback that falls due, earliest first. */
  advance(ms: number): void {
    this.set(this.t + ms);
  }

  /** Moves time to `atMs` (never backwards), running due callbacks in order. */
  set(atMs: number): void {
    if (atMs < this.t) throw new Error('ManualClock cannot go backwards');
    for (;;) {
      let next: [number, { atMs: number; fn: () => void }] | undefined;
      for (const e of this.pending) if (e[1].atMs <= atMs && (!next || e[1].atMs < next[1].atMs)) next = e;
      if (!next) break;
      this.pending.delete(next[0]);
      this.t = Math.max(this.t, next[1].atMs);
      next[1].fn();
    }
    this.t = atMs;
  }

  /** Number of callbacks not yet run (the scheduler should keep this at one). */
  get pendingCount(): number {
    return this.pending.size;
  }
}

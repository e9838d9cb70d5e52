/**
 * Items that arrived while nobody was listening (messages, feedback
 * batches), and callers waiting for one: each waiter gets the next item, or
 * null once its timeout passes, or is rejected with its AbortSignal's reason
 * when that signal fires (what `fetch` and `events.once` do).
 */
import type { DeviceMessage } from '../common/message';

interface Waiter<T> {
  resolve: (m: T | null) => void;
  reject: (e: unknown) => void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class MessageBuffer<T = DeviceMessage> {
  private readonly queue: T[] = [];
  private readonly waiters: Waiter<T>[] = [];

  push(m: T): void {
    const w = this.waiters.shift();
    if (w) {
      this.unwait(w);
      w.resolve(m);
    } else this.queue.push(m);
  }

  shift(): T | undefined {
    return this.queue.shift();
  }

  drain(): T[] {
    return this.queue.splice(0);
  }

  /** The next item, or null after `timeoutMs`; rejects with `signal.reason` when it is aborted first. */
  next(timeoutMs: number, signal?: AbortSignal): Promise<T | null> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const ready = this.queue.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const w: Waiter<T> = {
        resolve,
        reject,
        signal,
        timer: setTimeout(() => {
          this.remove(w);
          resolve(null);
        }, timeoutMs),
        onAbort: () => {
          this.remove(w);
          reject(signal?.reason);
        },
      };
      w.timer.unref();
      signal?.addEventListener('abort', w.onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  private remove(w: Waiter<T>): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    this.unwait(w);
  }

  private unwait(w: Waiter<T>): void {
    clearTimeout(w.timer);
    w.signal?.removeEventListener('abort', w.onAbort);
  }

  /** Fails every waiter and forgets buffered items (their locks die with the connection). */
  fail(e: Error): void {
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) {
      this.unwait(w);
      w.reject(e);
    }
  }
}

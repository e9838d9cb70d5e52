/**
 * Messages that arrived while nobody was listening, and callers of
 * receive() waiting for one (with a timeout). Used by the polling paths.
 */
import type { ReceivedMessage } from '../common/message';

interface Waiter {
  resolve: (m: ReceivedMessage | null) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export class MessageBuffer {
  private readonly queue: ReceivedMessage[] = [];
  private readonly waiters: Waiter[] = [];

  push(m: ReceivedMessage): void {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.resolve(m);
    } else this.queue.push(m);
  }

  shift(): ReceivedMessage | undefined {
    return this.queue.shift();
  }

  drain(): ReceivedMessage[] {
    return this.queue.splice(0);
  }

  /** The next message, or null after `timeoutMs`. */
  next(timeoutMs: number): Promise<ReceivedMessage | null> {
    const ready = this.queue.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(w);
          if (i >= 0) this.waiters.splice(i, 1);
          resolve(null);
        }, timeoutMs),
      };
      w.timer.unref();
      this.waiters.push(w);
    });
  }

  /** Fails every waiter and forgets buffered messages (their locks die with the connection). */
  fail(e: Error): void {
    this.queue.length = 0;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
  }
}

/**
 * The async iterator behind ServiceClient.feedback() (and the in-process
 * twin): batches are queued as they arrive and handed to `for await`; the
 * iteration ends when the client closes.
 */
import type { FeedbackBatchHandle } from './types';

export class FeedbackStream implements AsyncIterable<FeedbackBatchHandle> {
  private readonly queue: FeedbackBatchHandle[] = [];
  private readonly waiters: ((r: IteratorResult<FeedbackBatchHandle>) => void)[] = [];
  private ended = false;

  push(b: FeedbackBatchHandle): void {
    const w = this.waiters.shift();
    if (w) w({ value: b, done: false });
    else this.queue.push(b);
  }

  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedbackBatchHandle> {
    return {
      next: () => {
        const b = this.queue.shift();
        if (b) return Promise.resolve({ value: b, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => this.waiters.push(resolve));
      },
      return: () => {
        this.end();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

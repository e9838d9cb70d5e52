/**
 * Hub events are for observers (nodes, the sidebar, metrics, the trace): each
 * is emitted after the change it reports is committed, in the order the
 * changes were made, and never from inside the engine's own call stack, so a
 * listener that calls the hub cannot re-enter a change half applied. The
 * events of a change whose commit failed are dropped: it did not happen.
 */
import type { HubEventMap, HubEventName, HubEvents } from '../api';

/** An event waiting for its change to commit. */
export type PendingEvent = { [K in HubEventName]: readonly [K, HubEventMap[K]] }[HubEventName];

interface Entry {
  events: PendingEvent[];
  state: 'waiting' | 'committed' | 'failed';
}

export class EventOutbox {
  private readonly queue: Entry[] = [];
  private flushing = false;

  /** Whether anyone listens, worked out again only after a listener came or went (it is read for every change). */
  private listened: boolean | undefined;

  constructor(private readonly events: HubEvents) {
    const forget = (): void => {
      this.listened = undefined;
    };
    // Node emits these two for every on()/off() of the emitter (documented on EventEmitter).
    events.on('newListener' as never, forget);
    events.on('removeListener' as never, forget);
  }

  /** Whether anyone listens at all: when nobody does, the engine builds no event objects. */
  get observed(): boolean {
    this.listened ??= this.events.eventNames().some((n) => n !== 'newListener' && n !== 'removeListener');
    return this.listened;
  }

  /**
   * Emits `events` once `commit` resolves (all of them, in order, after those
   * of earlier changes), or drops them if it rejects. Without a commit (a
   * change that persists nothing), on the next microtask at the earliest.
   */
  after(commit: Promise<void> | undefined, events: PendingEvent[]): void {
    if (events.length === 0) return;
    const entry: Entry = { events, state: 'waiting' };
    this.queue.push(entry);
    const done = (state: Entry['state']): void => {
      entry.state = state;
      this.flush();
    };
    if (commit)
      commit.then(
        () => done('committed'),
        () => done('failed'),
      );
    else queueMicrotask(() => done('committed'));
  }

  private flush(): void {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.queue.length > 0 && this.queue[0]!.state !== 'waiting') {
        const entry = this.queue.shift()!;
        if (entry.state === 'committed') for (const [name, payload] of entry.events) this.emit(name, payload);
      }
    } finally {
      this.flushing = false;
    }
  }

  private emit(name: HubEventName, payload: unknown): void {
    try {
      this.events.emit(name, payload as never);
    } catch (e) {
      // An observer's failure must not stop the events after it, nor reach the engine.
      process.emitWarning(`c2d hub: a '${name}' event listener threw: ${(e as Error).message}`);
    }
  }
}

/**
 * Settles deliveries on a receiver link attached with rcv-settle-mode
 * second: we send our outcome unsettled, the hub settles with its final
 * outcome, and a refusal (e.g. 412002 lock lost) comes back as an error.
 */
import type { Delivery, EventContext, Receiver } from 'rhea';
import { fromAmqpError, type AmqpError } from '../../common/codec/amqp';
import { outcomes } from '../../common/rhea-internals';

export type AmqpOutcome = 'accepted' | 'rejected' | 'released';
const SETTLE_TIMEOUT_MS = 30_000;

export class Settler {
  private readonly waiting = new Map<Delivery, { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  constructor(link: Receiver) {
    link.on('settled', (ctx: EventContext) => this.onSettled(ctx.delivery as Delivery));
  }

  private onSettled(d: Delivery): void {
    const w = this.waiting.get(d);
    if (!w) return;
    this.waiting.delete(d);
    clearTimeout(w.timer);
    const state = d.remote_state as { error?: AmqpError } | undefined;
    if (state?.error) w.reject(fromAmqpError(state.error));
    else w.resolve();
  }

  settle(d: Delivery, outcome: AmqpOutcome): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(d);
        reject(Object.assign(new Error('The hub did not answer the settlement in time.'), { code: 'ETIMEDOUT' }));
      }, SETTLE_TIMEOUT_MS);
      timer.unref();
      this.waiting.set(d, { resolve, reject, timer });
      // Not settled: the hub settles and tells us its outcome.
      d.update(false, outcomes[outcome]().described());
    });
  }

  /** Fails settlements still waiting (the connection went). */
  abort(e: Error): void {
    for (const w of this.waiting.values()) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.waiting.clear();
  }
}

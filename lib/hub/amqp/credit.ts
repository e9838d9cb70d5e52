/**
 * Keeps an engine receiver's credit equal to what the AMQP peer allows.
 * rhea's `delivery_count + credit` on a sender link is the total number of
 * transfers the peer permits since attach (both move together when a
 * transfer goes out), so "permitted - handed out by the engine" is the credit
 * the engine may still use, even while some deliveries wait to be written.
 */
import type { Sender } from 'rhea';

export interface EngineCredit {
  addCredit(n: number): void;
  readonly credit: number;
}

export class CreditFollower {
  private handedOut = 0;

  constructor(private readonly link: Sender) {}

  /** Call for each message the engine hands over. */
  delivered(): void {
    this.handedOut++;
  }

  /** Call whenever the peer's flow arrives. */
  sync(receiver: EngineCredit | undefined): void {
    if (!receiver) return;
    const link = this.link as unknown as { delivery_count: number; credit: number };
    const permitted = link.delivery_count + link.credit;
    const delta = permitted - this.handedOut - receiver.credit;
    if (delta > 0) receiver.addCredit(delta);
  }
}

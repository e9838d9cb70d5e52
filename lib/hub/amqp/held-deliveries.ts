/**
 * The deliveries one sender link (device C2D or feedback) sent and its peer
 * has not settled yet, by lock token. When the hub loses a lock first (it
 * expired, or the message left the queue), it settles its side with the
 * 412002 a late settlement would get: rhea keeps a session's deliveries in
 * one ring and frees them only in order, once both sides settled, so one
 * delivery a peer never settles would otherwise hold every later delivery of
 * that session (until the ring is full and the connection has to end). A
 * peer's later disposition of it is then not answered: C# and our clients see
 * the settlement and fail the late settle locally, as after a reconnect.
 */
import type { Delivery } from 'rhea';
import { errors } from '../../common/errors';
import type { CreditFollower } from './credit';
import { confirmOutcome } from './outcome';

export class HeldDeliveries {
  private readonly byLock = new Map<string, Delivery>();

  /** `resync`: give the engine the credit a freed slot allows (a no-op once the link closed). */
  constructor(
    private readonly credit: CreditFollower,
    private readonly resync: () => void,
  ) {}

  sent(lockToken: string, delivery: Delivery | undefined): void {
    if (delivery) this.byLock.set(lockToken, delivery);
  }

  /** The peer answered `delivery`: true if it is still ours to settle (false: we settled it when its lock was lost). */
  answered(lockToken: string, delivery: Delivery): boolean {
    if (this.byLock.get(lockToken) !== delivery) return false;
    this.free(lockToken);
    this.resync();
    return true;
  }

  lockLost(lockToken: string): void {
    const delivery = this.byLock.get(lockToken);
    if (!delivery) return;
    this.free(lockToken);
    confirmOutcome(delivery, errors.lockLost(lockToken), 'released');
    this.resync();
  }

  private free(lockToken: string): void {
    this.byLock.delete(lockToken);
    this.credit.settled();
  }

  clear(): void {
    this.byLock.clear();
  }
}

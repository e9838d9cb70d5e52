/**
 * Settling our side of a delivery the peer has answered, or one whose lock
 * the hub lost before the peer did (then with the 412002 error). With
 * rcv-settle-mode first (Node SDKs) the peer has already settled and there is
 * nothing to say; with mode second (C#) it waits for our settlement carrying
 * the final outcome, or `rejected` with the error when the hub refused it.
 */
import type { Delivery } from 'rhea';
import { toAmqpError } from '../../common/codec/amqp';
import { markSettledByPeer, outcomes } from '../../common/rhea-internals';
import type { Outcome } from './peer';

/** With rcv-settle-mode second the peer waits for our settlement carrying the final outcome. */
export function confirmOutcome(delivery: Delivery, error: unknown, outcome: Outcome): void {
  if (delivery.remote_settled) return;
  // Called when the engine's commit finishes, which can be after the peer hung up: rhea's socket
  // write then throws (EPIPE) inside the caller's promise chain, an unhandled rejection that would
  // end the hub. The peer is gone, so there is nobody left to tell.
  try {
    if (error !== undefined) delivery.update(true, outcomes.rejected({ error: toAmqpError(error) }).described());
    else if (outcome === 'accepted') delivery.update(true, outcomes.accepted().described());
    else if (outcome === 'rejected') delivery.update(true, outcomes.rejected({}).described());
    else delivery.update(true, outcomes.released().described());
  } catch {
    // see above
  }
  // With mode second the peer settles on seeing ours and says nothing more: see markSettledByPeer.
  markSettledByPeer(delivery);
}

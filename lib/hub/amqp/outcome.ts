/**
 * Settling our side of a delivery the peer has answered. With
 * rcv-settle-mode first (Node SDKs) the peer has already settled and there is
 * nothing to say; with mode second (C#) it waits for our settlement carrying
 * the final outcome, or `rejected` with the error when the hub refused it.
 */
import { message as rheaMessage, type Delivery } from 'rhea';
import { toAmqpError } from '../../common/codec/amqp';
import type { Outcome } from './peer';

/** rhea builds outcomes at runtime; its typings leave them out. */
const outcomes = rheaMessage as unknown as {
  accepted(): { described(): unknown };
  rejected(o: { error?: unknown }): { described(): unknown };
  released(): { described(): unknown };
};

/** With rcv-settle-mode second the peer waits for our settlement carrying the final outcome. */
export function confirmOutcome(delivery: Delivery, error: unknown, outcome: Outcome): void {
  if (delivery.remote_settled) return;
  if (error !== undefined) delivery.update(true, outcomes.rejected({ error: toAmqpError(error) }).described());
  else if (outcome === 'accepted') delivery.update(true, outcomes.accepted().described());
  else if (outcome === 'rejected') delivery.update(true, outcomes.rejected({}).described());
  else delivery.update(true, outcomes.released().described());
}

/**
 * `/messages/serviceBound/feedback`: a backend's receiver link (our sender)
 * for feedback batches, hub-wide. accepted = complete, rejected = reject,
 * released/modified = abandon (c2d-semantics.md §4.3). The Node service SDK
 * auto-accepts on arrival; C# settles in mode second and waits for us.
 */
import type { EventContext, Sender } from 'rhea';
import { encodeFeedback, tagToLockToken } from '../../common/codec/amqp';
import { C2DError, errors } from '../../common/errors';
import type { FeedbackReceiver, HubApi } from '../api';
import { CreditFollower, pushDelivery } from './credit';
import { HeldDeliveries } from './held-deliveries';
import { confirmOutcome } from './outcome';
import { echoTermini, type LinkHandler, type Outcome, type HubSide } from './peer';

const SETTLE: Record<Outcome, (hub: HubApi, lockToken: string) => Promise<void>> = {
  accepted: (hub, t) => hub.completeFeedback(t),
  rejected: (hub, t) => hub.rejectFeedback(t),
  released: (hub, t) => hub.abandonFeedback(t),
};

export function openFeedbackLink(peer: HubSide, link: Sender): LinkHandler {
  peer.auth.withRight('ServiceConnect');
  const credit = new CreditFollower(link);
  let closed = false;
  const held = new HeldDeliveries(credit, () => {
    if (!closed) credit.sync(receiver);
  });
  const receiver: FeedbackReceiver = peer.hub.openFeedbackReceiver(
    {
      deliver(batch) {
        const { message, tag } = encodeFeedback(batch);
        held.sent(batch.lockToken, pushDelivery(peer, link, credit, message, tag));
      },
      lockLost(lockToken) {
        held.lockLost(lockToken);
      },
      closed(reason) {
        if (closed) return;
        closed = true;
        peer.closeConnection(reason instanceof C2DError ? reason : errors.unavailable(reason.message));
      },
    },
    { credit: 0 },
  );
  echoTermini(link);
  credit.sync(receiver);
  return {
    reauthorize() {
      peer.auth.withRight('ServiceConnect');
    },
    onFlow() {
      if (!closed) credit.sync(receiver);
    },
    onOutcome(ctx: EventContext, outcome: Outcome) {
      const delivery = ctx.delivery;
      if (!delivery) return;
      const lockToken = tagToLockToken(Buffer.from(delivery.tag as Buffer));
      if (!held.answered(lockToken, delivery)) return; // we settled it already (lock lost)
      SETTLE[outcome](peer.hub, lockToken).then(
        () => confirmOutcome(delivery, undefined, outcome),
        (e: unknown) => {
          peer.log('feedback-settle-failed', { lockToken, outcome, code: e instanceof C2DError ? e.code : undefined });
          confirmOutcome(delivery, e, outcome);
        },
      );
    },
    onClose() {
      if (closed) return;
      closed = true;
      held.clear();
      receiver.close();
    },
  };
}

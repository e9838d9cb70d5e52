/**
 * `/devices/{id}/messages/devicebound`: a device's receiver link (our sender).
 * The engine pushes locked messages as the link credit allows; each goes out
 * unsettled with the lock token as its delivery tag. The device's outcome
 * settles it: accepted = complete, rejected = reject (dead-letter),
 * released/modified = abandon (c2d-semantics.md §1.3).
 */
import type { EventContext, Sender } from 'rhea';
import { encodeDeviceDelivery, tagToLockToken } from '../../common/codec/amqp';
import { C2DError } from '../../common/errors';
import { LAZY_SETTLE, type DeviceReceiver, type HubApi, type SettleOptions } from '../api';
import { CreditFollower, pushDelivery } from './credit';
import { HeldDeliveries } from './held-deliveries';
import { confirmOutcome } from './outcome';
import { echoTermini, type LinkHandler, type Outcome, type HubSide } from './peer';

const SETTLE: Record<Outcome, (hub: HubApi, deviceId: string, lockToken: string, o: SettleOptions | undefined) => Promise<void>> = {
  accepted: (hub, d, t, o) => hub.complete(d, t, o),
  rejected: (hub, d, t, o) => hub.reject(d, t, o),
  released: (hub, d, t, o) => hub.abandon(d, t, o),
};

/**
 * The newest link wins (IoT Hub "steals" the older one, amqp:link:stolen):
 * a device that reconnects before the hub noticed its old connection died
 * must not be locked out of its own messages.
 */
export function openDeviceReceiveLink(peer: HubSide, link: Sender, deviceId: string): LinkHandler {
  peer.auth.forDevice(deviceId);
  const credit = new CreditFollower(link);
  let closed = false;
  const held = new HeldDeliveries(credit, () => {
    if (!closed) credit.sync(receiver);
  });
  const receiver: DeviceReceiver = peer.hub.openReceiver(
    deviceId,
    {
      deliver(m) {
        const { message, tag } = encodeDeviceDelivery(m);
        held.sent(m.lockToken, pushDelivery(peer, link, credit, message, tag));
      },
      lockLost(lockToken) {
        held.lockLost(lockToken);
      },
      closed(reason) {
        // The engine let go (device deleted or disabled, hub closing). The SDK
        // does not re-attach a detached C2D link, so end the connection instead (sdk-wire.md §6.5).
        if (closed) return;
        closed = true;
        peer.closeConnection(reason instanceof C2DError ? reason : new C2DError('DeviceConnectionClosedRemotely', reason.message));
      },
    },
    { credit: 0, replace: true, transport: peer.protocol },
  );
  echoTermini(link);
  peer.auth.noteDevice(deviceId);
  credit.sync(receiver);
  return {
    kind: 'c2d',
    deviceId,
    reauthorize() {
      peer.auth.forDevice(deviceId);
    },
    onFlow() {
      if (!closed) credit.sync(receiver);
    },
    onOutcome(ctx: EventContext, outcome: Outcome) {
      const delivery = ctx.delivery;
      if (!delivery) return;
      const lockToken = tagToLockToken(Buffer.from(delivery.tag as Buffer));
      if (!held.answered(lockToken, delivery)) return; // we settled it already (lock lost)
      // A peer that settled already (rcv-settle-mode first, the Node SDKs) waits for no answer: lazy commit.
      SETTLE[outcome](peer.hub, deviceId, lockToken, delivery.remote_settled ? LAZY_SETTLE : undefined).then(
        () => confirmOutcome(delivery, undefined, outcome),
        (e: unknown) => {
          // Node settles with settled=true, so it never hears of this; C# (rcv-settle-mode second) gets the error.
          peer.log('settle-failed', { deviceId, lockToken, outcome, code: e instanceof C2DError ? e.code : undefined });
          confirmOutcome(delivery, e, outcome);
        },
      );
    },
    onClose() {
      if (closed) return;
      closed = true;
      held.clear();
      // Messages still locked to this link go back to Enqueued.
      receiver.close();
    },
  };
}

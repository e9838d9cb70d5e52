/**
 * `/devices/{id}/messages/devicebound`: a device's receiver link (our sender).
 * The engine pushes locked messages as the link credit allows; each goes out
 * unsettled with the lock token as its delivery tag. The device's outcome
 * settles it: accepted = complete, rejected = reject (dead-letter),
 * released/modified = abandon (c2d-semantics.md §1.3).
 */
import type { Delivery, EventContext, Sender } from 'rhea';
import { encodeDeviceDelivery, tagToLockToken } from '../../common/codec/amqp';
import { C2DError, errors } from '../../common/errors';
import { LAZY_SETTLE, type DeviceReceiver, type HubApi, type SettleOptions } from '../api';
import { CreditFollower, pushDelivery } from './credit';
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
  /** Deliveries sent and not yet settled by the device, by lock token. */
  const unsettled = new Map<string, Delivery>();
  let closed = false;
  const receiver: DeviceReceiver = peer.hub.openReceiver(
    deviceId,
    {
      deliver(m) {
        const { message, tag } = encodeDeviceDelivery(m);
        const delivery = pushDelivery(peer, link, credit, message, tag);
        if (delivery) unsettled.set(m.lockToken, delivery);
      },
      lockLost(lockToken) {
        // The lock expired or the message left the queue while the device held it: settle our side
        // with the 412002 a late settlement would get. rhea keeps a session's deliveries in one ring
        // and frees them only in order, once both sides settled: left open, one message a device
        // never settles would hold every later delivery of that session (until the ring is full and
        // the connection has to end). A device's later disposition of it is then not answered: C#
        // and our client see the settlement and fail the late settle locally, as after a reconnect.
        const delivery = unsettled.get(lockToken);
        if (!delivery) return;
        unsettled.delete(lockToken);
        credit.settled();
        confirmOutcome(delivery, errors.lockLost(lockToken), 'released');
        if (!closed) credit.sync(receiver);
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
      if (unsettled.get(lockToken) !== delivery) return; // we settled it already (lock lost)
      unsettled.delete(lockToken);
      credit.settled();
      if (!closed) credit.sync(receiver);
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
      unsettled.clear();
      // Messages still locked to this link go back to Enqueued.
      receiver.close();
    },
  };
}

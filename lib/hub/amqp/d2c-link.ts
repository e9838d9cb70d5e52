/**
 * `/devices/{id}/messages/events`: device-to-cloud sends. Out of C2D scope,
 * but a device SDK may open it; the hub surfaces each message as an event
 * and accepts it (the SDK waits for `accepted`, sdk-wire.md §2.3).
 */
import type { EventContext, Receiver } from 'rhea';
import { bodyToBuffer, toAmqpError, type AmqpMessage } from '../../common/codec/amqp';
import type { Properties } from '../../common/message';
import { setOwn } from '../../common/codec/own';
import { echoTermini, type LinkHandler, type HubSide } from './peer';

const D2C_CREDIT = 100;

export function openDeviceEventsLink(peer: HubSide, link: Receiver, deviceId: string): LinkHandler {
  peer.auth.forDevice(deviceId);
  echoTermini(link);
  peer.auth.noteDevice(deviceId);
  link.add_credit(D2C_CREDIT);
  return {
    kind: 'd2c',
    deviceId,
    reauthorize() {
      peer.auth.forDevice(deviceId);
    },
    onMessage(ctx: EventContext) {
      const delivery = ctx.delivery;
      if (!delivery) return;
      try {
        const msg = (ctx.message ?? {}) as AmqpMessage;
        const properties: Properties = {};
        for (const [k, v] of Object.entries(msg.application_properties ?? {})) setOwn(properties, k, String(v));
        peer.hub.noteDeviceToCloud(deviceId, bodyToBuffer(msg.body), properties, peer.sessionOf(deviceId));
        delivery.accept();
      } catch (e) {
        delivery.reject(toAmqpError(e));
      }
      link.add_credit(1);
    },
    onClose() {},
  };
}

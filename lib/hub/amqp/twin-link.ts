/**
 * `/devices/{id}/twin`: the device twin channel, a link each way. Twins are out
 * of C2D scope, but the Azure IoT C SDK's AMQP transport attaches both links
 * whenever a device starts and takes a refused attach as a failed connection,
 * so it never reaches its C2D link. The hub therefore attaches them for the
 * device itself, sends nothing on them, and rejects every twin request with
 * amqp:not-implemented (as the MQTT endpoint takes the twin subscriptions and
 * answers no twin request).
 */
import type { EventContext, Receiver, Sender } from 'rhea';
import { echoTermini, type LinkHandler, type HubSide } from './peer';

const TWIN_CREDIT = 10;

export function openDeviceTwinLink(peer: HubSide, link: Sender | Receiver, deviceId: string): LinkHandler {
  peer.auth.forDevice(deviceId);
  echoTermini(link);
  peer.auth.noteDevice(deviceId);
  if (!link.is_sender()) (link as Receiver).add_credit(TWIN_CREDIT);
  return {
    reauthorize() {
      peer.auth.forDevice(deviceId);
    },
    onMessage(ctx: EventContext) {
      ctx.delivery?.reject({
        condition: 'amqp:not-implemented',
        description: `Device twins are not served by this hub (C2D only); the twin request of '${deviceId}' is refused.`,
      });
      (link as Receiver).add_credit(1);
    },
    onClose() {},
  };
}

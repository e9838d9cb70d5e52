/**
 * Which module serves a link: by its address (parsed once, in the codec) and
 * by our role on it. Anything else is refused with amqp:not-found.
 */
import type { Receiver, Sender } from 'rhea';
import { parseLinkAddress } from '../../common/codec/amqp';
import { openCbsReplies, openCbsRequests } from './cbs';
import { openDeviceEventsLink } from './d2c-link';
import { openDeviceReceiveLink } from './device-link';
import { openFeedbackLink } from './feedback-link';
import type { LinkHandler, HubSide } from './peer';
import { openServiceSendLink } from './service-link';
import { openDeviceTwinLink } from './twin-link';

/** Thrown for an address the hub does not serve; the server maps it to amqp:not-found. */
export class UnknownAddressError extends Error {
  readonly condition = 'amqp:not-found';
}

/** Opens the link's handler; throws a C2DError (refused) or UnknownAddressError. */
export function openLink(peer: HubSide, link: Sender | Receiver): LinkHandler {
  const weSend = link.is_sender();
  // Our sender serves the peer's receiver, whose address is the source; our receiver's is the target.
  const address = weSend ? link.source?.address : link.target?.address;
  const a = parseLinkAddress(address);
  if (a?.kind === 'cbs') return weSend ? openCbsReplies(peer, link as Sender) : openCbsRequests(peer, link as Receiver);
  if (a?.kind === 'serviceDevicebound' && !weSend) return openServiceSendLink(peer, link as Receiver);
  if (a?.kind === 'feedback' && weSend) return openFeedbackLink(peer, link as Sender);
  if (a?.kind === 'deviceDevicebound' && weSend) return openDeviceReceiveLink(peer, link as Sender, a.deviceId);
  if (a?.kind === 'deviceEvents' && !weSend) return openDeviceEventsLink(peer, link as Receiver, a.deviceId);
  if (a?.kind === 'deviceTwin') return openDeviceTwinLink(peer, link, a.deviceId);
  const role = weSend ? 'receive from' : 'send to';
  throw new UnknownAddressError(`The hub has no node to ${role} at ${JSON.stringify(address ?? null)}.`);
}

/**
 * Keeps an engine receiver's credit equal to what the AMQP peer allows, and
 * never more than our own bound on unsettled deliveries.
 *
 * rhea's `delivery_count + credit` on a sender link is the total number of
 * transfers the peer permits since attach (both move together when a
 * transfer goes out), so "permitted - handed out by the engine" is what the
 * engine may still use, even while some deliveries wait to be written.
 * The bound matters because rhea keeps unsettled deliveries in a fixed ring
 * per session (2048) and throws when it is full: a peer granting huge credit
 * and never settling must not reach that.
 */
import { message as rheaMessage, type Delivery, type Message, type Sender } from 'rhea';
import { ownedCopy } from '../../common/owned-bytes';
import { senderPermits } from '../../common/rhea-internals';
import { errors } from '../../common/errors';
import type { HubSide } from './peer';

/** Unsettled deliveries one link may hold (the Node SDKs grant 1000 credit, C# 50; two such links and the CBS replies must fit one session ring). */
export const MAX_UNSETTLED_PER_LINK = 500;

/** AMQP 1.0 §2.7.5 message-format 0: a message encoded as the standard sections. */
const STANDARD_MESSAGE_FORMAT = 0;

export interface EngineCredit {
  addCredit(n: number): void;
  readonly credit: number;
}

export class CreditFollower {
  private handedOut = 0;
  private settledCount = 0;

  constructor(private readonly link: Sender) {}

  /** Call for each message the engine hands over. */
  delivered(): void {
    this.handedOut++;
  }

  /** Call when the peer settles (or answers) one of them. */
  settled(): void {
    this.settledCount++;
  }

  /** Call whenever the peer's flow arrives or a delivery settles. */
  sync(receiver: EngineCredit | undefined): void {
    if (!receiver) return;
    const permitted = senderPermits(this.link) - this.handedOut;
    const room = MAX_UNSETTLED_PER_LINK - (this.handedOut - this.settledCount);
    const delta = Math.min(permitted, room) - receiver.credit;
    if (delta > 0) receiver.addCredit(delta);
  }
}

/**
 * A message as the bytes of one delivery, exactly their size. rhea keeps a
 * delivery's bytes in its session's ring until the peer settled it and every
 * delivery ahead of it (a device that leaves one message unsettled holds all
 * later ones there), and its own encoder returns a view into a working buffer
 * of 1 KB or more.
 */
export function deliveryPayload(message: Message): Buffer {
  return ownedCopy(rheaMessage.encode(message));
}

/**
 * Sends one engine delivery on `link`, counted against `credit`. If rhea
 * refuses it (session ring full, link gone), the connection ends: the lock
 * then returns the message (or batch) to the engine for another receiver.
 */
export function pushDelivery(peer: HubSide, link: Sender, credit: CreditFollower, message: unknown, tag: Buffer): Delivery | undefined {
  credit.delivered();
  try {
    return link.send(deliveryPayload(message as Message), tag, STANDARD_MESSAGE_FORMAT);
  } catch (e) {
    peer.log('deliver-failed', { error: String(e) });
    peer.closeConnection(errors.internal('The connection could not take more deliveries.'));
    return undefined;
  }
}

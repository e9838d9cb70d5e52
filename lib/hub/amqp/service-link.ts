/**
 * `/messages/devicebound`: a backend's sender link (our receiver). Each
 * message names its device in `to`. The disposition goes out only after
 * hub.send resolves, i.e. after the message is committed: `accepted`, or
 * `rejected` with the AMQP error of the C2DError (amqp:not-found for an
 * unknown device, amqp:resource-limit-exceeded for a full queue ...).
 * Never `released`: the Node service SDK reads that as success (sdk-wire.md §5.1).
 */
import type { EventContext, Receiver } from 'rhea';
import { decodeServiceSend, toAmqpError, type AmqpMessage } from '../../common/codec/amqp';
import { C2DError, errors } from '../../common/errors';
import { echoTermini, type LinkHandler, type HubSide } from './peer';

/** Sends one link may have in flight; credit comes back as each one settles (backpressure on the store). */
export const SERVICE_SEND_CREDIT = 100;

export function openServiceSendLink(peer: HubSide, link: Receiver): LinkHandler {
  peer.auth.withRight('ServiceConnect');
  echoTermini(link);
  link.add_credit(SERVICE_SEND_CREDIT);
  return {
    reauthorize() {
      peer.auth.withRight('ServiceConnect');
    },
    onMessage(ctx: EventContext) {
      const delivery = ctx.delivery;
      if (!delivery) return;
      const done = (error?: unknown): void => {
        // The commit can finish after the peer went away: rhea then throws from the socket write
        // (EPIPE), inside this promise chain, where it would end the hub as an unhandled rejection.
        try {
          if (error === undefined) delivery.accept();
          else delivery.reject(toAmqpError(error));
          if (link.is_open()) link.add_credit(1);
        } catch (e) {
          peer.log('disposition-failed', { error: String(e) });
        }
      };
      let decoded: ReturnType<typeof decodeServiceSend>;
      try {
        // A token may have expired since attach; the link is then refused wholesale by the server.
        if (peer.closing) throw errors.unavailable('The hub is shutting down.');
        peer.auth.withRight('ServiceConnect');
        decoded = decodeServiceSend((ctx.message ?? {}) as AmqpMessage);
      } catch (e) {
        done(e);
        return;
      }
      const sending = peer.hub.send(decoded.deviceId, decoded.message).then(
        () => done(),
        (e: unknown) => {
          if (!(e instanceof C2DError)) peer.log('send-failed', { deviceId: decoded.deviceId, error: String(e) });
          done(e);
        },
      );
      peer.track(sending);
    },
    onClose() {},
  };
}

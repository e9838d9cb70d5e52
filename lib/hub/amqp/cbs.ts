/**
 * Claims-based security on `$cbs` (sdk-wire.md §2.2, c2d-semantics.md §5.1).
 * The client sends put-token requests on a sender link with target `$cbs`
 * and reads replies on a receiver link with source `$cbs`. A reply carries
 * correlation-id = the request's message-id (the same value and type: the
 * Node SDK compares with ===), `status-code` as an AMQP int (200 or 401;
 * the SDK compares with the number 200, C# casts it to int) and
 * `status-description`.
 */
import { types as rheaTypes, type EventContext, type Message, type Receiver, type Sender } from 'rhea';
import {
  CBS_NAME,
  CBS_OPERATION,
  CBS_OPERATION_PUT_TOKEN,
  CBS_STATUS_CODE,
  CBS_STATUS_DESCRIPTION,
  bodyToBuffer,
  type AmqpMessage,
} from '../../common/codec/amqp';
import { C2DError, errors } from '../../common/errors';
import type { Principal } from '../api';
import { echoTermini, type LinkHandler, type HubSide } from './peer';

/** Requests a client may have in flight on one connection (each is cheap, but a flood is not). */
const CBS_CREDIT = 10;

/**
 * The audience in the form the hub's token check compares with `sr`: Node
 * sends the token's `sr` still URL-encoded, C# sends `host/devices/id` or
 * `amqps://host:5671/` (scheme and port are ignored by the check).
 */
export function normalizeAudience(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

/** Server receiver of put-token requests (client sender, target `$cbs`). */
export function openCbsRequests(peer: HubSide, link: Receiver): LinkHandler {
  echoTermini(link);
  link.add_credit(CBS_CREDIT);
  return {
    kind: 'cbs-requests',
    onMessage(ctx: EventContext) {
      ctx.delivery?.accept();
      link.add_credit(1);
      const request = (ctx.message ?? {}) as AmqpMessage & { reply_to?: unknown; message_id?: unknown };
      void handlePutToken(peer, request);
    },
    onClose() {},
  };
}

/** Server sender of put-token replies (client receiver, source `$cbs`). */
export function openCbsReplies(peer: HubSide, link: Sender): LinkHandler {
  echoTermini(link);
  peer.cbsReplies = link;
  return {
    kind: 'cbs-replies',
    onClose() {
      if (peer.cbsReplies === link) peer.cbsReplies = undefined;
    },
  };
}

async function handlePutToken(peer: HubSide, request: AmqpMessage & { reply_to?: unknown; message_id?: unknown }): Promise<void> {
  const ap = request.application_properties ?? {};
  const name = typeof ap[CBS_NAME] === 'string' ? ap[CBS_NAME] : '';
  let status = 200;
  let description = 'OK';
  try {
    if (ap[CBS_OPERATION] !== CBS_OPERATION_PUT_TOKEN) throw errors.invalid(`Unsupported $cbs operation ${JSON.stringify(ap[CBS_OPERATION])}.`);
    const token = typeof request.body === 'string' ? request.body : bodyToBuffer(request.body).toString('utf8');
    const audience = normalizeAudience(name);
    let principal: Principal;
    const bearer = token.startsWith('Bearer ');
    if (bearer) {
      if (!peer.verifyBearer) throw errors.unauthorized('This hub does not accept bearer tokens.');
      principal = await peer.verifyBearer(token.slice('Bearer '.length), audience);
    } else {
      principal = peer.hub.auth.authenticateSas(token, audience);
    }
    peer.auth.add(`cbs:${audience}`, principal, bearer ? 'bearer' : 'sas');
    peer.log('cbs-put-token', { audience, principal: principal.kind === 'device' ? principal.deviceId : principal.keyName });
  } catch (e) {
    const err = e instanceof C2DError ? e : errors.unauthorized('The token could not be verified.');
    status = err.httpStatus === 400 ? 400 : 401;
    description = err.toString();
    peer.auth.refused(err);
    peer.log('cbs-put-token-refused', { audience: name, code: err.code });
  }
  const replies = peer.cbsReplies;
  if (!replies || !replies.is_open()) {
    peer.log('cbs-no-reply-link', { audience: name });
    return;
  }
  const reply = {
    to: typeof request.reply_to === 'string' ? request.reply_to : undefined,
    correlation_id: request.message_id as string,
    application_properties: {
      [CBS_STATUS_CODE]: rheaTypes.wrap_int(status),
      [CBS_STATUS_DESCRIPTION]: description,
    },
  };
  replies.send(reply as unknown as Message);
}

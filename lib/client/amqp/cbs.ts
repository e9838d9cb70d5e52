/**
 * Client side of claims-based security: put-token on `$cbs` (sdk-wire.md §2.2,
 * c2d-semantics.md §5.1). One sender (target `$cbs`) and one receiver (source
 * `$cbs`) per connection; each request carries a uuid message-id, the reply
 * comes back with it as correlation-id and an int `status-code`.
 * Token renewal puts again on the same live links (no reconnect).
 */
import { randomUUID } from 'node:crypto';
import type { Connection, EventContext, Receiver, Sender } from 'rhea';
import {
  CBS_ADDRESS,
  CBS_NAME,
  CBS_OPERATION,
  CBS_OPERATION_PUT_TOKEN,
  CBS_REPLY_TO,
  CBS_STATUS_CODE,
  CBS_STATUS_DESCRIPTION,
  CBS_TYPE,
  CBS_TYPE_JWT,
  CBS_TYPE_SAS,
} from '../../common/codec/amqp';
import { C2DError, errorNameForCode } from '../../common/errors';
import { amqpFailure, attachReceiver, attachSender } from './rhea-connection';

const CBS_TIMEOUT_MS = 30_000;

export class CbsClient {
  private detachedListener: ((cause: Error) => void) | undefined;
  private readonly pending = new Map<string, { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();

  private constructor(
    private readonly sender: Sender,
    receiver: Receiver,
  ) {
    receiver.on('message', (ctx: EventContext) => this.onReply(ctx));
    // Without either link no token can be renewed: the session is as good as lost (the SDKs reconnect too).
    const detached = (ctx: EventContext): void => this.detachedListener?.(amqpFailure(ctx, '$cbs link'));
    for (const ev of ['sender_close', 'sender_error']) sender.on(ev, detached);
    for (const ev of ['receiver_close', 'receiver_error']) receiver.on(ev, detached);
  }

  /** Called when the hub detaches a $cbs link. */
  onDetached(listener: (cause: Error) => void): void {
    this.detachedListener = listener;
  }

  static async attach(connection: Connection): Promise<CbsClient> {
    const [sender, receiver] = await Promise.all([
      attachSender(connection, { target: { address: CBS_ADDRESS }, source: { address: CBS_ADDRESS } }),
      attachReceiver(connection, { source: { address: CBS_ADDRESS }, target: { address: CBS_ADDRESS }, autoaccept: true }),
    ]);
    return new CbsClient(sender, receiver);
  }

  /** Puts `token` for `audience`; `type` is 'sas' for SharedAccessSignature, 'jwt' for `Bearer <jwt>`. */
  putToken(audience: string, token: string, type: 'sas' | 'jwt'): Promise<void> {
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(Object.assign(new Error('put-token timed out'), { code: 'ETIMEDOUT' }));
      }, CBS_TIMEOUT_MS);
      timer.unref();
      this.pending.set(id, { resolve, reject, timer });
      this.sender.send({
        to: CBS_ADDRESS,
        message_id: id,
        reply_to: CBS_REPLY_TO,
        application_properties: { [CBS_OPERATION]: CBS_OPERATION_PUT_TOKEN, [CBS_TYPE]: type === 'jwt' ? CBS_TYPE_JWT : CBS_TYPE_SAS, [CBS_NAME]: audience },
        body: token,
      });
    });
  }

  private onReply(ctx: EventContext): void {
    const m = ctx.message;
    const id = typeof m?.correlation_id === 'string' ? m.correlation_id : String(m?.correlation_id ?? '');
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    clearTimeout(p.timer);
    const ap = (m?.application_properties ?? {}) as Record<string, unknown>;
    const status = Number(ap[CBS_STATUS_CODE]);
    if (status === 200) return p.resolve();
    const description = typeof ap[CBS_STATUS_DESCRIPTION] === 'string' ? ap[CBS_STATUS_DESCRIPTION] : `put-token refused (${status})`;
    // The hub's description starts with the IoT Hub code ("401003 IotHubUnauthorized: ...").
    const lead = /^(\d{6}) \w+: (.*)$/s.exec(description);
    const name = (lead && errorNameForCode(Number(lead[1]))) || (status === 400 ? 'ArgumentInvalid' : 'IotHubUnauthorized');
    p.reject(new C2DError(name, lead?.[2] ?? description));
  }

  /** Fails requests still waiting (the connection went). */
  abort(cause: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(cause);
    }
    this.pending.clear();
  }
}

/**
 * A test-only tap on rhea's server-side connections: records what AMQP
 * clients put on the wire at the hub (link attaches, CBS put-tokens, C2D
 * sends, outcomes), so our clients can be compared with the official SDKs.
 */
export interface Attach {
  role: 'client-sender' | 'client-receiver';
  address: string;
  rcvSettleMode: number;
}
export interface Recording {
  attaches: Attach[];
  cbs: { operation: unknown; type: unknown; name: unknown; to: unknown; replyTo: unknown; tokenIsSas: boolean }[];
  outcomes: string[];
  /** Messages sent on `/messages/devicebound` (service sends). */
  sends?: SentMessage[];
}

export interface SentMessage {
  to: unknown;
  hasMessageId: boolean;
  applicationProperties: Record<string, unknown>;
  bodyIsData: boolean;
}

// rhea keeps one Connection class; tapping its dispatch sees every server-side event.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const RheaConnection = require('rhea/lib/connection.js') as { prototype: { dispatch(name: string, ctx: unknown): unknown; is_server?: boolean } };

export function tap(rec: Recording): () => void {
  const original = RheaConnection.prototype.dispatch;
  RheaConnection.prototype.dispatch = function (this: { is_server?: boolean }, name: string, ctx: unknown) {
    if (this.is_server) {
      const c = ctx as { receiver?: Link; sender?: Link; message?: CbsMessage; delivery?: unknown };
      if (name === 'receiver_open' && c.receiver)
        rec.attaches.push({
          role: 'client-sender',
          address: String(c.receiver.remote.attach.target?.address),
          rcvSettleMode: c.receiver.remote.attach.rcv_settle_mode ?? 0,
        });
      if (name === 'sender_open' && c.sender)
        rec.attaches.push({
          role: 'client-receiver',
          address: String(c.sender.remote.attach.source?.address),
          rcvSettleMode: c.sender.remote.attach.rcv_settle_mode ?? 0,
        });
      if (name === 'message' && c.receiver?.remote.attach.target?.address === '$cbs' && c.message) {
        const ap = c.message.application_properties ?? {};
        rec.cbs.push({
          operation: ap.operation,
          type: ap.type,
          name: ap.name,
          to: c.message.to,
          replyTo: c.message.reply_to,
          tokenIsSas: String(c.message.body).startsWith('SharedAccessSignature '),
        });
      }
      if (
        name === 'message' &&
        c.message &&
        String(c.receiver?.remote.attach.target?.address ?? '')
          .toLowerCase()
          .endsWith('/messages/devicebound')
      ) {
        const m = c.message as CbsMessage & { message_id?: unknown; body?: { typecode?: number } };
        rec.sends?.push({
          to: m.to,
          hasMessageId: m.message_id !== undefined,
          applicationProperties: { ...(m.application_properties ?? {}) },
          bodyIsData: m.body?.typecode === 0x75,
        });
      }
      if (['accepted', 'rejected', 'released', 'modified'].includes(name) && c.sender?.remote.attach.source?.address?.includes('/messages/devicebound'))
        rec.outcomes.push(name);
    }
    return original.call(this, name, ctx);
  };
  return () => {
    RheaConnection.prototype.dispatch = original;
  };
}
interface Link {
  remote: { attach: { target?: { address?: string }; source?: { address?: string }; rcv_settle_mode?: number } };
}
interface CbsMessage {
  application_properties?: Record<string, unknown>;
  to?: unknown;
  reply_to?: unknown;
  body?: unknown;
}

/** How the inspection API shows a message: its facts as plain data, the body only when asked for, never a lock token. */
import { messageSize, type C2DMessage } from '../../common/message';
import type { DeadLetterView, MessageView, PendingMessageView } from '../api';
import type { DeadLetter } from './dead-letters';
import type { PeekedMessage } from './queue';

function messageView(m: C2DMessage, includeBody: boolean): MessageView {
  return {
    deviceId: m.deviceId,
    messageId: m.messageId,
    sequenceNumber: m.sequenceNumber,
    ...(m.correlationId !== undefined ? { correlationId: m.correlationId } : {}),
    ...(m.userId !== undefined ? { userId: m.userId } : {}),
    ...(m.contentType !== undefined ? { contentType: m.contentType } : {}),
    ...(m.contentEncoding !== undefined ? { contentEncoding: m.contentEncoding } : {}),
    ack: m.ack,
    properties: { ...m.properties },
    enqueuedTimeUtc: m.enqueuedTimeUtc,
    expiryTimeUtc: m.expiryTimeUtc,
    deliveryCount: m.deliveryCount,
    size: messageSize(m),
    ...(includeBody ? { body: Buffer.from(m.body) } : {}),
  };
}

export function pendingView(p: PeekedMessage, includeBody: boolean): PendingMessageView {
  return { ...messageView(p.message, includeBody), state: p.state, ...(p.lockedUntilUtc !== undefined ? { lockedUntilUtc: p.lockedUntilUtc } : {}) };
}

export function deadLetterView(d: DeadLetter, includeBody: boolean): DeadLetterView {
  return { ...messageView(d.message, includeBody), reason: d.reason, deadLetteredTimeUtc: d.deadLetteredTimeUtc };
}

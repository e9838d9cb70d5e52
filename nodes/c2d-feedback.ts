/**
 * `c2d-feedback`: one msg per delivery-feedback record (the outcome of a
 * message sent with ack). `auto` completes each batch once its records are
 * emitted; `manual` waits for an input msg with msg.action complete|abandon
 * and msg.batch.lockToken (an unsettled batch comes back after its lock).
 */
import { C2DError, errors } from '../lib/common/errors';
import type { FeedbackBatchHandle } from '../lib/client/types';
import type { Node, NodeDef, RED } from './support/red';
import { onInput } from './support/red';
import { closeWith, emit } from './support/red';
import { joinConfig } from './support/join-config';

interface Def extends NodeDef {
  hub?: string;
  settle?: 'auto' | 'manual';
}

/** Longest feedback lock IoT Hub allows (300 s): after it a held batch is stale. */
const MAX_HOLD_MS = 300_000;

export = function register(RED: RED): void {
  function C2DFeedback(this: Node, def: Def): void {
    RED.nodes.createNode(this, def);
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- Node-RED's constructor idiom: closures need the node
    const node = this;
    const manual = def.settle === 'manual';
    const held = new Map<string, { batch: FeedbackBatchHandle; at: number }>();

    const onFeedback = (b: FeedbackBatchHandle): void => {
      const batch = { lockToken: b.lockToken, enqueuedTimeUtc: new Date(b.enqueuedTimeUtc).toISOString(), count: b.records.length };
      b.records.forEach((r, index) => {
        emit(node, {
          topic: r.statusCode,
          payload: {
            originalMessageId: r.originalMessageId,
            deviceId: r.deviceId,
            statusCode: r.statusCode,
            description: r.description,
            enqueuedTimeUtc: r.enqueuedTimeUtc,
          },
          batch: { ...batch, index },
        });
      });
      if (!manual) {
        b.complete().catch((e: unknown) => node.error(e instanceof Error ? e : new Error(String(e))));
        return;
      }
      const now = Date.now();
      for (const [t, h] of held) if (now - h.at > MAX_HOLD_MS) held.delete(t);
      held.set(b.lockToken, { batch: b, at: now });
    };

    joinConfig(RED, node, def.hub, 'service', { onFeedback });

    onInput(this, async (msg) => {
      const action = msg.action;
      if (action !== 'complete' && action !== 'abandon') throw errors.invalid(`msg.action must be complete or abandon (got ${JSON.stringify(action)}).`);
      const token = (msg.batch as { lockToken?: unknown } | undefined)?.lockToken;
      if (typeof token !== 'string') throw errors.invalid('msg.batch.lockToken is missing.');
      const h = held.get(token);
      if (!h) throw new C2DError('DeviceMessageLockLost', `No feedback batch held with lock token '${token}' (settled already, expired, or auto-completed).`);
      held.delete(token);
      await h.batch[action]();
      msg.settlement = { action, lockToken: token };
      return msg;
    });
    closeWith(node, async () => held.clear());
  }
  RED.nodes.registerType('c2d-feedback', C2DFeedback as never);
};

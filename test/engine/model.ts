/**
 * A deliberately naive reference model of the C2D rules, written from
 * c2d-semantics.md without looking at queue.ts: plain mutable records, every
 * deadline processed one message at a time at its own instant.
 */
import type { AckMode, FeedbackStatusCode } from '../../lib/common/message';
import { ackWants } from '../../lib/common/message';

export interface ModelLimits {
  maxQueueDepth: number;
  maxDeliveryCount: number;
  lockTimeoutMs: number;
  defaultTtlMs: number;
  maxTtlMs: number;
  lockExpiryCountsAsDelivery: boolean;
}

export interface ModelMessage {
  id: string;
  seq: number;
  ack: AckMode;
  expiry: number;
  state: 'Enqueued' | 'Invisible';
  deliveryCount: number;
  lockToken?: string;
  lockedUntil?: number;
}

export interface ModelRecord {
  id: string;
  deviceId: string;
  status: FeedbackStatusCode;
  at: number;
}

export class Model {
  readonly queues = new Map<string, ModelMessage[]>();
  readonly records: ModelRecord[] = [];
  now: number;

  constructor(
    readonly limits: ModelLimits,
    devices: string[],
    start: number,
  ) {
    for (const d of devices) this.queues.set(d, []);
    this.now = start;
  }

  private q(dev: string): ModelMessage[] {
    return this.queues.get(dev)!;
  }

  private outcome(dev: string, m: ModelMessage, status: FeedbackStatusCode, at: number): void {
    const q = this.q(dev);
    q.splice(q.indexOf(m), 1);
    if (ackWants(m.ack, status)) this.records.push({ id: m.id, deviceId: dev, status, at });
  }

  /** Returns the IoT Hub error code the send must fail with, or undefined. */
  send(dev: string, id: string, seq: number, ack: AckMode, expiry: number | undefined): number | undefined {
    const exp = expiry ?? this.now + this.limits.defaultTtlMs;
    if (exp <= this.now || exp > this.now + this.limits.maxTtlMs) return 403009;
    if (this.q(dev).length >= this.limits.maxQueueDepth) return 403004;
    this.q(dev).push({ id, seq, ack, expiry: exp, state: 'Enqueued', deliveryCount: 0 });
    return undefined;
  }

  receive(dev: string, lockToken: string): ModelMessage | undefined {
    const m = [...this.q(dev)].sort((a, b) => a.seq - b.seq).find((x) => x.state === 'Enqueued');
    if (!m) return undefined;
    m.state = 'Invisible';
    m.lockToken = lockToken;
    m.lockedUntil = this.now + this.limits.lockTimeoutMs;
    return m;
  }

  private locked(dev: string, token: string): ModelMessage | undefined {
    return this.q(dev).find((m) => m.state === 'Invisible' && m.lockToken === token);
  }

  /** Returns 412002 when the token holds no live lock of that device. */
  settle(dev: string, token: string, how: 'complete' | 'reject' | 'abandon'): number | undefined {
    const m = this.locked(dev, token);
    if (!m) return 412002;
    if (how === 'complete') this.outcome(dev, m, 'Success', this.now);
    else if (how === 'reject') this.outcome(dev, m, 'Rejected', this.now);
    else this.unlock(dev, m, true, this.now);
    return undefined;
  }

  private unlock(dev: string, m: ModelMessage, counts: boolean, at: number): void {
    m.state = 'Enqueued';
    delete m.lockToken;
    delete m.lockedUntil;
    if (counts) m.deliveryCount++;
    if (m.deliveryCount >= this.limits.maxDeliveryCount) this.outcome(dev, m, 'DeliveryCountExceeded', at);
  }

  purge(dev: string): number {
    const all = [...this.q(dev)];
    for (const m of all) this.outcome(dev, m, 'Purged', this.now);
    return all.length;
  }

  /** Moves time to `to`, applying each message's deadlines at their own instants. */
  advanceTo(to: number): void {
    for (;;) {
      let next: { dev: string; m: ModelMessage; at: number } | undefined;
      for (const [dev, q] of this.queues) {
        for (const m of q) {
          const at = Math.min(m.expiry, m.lockedUntil ?? Infinity);
          if (at <= to && (!next || at < next.at)) next = { dev, m, at };
        }
      }
      if (!next) break;
      const { dev, m, at } = next;
      if (m.expiry <= at) this.outcome(dev, m, 'Expired', at);
      else this.unlock(dev, m, this.limits.lockExpiryCountsAsDelivery, at);
    }
    this.now = to;
  }

  /** A hub restart: locks are not persisted, so every Invisible message is Enqueued again, uncounted. */
  restart(): void {
    for (const q of this.queues.values()) {
      for (const m of q) {
        if (m.state === 'Invisible') {
          m.state = 'Enqueued';
          delete m.lockToken;
          delete m.lockedUntil;
        }
      }
    }
  }
}

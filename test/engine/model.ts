/**
 * A deliberately naive reference model of the C2D rules, written from
 * c2d-semantics.md without looking at queue.ts: plain mutable records, every
 * deadline processed one message at a time at its own instant.
 */
import type { AckMode, FeedbackStatusCode } from '../../lib/common/message';
import { ackWants } from '../../lib/common/message';

export interface ModelLimits {
  feedbackBatchMaxRecords: number;
  feedbackBatchWindowMs: number;
  feedbackTtlMs: number;
  feedbackLockMs: number;
  feedbackMaxDeliveryCount: number;
  maxQueueDepth: number;
  maxDeliveryCount: number;
  lockTimeoutMs: number;
  defaultTtlMs: number;
  maxTtlMs: number;
  lockExpiryCountsAsDelivery: boolean;
  deadLetterTtlMs: number;
  deadLetterMaxPerDevice: number;
}

export interface ModelDeadLetter {
  id: string;
  seq: number;
  ack: AckMode;
  reason: 'Rejected' | 'Expired' | 'DeliveryCountExceeded';
  at: number;
  /** The TTL it was sent with, which a requeue gives its copy. */
  ttl: number;
  sentAt: number;
}

export interface ModelMessage {
  id: string;
  seq: number;
  ack: AckMode;
  expiry: number;
  sentAt: number;
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

export interface ModelBatch {
  records: ModelRecord[];
  expires: number;
  deliveryCount: number;
  lockToken?: string;
  lockedUntil?: number;
}

export class Model {
  readonly queues = new Map<string, ModelMessage[]>();
  /** Kept dead letters per device, oldest first. */
  readonly deadLetters = new Map<string, ModelDeadLetter[]>();
  /** Feedback records waiting to be batched, oldest first. */
  pending: ModelRecord[] = [];
  /** Feedback batches, oldest first. */
  batches: ModelBatch[] = [];
  now: number;

  constructor(
    readonly limits: ModelLimits,
    devices: string[],
    start: number,
  ) {
    for (const d of devices) {
      this.queues.set(d, []);
      this.deadLetters.set(d, []);
    }
    this.now = start;
  }

  private q(dev: string): ModelMessage[] {
    return this.queues.get(dev)!;
  }

  /** Removes `m`; its feedback record (if its ack wants one) is added now, or collected into `batch`. */
  private outcome(dev: string, m: ModelMessage, status: FeedbackStatusCode, at: number, batch?: ModelRecord[]): void {
    const q = this.q(dev);
    q.splice(q.indexOf(m), 1);
    if (status === 'Rejected' || status === 'Expired' || status === 'DeliveryCountExceeded') this.keepDeadLetter(dev, m, status, at);
    if (!ackWants(m.ack, status)) return;
    const r = { id: m.id, deviceId: dev, status, at };
    if (batch) batch.push(r);
    else this.addRecords([r], at);
  }

  // ------------------------------------------------------------ dead letters

  private keepDeadLetter(dev: string, m: ModelMessage, reason: ModelDeadLetter['reason'], at: number): void {
    if (this.limits.deadLetterTtlMs === 0 || this.limits.deadLetterMaxPerDevice === 0) return;
    const list = this.deadLetters.get(dev)!;
    this.ageDeadLetters(dev, at);
    list.push({ id: m.id, seq: m.seq, ack: m.ack, reason, at, ttl: m.expiry - m.sentAt, sentAt: m.sentAt });
    while (list.length > this.limits.deadLetterMaxPerDevice) list.shift();
  }

  private ageDeadLetters(dev: string, at: number): void {
    const list = this.deadLetters.get(dev)!;
    while (list.length > 0 && list[0]!.at + this.limits.deadLetterTtlMs <= at) list.shift();
  }

  /** The dead letters still kept at the model's time. */
  keptDeadLetters(dev: string): ModelDeadLetter[] {
    this.ageDeadLetters(dev, this.now);
    return this.deadLetters.get(dev)!;
  }

  /** Requeue the dead letter `d`: 403004 when the queue is full (the dead letter stays). */
  requeue(dev: string, d: ModelDeadLetter, seq: number): number | undefined {
    if (this.q(dev).length >= this.limits.maxQueueDepth) return 403004;
    const list = this.deadLetters.get(dev)!;
    list.splice(list.indexOf(d), 1);
    const ttl = Math.min(Math.max(d.ttl, 1), this.limits.maxTtlMs);
    this.q(dev).push({ id: d.id, seq, ack: d.ack, expiry: this.now + ttl, sentAt: this.now, state: 'Enqueued', deliveryCount: 0 });
    return undefined;
  }

  deleteDeadLetter(dev: string, d: ModelDeadLetter): void {
    const list = this.deadLetters.get(dev)!;
    list.splice(list.indexOf(d), 1);
  }

  // ------------------------------------------------------------ feedback

  private cut(at: number): void {
    while (this.pending.length > 0) {
      const records = this.pending.splice(0, this.limits.feedbackBatchMaxRecords);
      this.batches.push({ records, expires: at + this.limits.feedbackTtlMs, deliveryCount: 0 });
    }
  }

  /**
   * Feedback deadlines due by `at` come first, then the records of one outcome
   * (one for a settlement or deadline, all of a purge) join the pending ones.
   */
  private addRecords(records: ModelRecord[], at: number): void {
    if (records.length === 0) return;
    this.feedbackDeadlines(at);
    this.pending.push(...records);
    if (this.pending.length >= this.limits.feedbackBatchMaxRecords || this.limits.feedbackBatchWindowMs === 0) this.cut(at);
  }

  private feedbackDeadlines(at: number): void {
    if (this.pending.length > 0 && this.pending[0]!.at + this.limits.feedbackBatchWindowMs <= at) this.cut(at);
    for (const b of [...this.batches]) {
      if (b.expires <= at) this.batches.splice(this.batches.indexOf(b), 1);
      else if (b.lockedUntil !== undefined && b.lockedUntil <= at) this.unlockBatch(b, this.limits.lockExpiryCountsAsDelivery);
    }
  }

  private unlockBatch(b: ModelBatch, counts: boolean): void {
    delete b.lockToken;
    delete b.lockedUntil;
    if (counts) b.deliveryCount++;
    if (b.deliveryCount >= this.limits.feedbackMaxDeliveryCount) this.batches.splice(this.batches.indexOf(b), 1);
  }

  flushFeedback(): void {
    this.cut(this.now);
  }

  receiveFeedback(lockToken: string): ModelBatch | undefined {
    const b = this.batches.find((x) => x.lockToken === undefined);
    if (!b) return undefined;
    b.lockToken = lockToken;
    b.lockedUntil = this.now + this.limits.feedbackLockMs;
    return b;
  }

  settleFeedback(token: string, how: 'complete' | 'reject' | 'abandon'): number | undefined {
    const b = this.batches.find((x) => x.lockToken === token);
    if (!b) return 412002;
    if (how === 'abandon') this.unlockBatch(b, true);
    else this.batches.splice(this.batches.indexOf(b), 1);
    return undefined;
  }

  /** Returns the IoT Hub error code the send must fail with, or undefined. */
  send(dev: string, id: string, seq: number, ack: AckMode, expiry: number | undefined): number | undefined {
    const exp = expiry ?? this.now + this.limits.defaultTtlMs;
    if (exp <= this.now || exp > this.now + this.limits.maxTtlMs) return 403009;
    if (this.q(dev).length >= this.limits.maxQueueDepth) return 403004;
    this.q(dev).push({ id, seq, ack, expiry: exp, sentAt: this.now, state: 'Enqueued', deliveryCount: 0 });
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

  private unlock(dev: string, m: ModelMessage, counts: boolean, at: number, batch?: ModelRecord[]): void {
    m.state = 'Enqueued';
    delete m.lockToken;
    delete m.lockedUntil;
    if (counts) m.deliveryCount++;
    if (m.deliveryCount >= this.limits.maxDeliveryCount) this.outcome(dev, m, 'DeliveryCountExceeded', at, batch);
  }

  purge(dev: string): number {
    const all = [...this.q(dev)].sort((a, b) => a.seq - b.seq);
    const records: ModelRecord[] = [];
    for (const m of all) this.outcome(dev, m, 'Purged', this.now, records);
    this.addRecords(records, this.now);
    return all.length;
  }

  /** Moves time to `to`, applying every deadline (C2D and feedback) at its own instant, earliest first. */
  advanceTo(to: number): void {
    for (;;) {
      let next: { dev: string; m: ModelMessage; at: number } | undefined;
      for (const [dev, q] of this.queues) {
        for (const m of q) {
          const at = Math.min(m.expiry, m.lockedUntil ?? Infinity);
          if (at <= to && (!next || at < next.at)) next = { dev, m, at };
        }
      }
      const fb = this.nextFeedbackDeadline();
      if (fb !== undefined && fb <= to && (!next || fb < next.at)) {
        this.feedbackDeadlines(fb);
        continue;
      }
      if (!next) break;
      // Everything of one device due at one instant is one event: its records join the feedback queue together.
      const { dev, at } = next;
      const due = this.q(dev)
        .filter((m) => Math.min(m.expiry, m.lockedUntil ?? Infinity) === at)
        .sort((a, b) => a.seq - b.seq);
      const records: ModelRecord[] = [];
      for (const m of due) {
        if (m.expiry <= at) this.outcome(dev, m, 'Expired', at, records);
        else this.unlock(dev, m, this.limits.lockExpiryCountsAsDelivery, at, records);
      }
      this.addRecords(records, at);
    }
    this.now = to;
  }

  private nextFeedbackDeadline(): number | undefined {
    const times = this.batches.map((b) => Math.min(b.expires, b.lockedUntil ?? Infinity));
    if (this.pending.length > 0) times.push(this.pending[0]!.at + this.limits.feedbackBatchWindowMs);
    return times.length > 0 ? Math.min(...times) : undefined;
  }

  /** A hub restart: locks are not persisted, so every Invisible message is Enqueued again and every batch unlocked, uncounted. */
  restart(): void {
    for (const b of this.batches) {
      delete b.lockToken;
      delete b.lockedUntil;
    }
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

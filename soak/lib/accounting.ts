/**
 * The end of a soak: every send the hub accepted gets exactly one fate, from
 * the evidence the load processes kept per message (the device's successful
 * settlements, the feedback records, the TTL) and the hub's own word (each
 * device's pending count from the registry, and the counters of /metrics).
 * Pure functions over plain arrays, so the rules are tested on their own
 * (test/unit/soak-accounting.test.ts).
 *
 * Fates: completed, rejected, expired, deliveryCountExceeded, pending. A
 * message with no evidence of any fate that the hub does not hold as pending
 * is lost. The cross-checks then compare the totals with the hub's counters:
 * they must match exactly, so a fate the harness inferred (an expiry without
 * feedback, a completion whose answer was lost) is confirmed by the hub.
 */
import { ackWants, type AckMode, type FeedbackStatusCode } from '../../lib';

export type Fate = 'completed' | 'rejected' | 'expired' | 'deliveryCountExceeded' | 'pending' | 'lost';
export const FATES: readonly Fate[] = ['completed', 'rejected', 'expired', 'deliveryCountExceeded', 'pending', 'lost'];

export const SEND_STATUS = { none: 0, accepted: 1, queueFull: 2, failed: 3, timedOut: 4 } as const;
export const ACK_MODES: readonly AckMode[] = ['none', 'positive', 'negative', 'full'];
export const FEEDBACK_BIT: Readonly<Record<FeedbackStatusCode, number>> = { Success: 1, Expired: 2, DeliveryCountExceeded: 4, Rejected: 8, Purged: 16 };

/** What the backend kept per message number. */
export interface SendRecords {
  status: ArrayLike<number>;
  device: ArrayLike<number>;
  ack: ArrayLike<number>;
  expiresAt: ArrayLike<number>;
  /** Feedback status bits seen, records seen, and records seen in batches the backend abandoned. */
  feedback: ArrayLike<number>;
  feedbackRecords: ArrayLike<number>;
  feedbackAbandoned: ArrayLike<number>;
}

/** What the devices kept per message number (all device processes added up). */
export interface DeviceRecords {
  deliveries: ArrayLike<number>;
  completes: ArrayLike<number>;
  rejects: ArrayLike<number>;
  abandons: ArrayLike<number>;
  /** Bit 1: a complete without an answer; 2: a reject's; 4: an abandon's. */
  unknown: ArrayLike<number>;
}

export interface AccountInput {
  sends: SendRecords;
  devices: DeviceRecords;
  length: number;
  /** When the accounting was made (epoch ms): expiries before it have happened. */
  atMs: number;
  maxDeliveryCount: number;
  /** Pending messages (cloudToDeviceMessageCount) per device index, from the hub's registry. */
  hubPending: ReadonlyMap<number, number>;
  /** Feedback batches whose settlement failed (their records may come again). */
  feedbackSettleFailures: number;
}

export interface Account {
  accepted: number;
  refusedQueueFull: number;
  failed: number;
  /** Sends that timed out and show no sign of having been committed. */
  timedOutUnseen: number;
  fates: Record<Fate, number>;
  /** How fates were known: inferred ones are confirmed by the cross-checks. */
  inferred: { expiredByTtl: number; completedAnswerLost: number; rejectedAnswerLost: number };
  /** Devices whose pending count the harness does not match: index -> [harness, hub]. */
  pendingMismatch: [number, number, number][];
  feedback: { expected: number; missing: number; unexpected: number; repeated: number; abandonedAgain: number };
  deliveries: number;
  abandons: { known: number; unknown: number };
  violations: Record<string, { count: number; examples: string[] }>;
}

function violation(a: Account, what: string, example: string): void {
  const v = (a.violations[what] ??= { count: 0, examples: [] });
  v.count++;
  if (v.examples.length < 5) v.examples.push(example);
}

const STATUS_OF: Record<Exclude<Fate, 'pending' | 'lost'>, FeedbackStatusCode> = {
  completed: 'Success',
  rejected: 'Rejected',
  expired: 'Expired',
  deliveryCountExceeded: 'DeliveryCountExceeded',
};

/** One fate per accepted send, the feedback checked against it, and the devices' pending counts against the hub's. */
export function account(i: AccountInput): Account {
  const { sends: s, devices: d } = i;
  const a: Account = {
    accepted: 0,
    refusedQueueFull: 0,
    failed: 0,
    timedOutUnseen: 0,
    fates: { completed: 0, rejected: 0, expired: 0, deliveryCountExceeded: 0, pending: 0, lost: 0 },
    inferred: { expiredByTtl: 0, completedAnswerLost: 0, rejectedAnswerLost: 0 },
    pendingMismatch: [],
    feedback: { expected: 0, missing: 0, unexpected: 0, repeated: 0, abandonedAgain: 0 },
    deliveries: 0,
    abandons: { known: 0, unknown: 0 },
    violations: {},
  };
  const candidates = new Map<number, number[]>();
  for (let n = 0; n < i.length; n++) {
    const status = s.status[n] ?? 0;
    const fb = s.feedback[n] ?? 0;
    const deliveries = d.deliveries[n] ?? 0;
    const completes = d.completes[n] ?? 0;
    const rejects = d.rejects[n] ?? 0;
    const abandons = d.abandons[n] ?? 0;
    const unknown = d.unknown[n] ?? 0;
    a.deliveries += deliveries;
    a.abandons.known += abandons;
    if (unknown & 4) a.abandons.unknown++;
    const seen = deliveries > 0 || fb !== 0;
    if (status === SEND_STATUS.queueFull || status === SEND_STATUS.failed) {
      if (status === SEND_STATUS.queueFull) a.refusedQueueFull++;
      else a.failed++;
      if (seen) violation(a, 'a refused send was delivered or has feedback', `s${n}`);
      continue;
    }
    if (status === SEND_STATUS.timedOut && !seen) {
      // Not known to be committed; the hub's send counter says whether it was (cross-check).
      a.timedOutUnseen++;
      continue;
    }
    if (status !== SEND_STATUS.accepted && status !== SEND_STATUS.timedOut) continue;
    a.accepted++;
    const has = (c: FeedbackStatusCode): boolean => (fb & FEEDBACK_BIT[c]) !== 0;
    let fate: Fate;
    if (completes > 0 || has('Success')) fate = 'completed';
    else if (rejects > 0 || has('Rejected')) fate = 'rejected';
    else if (has('DeliveryCountExceeded') || abandons >= i.maxDeliveryCount) fate = 'deliveryCountExceeded';
    else if (has('Expired')) fate = 'expired';
    else if (unknown & 1) {
      fate = 'completed';
      a.inferred.completedAnswerLost++;
    } else if (unknown & 2) {
      fate = 'rejected';
      a.inferred.rejectedAnswerLost++;
    } else if ((s.expiresAt[n] ?? 0) < i.atMs) {
      fate = 'expired';
      a.inferred.expiredByTtl++;
    } else {
      fate = 'pending';
      const dev = s.device[n] ?? 0;
      const list = candidates.get(dev);
      if (list) list.push(n);
      else candidates.set(dev, [n]);
    }
    if (fate === 'completed' && (rejects > 0 || has('Rejected') || has('Expired') || has('DeliveryCountExceeded'))) {
      violation(a, 'completed and also rejected, expired or dead-lettered', `s${n}`);
    }
    if (fate !== 'pending') a.fates[fate]++;
    // Feedback: the record the ack asks for, once per delivery of its batch, and no other.
    const ack = ACK_MODES[s.ack[n] ?? 0] ?? 'none';
    const wanted = fate === 'pending' ? undefined : STATUS_OF[fate as keyof typeof STATUS_OF];
    const wants = wanted !== undefined && ackWants(ack, wanted);
    if (wants) a.feedback.expected++;
    if (wants && !has(wanted)) a.feedback.missing++;
    const others = fb & ~(wanted !== undefined && wants ? FEEDBACK_BIT[wanted] : 0);
    if (others !== 0) {
      a.feedback.unexpected++;
      violation(a, 'feedback that the ack mode or the fate does not call for', `s${n} (ack ${ack}, ${fate}, bits ${fb})`);
    }
    const records = s.feedbackRecords[n] ?? 0;
    const again = s.feedbackAbandoned[n] ?? 0;
    a.feedback.abandonedAgain += Math.min(again, Math.max(0, records - 1));
    if (records > 1 + again) a.feedback.repeated += records - 1 - again;
  }
  // The hub's pending count per device must be exactly the messages with no fate yet.
  const devicesSeen = new Set<number>([...candidates.keys(), ...i.hubPending.keys()]);
  for (const dev of devicesSeen) {
    const mine = candidates.get(dev) ?? [];
    const hub = i.hubPending.get(dev) ?? 0;
    const pending = Math.min(mine.length, hub);
    a.fates.pending += pending;
    if (mine.length > hub) {
      a.fates.lost += mine.length - hub;
      for (const n of mine.slice(hub)) violation(a, 'lost: no fate, and the hub does not hold it', `s${n} (device #${dev})`);
    }
    if (mine.length !== hub) a.pendingMismatch.push([dev, mine.length, hub]);
  }
  if (a.feedback.missing > 0) violation(a, 'feedback the ack mode asks for never came', `${a.feedback.missing} messages`);
  if (a.feedback.repeated > 0 && i.feedbackSettleFailures === 0)
    violation(a, 'feedback records came again after their batch was completed', `${a.feedback.repeated} records`);
  return a;
}

/** The hub's counters (from /metrics at the end) next to what the harness counted, which must agree. */
export interface HubTotals {
  sends: number;
  completed: number;
  rejected: number;
  abandoned: number;
  expired: number;
  deadLettered: { Rejected: number; Expired: number; DeliveryCountExceeded: number };
  feedback: Partial<Record<FeedbackStatusCode, number>>;
  pending: number;
}

/** What other traffic (Node-RED's network flow) added to the same hub, counted by its own records. */
export interface OtherTraffic {
  accepted: number;
  completed: number;
  rejected: number;
  abandoned: number;
  pending: number;
  /** Received but with no settlement recorded (a redeploy closed the node before its answer): completed or abandoned, unknown which. */
  unsettled: number;
  /** Feedback records it caused, by status. */
  feedback: Partial<Record<FeedbackStatusCode, number>>;
}

export interface CrossCheck {
  name: string;
  harness: number | string;
  hub: number;
  ok: boolean;
}

export function crossCheck(a: Account, other: OtherTraffic, hub: HubTotals, timedOutUnseen: number): CrossCheck[] {
  const out: CrossCheck[] = [];
  const eq = (name: string, harness: number, hubValue: number): void => void out.push({ name, harness, hub: hubValue, ok: harness === hubValue });
  // A send that timed out may or may not have been committed: the hub may count up to that many more.
  const sends = a.accepted + other.accepted;
  out.push({
    name: 'sends committed',
    harness: timedOutUnseen ? `${sends}..${sends + timedOutUnseen}` : sends,
    hub: hub.sends,
    ok: hub.sends >= sends && hub.sends <= sends + timedOutUnseen,
  });
  const done = a.fates.completed + other.completed;
  out.push({
    name: 'completed',
    harness: other.unsettled ? `${done}..${done + other.unsettled}` : done,
    hub: hub.completed,
    ok: hub.completed >= done && hub.completed <= done + other.unsettled,
  });
  eq('rejected', a.fates.rejected + other.rejected, hub.rejected);
  const ab = a.abandons.known + other.abandoned;
  const abUnknown = a.abandons.unknown + other.unsettled;
  out.push({
    name: 'abandoned',
    harness: abUnknown ? `${ab}..${ab + abUnknown}` : ab,
    hub: hub.abandoned,
    ok: hub.abandoned >= ab && hub.abandoned <= ab + abUnknown,
  });
  eq('expired', a.fates.expired, hub.expired);
  eq('dead-lettered: Rejected', a.fates.rejected + other.rejected, hub.deadLettered.Rejected);
  eq('dead-lettered: Expired', a.fates.expired, hub.deadLettered.Expired);
  eq('dead-lettered: DeliveryCountExceeded', a.fates.deliveryCountExceeded, hub.deadLettered.DeliveryCountExceeded);
  eq('pending at the end', a.fates.pending + other.pending, hub.pending);
  return out;
}

/** Feedback records the hub produced, by status, against the distinct ones the backends received. */
export function feedbackCheck(
  received: Partial<Record<FeedbackStatusCode, number>>,
  other: Partial<Record<FeedbackStatusCode, number>>,
  hub: Partial<Record<FeedbackStatusCode, number>>,
): CrossCheck[] {
  return (Object.keys(FEEDBACK_BIT) as FeedbackStatusCode[]).map((status) => {
    const harness = (received[status] ?? 0) + (other[status] ?? 0);
    const h = hub[status] ?? 0;
    return { name: `feedback records: ${status}`, harness, hub: h, ok: harness === h };
  });
}

/** Distinct feedback statuses per message, counted by status. */
export function feedbackByStatus(feedback: ArrayLike<number>, length: number): Partial<Record<FeedbackStatusCode, number>> {
  const out: Partial<Record<FeedbackStatusCode, number>> = {};
  for (let n = 0; n < length; n++) {
    const fb = feedback[n] ?? 0;
    if (fb === 0) continue;
    for (const [status, bit] of Object.entries(FEEDBACK_BIT) as [FeedbackStatusCode, number][]) if (fb & bit) out[status] = (out[status] ?? 0) + 1;
  }
  return out;
}

/**
 * Feedback records another receiver took. Feedback is hub-wide and each batch goes to one
 * receiver: the Node-RED network flow's c2d-feedback node shares the hub with the backend, so
 * now and then it takes a batch that names the backend's messages (`s<n>`) or its own (`n<k>`).
 * Adds them to the backend's per-message bits and records (new columns of `length`) and to the
 * statuses seen for Node-RED's messages; `taken` counts the backend's records among them.
 */
export function withFeedbackTakenElsewhere(
  sends: { feedback: ArrayLike<number>; feedbackRecords: ArrayLike<number> },
  length: number,
  redFeedback: Record<string, string[]>,
  elsewhere: Record<string, string[]>,
  numberOf: (messageId: string) => number | undefined,
): { feedback: number[]; feedbackRecords: number[]; redFeedback: Record<string, string[]>; taken: number } {
  const feedback = Array.from({ length }, (_, i) => sends.feedback[i] ?? 0);
  const feedbackRecords = Array.from({ length }, (_, i) => sends.feedbackRecords[i] ?? 0);
  const red: Record<string, string[]> = Object.fromEntries(Object.entries(redFeedback).map(([k, v]) => [k, [...v]]));
  let taken = 0;
  for (const [id, statuses] of Object.entries(elsewhere)) {
    const n = numberOf(id);
    if (n === undefined) {
      (red[id] ??= []).push(...statuses);
      continue;
    }
    if (n >= length) continue;
    for (const st of statuses) {
      feedback[n]! |= FEEDBACK_BIT[st as FeedbackStatusCode] ?? 0;
      feedbackRecords[n]!++;
      taken++;
    }
  }
  return { feedback, feedbackRecords, redFeedback: red, taken };
}

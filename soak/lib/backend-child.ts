/**
 * The soak's backend, in its own load process: one ServiceClient sending a
 * steady rate to random devices (mixed ack modes, TTLs and sizes; a share
 * to sleepy devices, whose queues fill up: 403004 is expected and counted),
 * and a feedback receiver that completes most batches and abandons some.
 * Every send is numbered; its outcome and the feedback records that name it
 * are kept per number for the accounting at the end.
 */
import { ServiceClient, type FeedbackBatchHandle, type FeedbackStatusCode } from '../../lib';
import { ACK_MODES as ACKS, FEEDBACK_BIT, SEND_STATUS as SEND } from './accounting';
import { serve } from '../../bench/lib/ipc';
import { LatencyWindow } from './latency';
import type { SoakDevice, SoakPlan } from './plan';
import { Column, encodeBody, messageIdOf, nowMs, numberOf } from './records';
import { Tally, describeError, errorLabel, type TallyReport } from './tally';

export interface BackendOpenArgs {
  plan: SoakPlan;
  devices: SoakDevice[];
  serviceConnectionString: string;
  ca: string;
  /** The hub's HTTPS port (registry calls); the connection string's port is the AMQPS one. */
  httpsPort: number;
  /** The hub's default TTL (ms), for sends that give none. */
  defaultTtlMs: number;
}

export interface BackendSample {
  sendLatency: string;
  tally: TallyReport;
  sent: number;
  inFlight: number;
}

export interface BackendRecords {
  length: number;
  status: string;
  device: string;
  ack: string;
  expiresAt: string;
  feedback: string;
  feedbackRecords: string;
  feedbackAbandoned: string;
  redFeedback: Record<string, string[]>;
  tally: TallyReport;
}

const SEND_TIMEOUT_MS = 60_000;

let plan: SoakPlan;
let service: ServiceClient;
let devices: SoakDevice[] = [];
let normal: SoakDevice[] = [];
let sleepy: SoakDevice[] = [];
let defaultTtlMs = 3_600_000;
let ticker: NodeJS.Timeout | undefined;
let draining = false;
let next = 0;
let startedAt = 0;
let inFlight = 0;
const inFlightDone: (() => void)[] = [];
const tally = new Tally();
/** Feedback for the messages of Node-RED's network flow (ids `n<k>`): statuses per id. */
const redFeedback = new Map<string, string[]>();
const sendLatency = new LatencyWindow();

const rec = {
  status: new Column(Uint8Array, 65536),
  device: new Column(Uint32Array, 65536),
  ack: new Column(Uint8Array, 65536),
  expiresAt: new Column(Float64Array, 65536),
  feedback: new Column(Uint8Array, 65536),
  feedbackRecords: new Column(Uint8Array, 65536),
  feedbackAbandoned: new Column(Uint8Array, 65536),
};

const any = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

function sendOne(): void {
  const n = next++;
  const toSleepy = sleepy.length > 0 && Math.random() < plan.sleepyShare;
  const d = toSleepy ? any(sleepy) : any(normal);
  const ackIndex = Math.floor(Math.random() * ACKS.length);
  // Sleepy devices get short TTLs (they expire while it sleeps); the rest long ones.
  const ttlMs = toSleepy ? 60_000 + Math.floor(Math.random() * 30_000) : any([undefined, 600_000, 7_200_000]);
  const sentAt = nowMs();
  const bytes = any([64, 128, 256, 1024]);
  rec.device.set(n, d.index);
  rec.ack.set(n, ackIndex);
  rec.expiresAt.set(n, sentAt + (ttlMs ?? defaultTtlMs));
  inFlight++;
  service
    .send(d.deviceId, encodeBody(n, d.index, sentAt, bytes), {
      messageId: messageIdOf(n),
      ack: ACKS[ackIndex],
      ...(ttlMs !== undefined ? { ttlMs } : {}),
      timeoutMs: SEND_TIMEOUT_MS,
    })
    .then(
      () => {
        rec.status.set(n, SEND.accepted);
        sendLatency.recordMs(nowMs() - sentAt);
      },
      (e: unknown) => {
        const name = (e as { name?: unknown }).name;
        if (name === 'DeviceMaximumQueueDepthExceeded') {
          rec.status.set(n, SEND.queueFull);
          tally.add(`refused: 403004 queue full (${d.sleepy ? 'sleepy device' : 'online fleet'})`);
        } else if (name === 'ServiceUnavailable' && /did not confirm/.test(String((e as Error).message))) {
          // Timed out: the hub may still have committed it (the accounting allows for both).
          rec.status.set(n, SEND.timedOut);
          tally.add('unexpected: send timed out', describeError(e));
        } else {
          rec.status.set(n, SEND.failed);
          tally.add(`unexpected: send failed: ${errorLabel(e)}`, `${d.deviceId}: ${describeError(e)}`);
        }
      },
    )
    .finally(() => {
      inFlight--;
      if (inFlight === 0) for (const w of inFlightDone.splice(0)) w();
    });
}

/** Sends what the rate owes since the start; a hub too slow to keep up shows as in-flight sends piling up (capped). */
function tick(): void {
  const owed = Math.floor(((nowMs() - startedAt) / 1000) * plan.ratePerSecond) - next - skipped;
  const cap = plan.ratePerSecond * 20;
  for (let i = 0; i < owed; i++) {
    if (inFlight >= cap) {
      skipped += owed - i;
      tally.add('unexpected: sends skipped (too many in flight)', undefined, owed - i);
      return;
    }
    sendOne();
  }
}
let skipped = 0;

async function receiveFeedback(): Promise<void> {
  for await (const b of service.feedback()) void settleBatch(b);
}

async function settleBatch(b: FeedbackBatchHandle): Promise<void> {
  const abandon = !draining && Math.random() < plan.feedbackAbandon;
  for (const r of b.records) {
    const n = numberOf(r.originalMessageId);
    if (n === undefined) {
      // Node-RED's network flow sends to the same hub, and its feedback node shares the batches with this receiver.
      if (/^n\d+$/.test(r.originalMessageId)) {
        const list = redFeedback.get(r.originalMessageId);
        if (list) list.push(r.statusCode);
        else redFeedback.set(r.originalMessageId, [r.statusCode]);
        tally.add(`feedback (Node-RED's messages): ${r.statusCode}`);
      } else tally.add('unexpected: feedback for a message nobody in the soak sent', r.originalMessageId);
      continue;
    }
    const bit = FEEDBACK_BIT[r.statusCode as FeedbackStatusCode] ?? 0;
    if (bit === 0) tally.add('unexpected: unknown feedback status', r.statusCode);
    rec.feedback.set(n, rec.feedback.get(n) | bit);
    rec.feedbackRecords.add(n);
    if (abandon) rec.feedbackAbandoned.add(n);
    tally.add(`feedback: ${r.statusCode}`);
  }
  try {
    if (abandon) await b.abandon();
    else await b.complete();
    tally.add(abandon ? 'feedback batches abandoned' : 'feedback batches completed');
  } catch (e) {
    tally.add(`unexpected: feedback ${abandon ? 'abandon' : 'complete'} failed: ${errorLabel(e)}`, describeError(e));
  }
}

serve({
  async open(a: BackendOpenArgs): Promise<void> {
    plan = a.plan;
    devices = a.devices;
    normal = devices.filter((d) => !d.sleepy);
    sleepy = devices.filter((d) => d.sleepy);
    defaultTtlMs = a.defaultTtlMs;
    service = ServiceClient.fromConnectionString(a.serviceConnectionString, {
      ca: a.ca,
      ports: { https: a.httpsPort },
      tokenLifetimeMs: plan.tokenLifetimeMs,
      tokenRenewalMarginMs: plan.tokenRenewalMarginMs,
    });
    service.on('error', (e: unknown) => tally.add(`unexpected: service client error event: ${errorLabel(e)}`, describeError(e)));
    service.on('disconnected_retrying', (s: { reason: string }) => tally.add(`service reconnecting (${s.reason})`));
    service.on('disconnected', (s: { reason: string }) => {
      if (s.reason !== 'closed-by-client') tally.add(`unexpected: service client gave up (${s.reason})`);
    });
    service.on('token_renewed', () => tally.add('service token renewed'));
    service.on('send_retrying', (s: { cause: unknown }) => tally.add(`send retried: ${errorLabel(s.cause)}`));
    await service.open();
    void receiveFeedback().catch((e: unknown) => tally.add('unexpected: feedback receiver ended', describeError(e)));
  },
  start(): void {
    startedAt = nowMs();
    next = 0;
    ticker = setInterval(tick, 10);
  },
  /** Stops sending; resolves once every send has its answer. */
  async stop(): Promise<number> {
    if (ticker) clearInterval(ticker);
    ticker = undefined;
    if (inFlight > 0) await new Promise<void>((resolve) => inFlightDone.push(resolve));
    return next;
  },
  /** Every feedback batch is completed from now on. */
  drain(): void {
    draining = true;
  },
  sample(): BackendSample {
    return { sendLatency: sendLatency.take(), tally: tally.report(), sent: next, inFlight };
  },
  records(): BackendRecords {
    const length = next;
    return {
      length,
      status: rec.status.encode(length),
      device: rec.device.encode(length),
      ack: rec.ack.encode(length),
      expiresAt: rec.expiresAt.encode(length),
      feedback: rec.feedback.encode(length),
      feedbackRecords: rec.feedbackRecords.encode(length),
      feedbackAbandoned: rec.feedbackAbandoned.encode(length),
      redFeedback: Object.fromEntries(redFeedback),
      tally: tally.report(),
    };
  },
  /** Pending messages per device, as the hub's registry counts them (cloudToDeviceMessageCount). */
  async pending(a: { deviceIds: string[] }): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < a.deviceIds.length) {
        const id = a.deviceIds[next++]!;
        out[id] = (await service.getDevice(id)).cloudToDeviceMessageCount;
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    return out;
  },
  async close(): Promise<TallyReport> {
    await service?.close();
    return tally.report();
  },
});

process.on('unhandledRejection', (e) => tally.add('unexpected: unhandled rejection in the backend process', describeError(e)));
process.on('uncaughtException', (e) => tally.add('unexpected: uncaught exception in the backend process', describeError(e)));

/**
 * The pass criteria over a soak's minute-by-minute figures: memory
 * that stops growing after the warm-up, descriptors and handles that follow
 * the connections rather than the clock, a bounded WAL, and a p99 latency at
 * the end within 1.5x of the one after the warm-up. Accounting and errors are
 * judged elsewhere and come in as verdicts. Timing criteria are marked so the
 * short correctness run can leave them out.
 */

export interface ProcessMinute {
  rssMB: number;
  heapUsedMB: number;
  /** Memory V8 accounts for outside its heap (Buffers and ArrayBuffers), so RSS growth splits into heap, Buffers and the rest (native). */
  externalMB: number;
  openFds: number;
  activeHandles: number;
  eventLoopP99Ms: number;
  storeMB: number;
  walMB: number;
  queued: number;
  locked: number;
  deadLetters: number;
  /** Connections the process holds for devices (the hub: its TCP connections); 0 where none are expected to vary. */
  connections: number;
}

export interface MinuteRow {
  minute: number;
  atMs: number;
  hub: ProcessMinute;
  /** latency: the embedded flow's (in-process); networkP99Ms: the network flow's (MQTT, AMQP and HTTPS devices). */
  red?: ProcessMinute & { latencyP99Ms: number; latencyCount: number; networkP99Ms: number };
  /** Send -> receive p99 (ms) of the minute: push transports (MQTT + AMQP) and HTTPS polling. */
  pushP99Ms: number;
  pushCount: number;
  httpP99Ms: number;
  sendP99Ms: number;
  connectedDevices: number;
  sent: number;
  refusedQueueFull: number;
}

export interface Criterion {
  name: string;
  met: boolean;
  detail: string;
  /** Depends on the machine's timing (left out of the short correctness run). */
  timing: boolean;
}

/** Least-squares slope of ys over xs (per unit of x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const range = (ys: readonly number[]): number => (ys.length === 0 ? 0 : Math.max(...ys) - Math.min(...ys));
const f1 = (x: number): string => x.toFixed(1);

export interface Windows {
  warmupMinutes: number;
  windowMinutes: number;
}

/** Rows after the warm-up, and the first and last windows of them. */
export function windowsOf(rows: readonly MinuteRow[], w: Windows): { after: MinuteRow[]; first: MinuteRow[]; last: MinuteRow[] } {
  const after = rows.filter((r) => r.minute > w.warmupMinutes);
  return { after, first: after.slice(0, w.windowMinutes), last: after.slice(-w.windowMinutes) };
}

/** Memory, descriptors, handles and WAL of one process. */
export function processCriteria(label: string, rows: readonly MinuteRow[], pick: (r: MinuteRow) => ProcessMinute | undefined, w: Windows): Criterion[] {
  const { after, first, last } = windowsOf(rows, w);
  const xs = after.filter((r) => pick(r)).map((r) => r.minute);
  const ps = after.map(pick).filter((p): p is ProcessMinute => p !== undefined);
  if (ps.length < 2) return [{ name: `${label}: enough samples after the warm-up`, met: false, detail: `${ps.length} samples`, timing: false }];
  const rssPer10 =
    slope(
      xs,
      ps.map((p) => p.rssMB),
    ) * 10;
  const floor = (rs: readonly MinuteRow[]): number =>
    Math.min(
      ...rs
        .map(pick)
        .filter((p): p is ProcessMinute => p !== undefined)
        .map((p) => p.heapUsedMB),
    );
  const heapFirst = floor(first);
  const heapLast = floor(last);
  const fdResidual = ps.map((p) => p.openFds - p.connections);
  const handleResidual = ps.map((p) => p.activeHandles - p.connections);
  const walFirst = Math.max(
    ...first
      .map(pick)
      .filter((p): p is ProcessMinute => p !== undefined)
      .map((p) => p.walMB),
  );
  const walLast = Math.max(
    ...last
      .map(pick)
      .filter((p): p is ProcessMinute => p !== undefined)
      .map((p) => p.walMB),
  );
  return [
    {
      name: `${label}: RSS grows at most 2 MB per 10 minutes after the warm-up`,
      met: rssPer10 <= 2,
      detail: `${f1(rssPer10)} MB per 10 min (least squares over ${ps.length} minutes)`,
      timing: true,
    },
    {
      name: `${label}: heap used returns to its level (lowest sample, first vs last window)`,
      met: heapLast <= heapFirst + 2,
      detail: `${f1(heapFirst)} MB -> ${f1(heapLast)} MB`,
      timing: true,
    },
    {
      name: `${label}: open descriptors track connections, not time`,
      met: range(fdResidual) <= 25 && Math.abs(slope(xs, fdResidual) * 10) <= 5,
      detail: `descriptors minus connections from ${Math.min(...fdResidual)} to ${Math.max(...fdResidual)}`,
      timing: true,
    },
    {
      name: `${label}: active handles track connections, not time`,
      met: range(handleResidual) <= 25 && Math.abs(slope(xs, handleResidual) * 10) <= 5,
      detail: `handles minus connections from ${Math.min(...handleResidual)} to ${Math.max(...handleResidual)}`,
      timing: true,
    },
    {
      name: `${label}: the WAL stays bounded (checkpoints happen)`,
      met: walLast <= Math.max(walFirst * 1.5, walFirst + 4) && walLast <= 256,
      detail: `largest WAL ${f1(walFirst)} MB in the first window, ${f1(walLast)} MB in the last`,
      timing: true,
    },
  ];
}

export function latencyCriterion(firstP99: number, lastP99: number, counts: [number, number]): Criterion {
  return {
    name: 'send -> receive p99 in the last window within 1.5x of the first after the warm-up (MQTT + AMQP)',
    met: counts[0] > 0 && counts[1] > 0 && lastP99 <= firstP99 * 1.5,
    detail: `${f1(firstP99)} ms -> ${f1(lastP99)} ms (${counts[0]} and ${counts[1]} messages)`,
    timing: true,
  };
}

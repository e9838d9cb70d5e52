/**
 * Loaded inside the soak's Node-RED (settings.functionGlobalContext, so the
 * flows' function nodes reach it as `global.get('soakProbe')`): it counts
 * the flows' own traffic per message id (sent, received, settled, feedback),
 * keeps the send -> receive latencies of the current minute, and reports the
 * process (memory, descriptors, handles, event-loop delay) through
 * prom-client's default metrics, the same ones the hub's /metrics has. It
 * lives as long as the process, so redeploys do not reset it. The driver
 * takes the records every minute and keeps them itself: kept here, they
 * would grow this process's heap by the hour and be counted against the
 * nodes' memory.
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { RedFlowRecords } from './red-records';

interface FlowRecords {
  accepted: Set<string>;
  sendErrors: Map<string, number>;
  received: Map<string, number>;
  settled: Map<string, string[]>;
  settleErrors: Map<string, number>;
  feedback: Map<string, string[]>;
}

export interface RedProcessSample {
  rssMB: number;
  heapUsedMB: number;
  externalMB: number;
  openFds: number;
  activeHandles: number;
  eventLoopP99Ms: number;
  /** Send -> receive of each flow's first deliveries this minute (ms). */
  latency: Record<string, { count: number; p99: number; p50: number }>;
  hubEvents: Record<string, number>;
}

const registry = new Registry();
collectDefaultMetrics({ register: registry });

const flows = new Map<string, FlowRecords>();
let latencies = new Map<string, number[]>();
const hubEvents = new Map<string, number>();
let n = 0;

function flow(name: string): FlowRecords {
  let f = flows.get(name);
  if (!f)
    flows.set(
      name,
      (f = { accepted: new Set(), sendErrors: new Map(), received: new Map(), settled: new Map(), settleErrors: new Map(), feedback: new Map() }),
    );
  return f;
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export const probe = {
  /** Set by the driver: the flows stop sending (quiet) / settle everything with complete (draining). */
  quiet: false,
  draining: false,
  nextId(flowName: string): string {
    return `${flowName}${n++}`;
  },
  sent(flowName: string, messageId: string): void {
    flow(flowName).accepted.add(messageId);
  },
  sendError(flowName: string, label: string): void {
    bump(flow(flowName).sendErrors, label);
  },
  received(flowName: string, messageId: string, sentAtMs: number, deliveryCount: number): void {
    const f = flow(flowName);
    // A first delivery has deliveryCount 0 (a redelivery counts up); within a minute's records, also not seen yet.
    const first = !f.received.has(messageId);
    bump(f.received, messageId);
    if (first && deliveryCount === 0 && Number.isFinite(sentAtMs)) {
      const l = latencies.get(flowName);
      if (l) l.push(Date.now() - sentAtMs);
      else latencies.set(flowName, [Date.now() - sentAtMs]);
    }
  },
  settled(flowName: string, messageId: string, action: string): void {
    push(flow(flowName).settled, messageId, action);
  },
  settleError(flowName: string, label: string): void {
    bump(flow(flowName).settleErrors, label);
  },
  feedback(flowName: string, messageId: string, status: string): void {
    push(flow(flowName).feedback, messageId, status);
  },
  hubEvent(name: string): void {
    bump(hubEvents, name);
  },
  /** This minute's figures; the latency window and the event-loop histogram start again. */
  async sample(): Promise<RedProcessSample> {
    // Read through prom-client, as the hub's /metrics is: one collect of them all (some
    // metrics are set by a sibling's collect), which also resets the event-loop histogram.
    const all = await registry.getMetricsAsJSON();
    const value = (name: string): number => Number(all.find((m) => m.name === name)?.values[0]?.value ?? 0);
    const [rss, heap, external, fds, handles, lag] = [
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_external_memory_bytes',
      'process_open_fds',
      'nodejs_active_handles_total',
      'nodejs_eventloop_lag_p99_seconds',
    ].map(value) as [number, number, number, number, number, number];
    const l = latencies;
    latencies = new Map();
    return {
      rssMB: rss / 1048576,
      heapUsedMB: heap / 1048576,
      externalMB: external / 1048576,
      openFds: fds,
      activeHandles: handles,
      eventLoopP99Ms: lag * 1000,
      latency: Object.fromEntries([...l].map(([f, xs]) => [f, { count: xs.length, p50: percentile(xs, 50), p99: percentile(xs, 99) }])),
      hubEvents: Object.fromEntries(hubEvents),
    };
  },
  /** The records since the last call, which this process then forgets (mergeRecords puts them together). */
  takeRecords(): Record<string, RedFlowRecords> {
    const out: Record<string, RedFlowRecords> = {};
    const taken = [...flows];
    flows.clear();
    for (const [name, f] of taken) {
      out[name] = {
        accepted: [...f.accepted],
        sendErrors: Object.fromEntries(f.sendErrors),
        received: Object.fromEntries(f.received),
        settled: Object.fromEntries(f.settled),
        settleErrors: Object.fromEntries(f.settleErrors),
        feedback: Object.fromEntries(f.feedback),
      };
    }
    return out;
  },
};

export type SoakProbe = typeof probe;

/**
 * The hub's metrics, in Prometheus terms (prom-client). Three sources, all
 * observation only: hub events (counters), `hub.stats()` and the queue
 * depths sampled at scrape time (gauges), and the store's commit observer
 * and the servers' access observer (histograms, refusals). Nothing the hub
 * needs for correctness waits on anything here.
 *
 * Names follow Prometheus' conventions: `c2d_` prefix, `_total` on counters,
 * seconds for time. Label values are bounded: transports, outcomes, reasons
 * from fixed sets, and device ids only for the few deepest queues.
 */
import { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HubEvents, HubStats } from '../api';
import { transportOf, type AccessEvent } from '../access';
import type { CommitInfo } from '../engine/sqlite-store';

/** What metrics read from a hub: its events, its stats, and (when it has them) its queue depths. */
export interface MetricsSource {
  readonly events: HubEvents;
  /** `deadLetters`: kept dead letters, when the hub keeps them. */
  stats(): HubStats & { deadLetters?: number };
  queueDepths?(): Iterable<{ deviceId: string; enqueued: number; locked: number }>;
}

export interface HubMetricsOptions {
  /** Devices reported by name, the deepest queues first (default 10). */
  topDevices?: number;
  /** Node's process metrics (CPU, memory, event-loop lag...). Default true; off where the host reports its own (Node-RED). */
  processMetrics?: boolean;
}

/** A counter's new total, for hosts that report counters their own way (Node-RED's node.metric()). */
export interface CountEvent {
  name: string;
  labels: Record<string, string>;
  total: number;
}

const COMMIT_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const GROUP_SIZES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** Transport label for a device whose transport is not known (yet): its last delivery's, else its last connection's. */
const UNKNOWN = 'unknown';

export class HubMetrics extends EventEmitter<{ count: [CountEvent] }> {
  readonly registry = new Registry();
  /** Each counter's name, as it was made (prom-client's typings do not show it on the counter). */
  private readonly counterNames = new WeakMap<Counter<string>, string>();
  private readonly totals = new Map<string, number>();
  private readonly transports = new Map<string, string>();
  private source: MetricsSource | undefined;
  private openConnections: (() => number) | undefined;
  private detachEvents: (() => void) | undefined;

  private readonly c = {
    sends: this.counter('c2d_sends_total', 'C2D messages accepted into a device queue (committed).', []),
    deliveries: this.counter('c2d_deliveries_total', 'C2D messages handed to a device (locked).', ['transport']),
    settlements: this.counter('c2d_settlements_total', 'C2D messages settled by their device, by outcome.', ['transport', 'outcome']),
    lockExpiries: this.counter('c2d_lock_expiries_total', 'Locks that expired without a settlement (the message is delivered again).', ['transport']),
    expiries: this.counter('c2d_expiries_total', 'C2D messages whose TTL passed before they were completed.', []),
    deadLetters: this.counter('c2d_dead_letters_total', 'C2D messages dead-lettered, by reason.', ['reason']),
    purged: this.counter('c2d_purged_messages_total', 'C2D messages removed by purge.', []),
    feedback: this.counter('c2d_feedback_records_total', 'Feedback records produced, by status code.', ['status']),
    deviceConnections: this.counter('c2d_device_connections_total', 'Device connections opened, by transport.', ['transport']),
    authAccepted: this.counter('c2d_authentications_total', 'Credentials accepted, by transport and method.', ['transport', 'method']),
    authFailures: this.counter('c2d_auth_failures_total', 'Credentials or rights refused, by transport and reason.', ['transport', 'reason']),
    refused: this.counter('c2d_connections_refused_total', 'Connections refused before authentication, by transport and reason.', ['transport', 'reason']),
    commits: this.counter('c2d_store_commits_total', 'Store transactions committed.', []),
    commitFailures: this.counter('c2d_store_commit_failures_total', 'Store transactions that failed (their writes were refused).', []),
  };

  private readonly commitSeconds = new Histogram({
    name: 'c2d_store_commit_duration_seconds',
    help: 'Time of one store commit, its sync to disk included.',
    buckets: COMMIT_SECONDS,
    registers: [this.registry],
  });
  private readonly groupSize = new Histogram({
    name: 'c2d_store_commit_group_size',
    help: 'Writes (sends, settlements, registry changes) that shared one commit.',
    buckets: GROUP_SIZES,
    registers: [this.registry],
  });

  constructor(options: HubMetricsOptions = {}) {
    super();
    const sample = (): (HubStats & { deadLetters?: number }) | undefined => this.source?.stats();
    const depths = (): Iterable<{ deviceId: string; enqueued: number; locked: number }> | undefined => this.source?.queueDepths?.();
    const topDevices = options.topDevices ?? 10;
    const openConnections = (): number | undefined => this.openConnections?.();
    const connected = (): Iterable<string> => this.connected.values();
    new Gauge({
      name: 'c2d_queue_messages',
      help: 'C2D messages in the hub by state: enqueued (waiting), locked (delivered, not settled), dead_lettered (kept dead letters).',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const s = sample();
        if (!s) return;
        this.set({ state: 'enqueued' }, s.queued);
        this.set({ state: 'locked' }, s.locked);
        if (typeof s.deadLetters === 'number') this.set({ state: 'dead_lettered' }, s.deadLetters);
      },
    });
    new Gauge({
      name: 'c2d_device_queue_messages',
      help: 'Pending C2D messages (enqueued and locked) of the deepest device queues.',
      labelNames: ['device_id', 'state'],
      registers: [this.registry],
      collect() {
        this.reset();
        const all = depths();
        if (!all) return;
        const top = [...all].sort((a, b) => b.enqueued + b.locked - (a.enqueued + a.locked)).slice(0, topDevices);
        for (const d of top) {
          this.set({ device_id: d.deviceId, state: 'enqueued' }, d.enqueued);
          this.set({ device_id: d.deviceId, state: 'locked' }, d.locked);
        }
      },
    });
    const gauge = (name: string, help: string, read: (s: HubStats) => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          const s = sample();
          if (s) this.set(read(s));
        },
      });
    };
    gauge('c2d_devices', 'Devices in the registry.', (s) => s.devices);
    gauge('c2d_feedback_records_pending', 'Feedback records waiting to be batched.', (s) => s.feedbackPending);
    gauge('c2d_feedback_batches', 'Feedback messages waiting for (or locked to) a backend.', (s) => s.feedbackBatches);
    new Gauge({
      name: 'c2d_connections_open',
      help: "TCP connections open across the hub's ports.",
      registers: [this.registry],
      collect() {
        const n = openConnections();
        if (n !== undefined) this.set(n);
      },
    });
    new Gauge({
      name: 'c2d_devices_connected',
      help: 'Devices connected now, by transport.',
      labelNames: ['transport'],
      registers: [this.registry],
      collect() {
        this.reset();
        const n = new Map<string, number>();
        for (const t of connected()) n.set(t, (n.get(t) ?? 0) + 1);
        for (const [transport, count] of n) this.set({ transport }, count);
      },
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Devices connected now and their transport. */
  private readonly connected = new Map<string, string>();

  private counter(name: string, help: string, labelNames: string[]): Counter<string> {
    const c = new Counter({ name, help, labelNames, registers: [this.registry] });
    this.counterNames.set(c, name);
    return c;
  }

  private inc(counter: Counter<string>, labels: Record<string, string> = {}, by = 1): void {
    counter.inc(labels, by);
    const name = this.counterNames.get(counter) ?? '';
    const key = `${name}${JSON.stringify(labels)}`;
    const total = (this.totals.get(key) ?? 0) + by;
    this.totals.set(key, total);
    if (this.listenerCount('count') > 0) this.emit('count', { name, labels, total });
  }

  private transportOfDevice(deviceId: string): string {
    return this.transports.get(deviceId) ?? UNKNOWN;
  }

  /** Give to Hub.open / EmbeddedHub.start as `onCommit`. */
  readonly onCommit = (info: CommitInfo): void => {
    if (info.error !== undefined) {
      this.inc(this.c.commitFailures);
      return;
    }
    this.inc(this.c.commits);
    this.commitSeconds.observe(info.durationMs / 1000);
    this.groupSize.observe(info.writes);
  };

  /** Give to EmbeddedHub.start as `onAccess`. */
  readonly onAccess = (e: AccessEvent): void => {
    if (e.type === 'connection-refused') this.inc(this.c.refused, { transport: e.transport, reason: e.reason });
    else if (e.type === 'auth-refused') this.inc(this.c.authFailures, { transport: e.transport, reason: e.reason });
    else this.inc(this.c.authAccepted, { transport: e.transport, method: e.method });
  };

  /** Starts counting `source`'s events and sampling its stats; returns the detach function. */
  attach(source: MetricsSource, extras: { openConnections?: () => number } = {}): () => void {
    this.detachEvents?.();
    this.source = source;
    this.openConnections = extras.openConnections;
    const ev = source.events;
    const on: Array<[string, (e: never) => void]> = [
      ['enqueued', () => this.inc(this.c.sends)],
      [
        'delivered',
        (e: { deviceId: string; transport?: string }) => {
          // The delivery names its transport; the settlements that follow are the device's on that one.
          if (e.transport !== undefined) this.transports.set(e.deviceId, transportOf(e.transport));
          this.inc(this.c.deliveries, { transport: this.transportOfDevice(e.deviceId) });
        },
      ],
      ['completed', (e: { deviceId: string }) => this.inc(this.c.settlements, { transport: this.transportOfDevice(e.deviceId), outcome: 'completed' })],
      ['rejected', (e: { deviceId: string }) => this.inc(this.c.settlements, { transport: this.transportOfDevice(e.deviceId), outcome: 'rejected' })],
      ['abandoned', (e: { deviceId: string }) => this.inc(this.c.settlements, { transport: this.transportOfDevice(e.deviceId), outcome: 'abandoned' })],
      ['lockExpired', (e: { deviceId: string }) => this.inc(this.c.lockExpiries, { transport: this.transportOfDevice(e.deviceId) })],
      ['expired', () => this.inc(this.c.expiries)],
      ['deadLettered', (e: { reason: string }) => this.inc(this.c.deadLetters, { reason: e.reason })],
      ['purged', (e: { count: number }) => this.inc(this.c.purged, {}, e.count)],
      [
        'feedback',
        (e: { records: { statusCode: string }[] }) => {
          for (const r of e.records) this.inc(this.c.feedback, { status: r.statusCode });
        },
      ],
      [
        'deviceConnected',
        (e: { deviceId: string; protocol: string }) => {
          const t = transportOf(e.protocol);
          this.transports.set(e.deviceId, t);
          this.connected.set(e.deviceId, t);
          this.inc(this.c.deviceConnections, { transport: t });
        },
      ],
      ['deviceDisconnected', (e: { deviceId: string }) => this.connected.delete(e.deviceId)],
      [
        'deviceDeleted',
        (e: { deviceId: string }) => {
          this.transports.delete(e.deviceId);
          this.connected.delete(e.deviceId);
        },
      ],
    ];
    for (const [name, fn] of on) ev.on(name as never, fn as never);
    const detach = (): void => {
      for (const [name, fn] of on) ev.off(name as never, fn as never);
      if (this.source === source) this.source = undefined;
      this.detachEvents = undefined;
    };
    this.detachEvents = detach;
    return detach;
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

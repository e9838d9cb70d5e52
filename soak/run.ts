/**
 * `npm run soak -- --minutes N [--profile full|ci] [--out <dir>] [--record]`
 *
 * An hour (by default) of churn against the `c2d-hub` command: the hub in its
 * own process on its own core, its store on disk at synchronous FULL; load
 * from other processes through the project's clients (devices over MQTT,
 * AMQP and HTTPS that disconnect and come back, tokens that renew, a backend
 * at a steady rate, a feedback receiver); and a Node-RED with the nodes,
 * redeployed every few minutes under its own traffic. Every minute it records
 * the hub's and Node-RED's figures; at the end it accounts for every send and
 * prints the pass criteria, met or not, and writes its report (report.md,
 * result.json, chart.svg) into --out. With --record it also replaces the
 * results section of RELIABILITY.md and writes reliability-soak.svg beside it
 * (only for the full profile: the ci one is a correctness check, not a
 * measurement). Exit code 0 when every criterion
 * of the run is met (the ci profile leaves the timing ones out).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { formatConnectionString, generateKey, RIGHTS, type FeedbackStatusCode } from '../lib';
import { Child, pinSelf, pinnable } from '../bench/lib/ipc';
import { machine } from '../bench/lib/measure';
import { problemsIn, startRed, type RedProcess } from '../test/install/red-process';
import {
  account,
  crossCheck,
  feedbackByStatus,
  feedbackCheck,
  FATES,
  withFeedbackTakenElsewhere,
  type Account,
  type CrossCheck,
  type OtherTraffic,
} from './lib/accounting';
import type { BackendRecords, BackendSample } from './lib/backend-child';
import { latencyCriterion, processCriteria, windowsOf, type Criterion, type MinuteRow, type ProcessMinute } from './lib/criteria';
import type { FleetRecords, FleetSample } from './lib/fleet-child';
import { startHubProcess, type HubProcess, type Metrics } from './lib/hub-process';
import { LatencySum } from './lib/latency';
import { devicesOf, planFor, type Profile, type SoakDevice } from './lib/plan';
import { Column, numberOf } from './lib/records';
import type { RedProcessSample } from './lib/red-probe';
import { emptyRecords, mergeRecords, type RedFlowRecords } from './lib/red-records';
import { RED_NETWORK_DEVICES, soakFlows } from './lib/red-flows';
import { chart, hubTable, redTable, verdicts, writeSection } from './lib/report';
import { Tally, describeError, type TallyReport } from './lib/tally';

const ROOT = path.resolve(__dirname, '../..');
const HUB_CPU = 1;
const LOAD_CPU = 0;
const MB = 1048576;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '60' },
    profile: { type: 'string', default: 'full' },
    out: { type: 'string' },
    record: { type: 'boolean', default: false },
  },
});
const minutes = Number(values.minutes);
if (!Number.isInteger(minutes) || minutes < 2) throw new Error(`--minutes takes a whole number of minutes, 2 or more (got ${values.minutes}).`);
if (values.profile !== 'full' && values.profile !== 'ci') throw new Error(`--profile is full or ci (got ${values.profile}).`);
const plan = planFor(values.profile as Profile, minutes);
const stamp = new Date().toISOString().slice(0, 16).replace(/[:T]/g, '-');
const outDir = path.resolve(values.out ?? path.join(ROOT, '.tmp', 'soak', stamp));
const record = values.record;
if (record && plan.profile !== 'full')
  throw new Error('--record records a run of the full profile only (the ci profile is scaled down and its timing is not judged).');

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));
const log = (line: string): void => console.log(`[soak ${new Date().toISOString().slice(11, 19)}] ${line}`);
const sizeMB = (file: string): number => (fs.existsSync(file) ? fs.statSync(file).size / MB : 0);

interface Fleet {
  kind: string;
  child: Child;
  devices: SoakDevice[];
}

/** Everything the run started, so a failure anywhere still stops it all. */
const running: { hub?: HubProcess; red?: RedProcess; children: Child[] } = { children: [] };

async function stopAll(): Promise<void> {
  await Promise.all(running.children.map((c) => c.kill()));
  await running.red?.stop().catch(() => undefined);
  await running.hub?.stop().catch(() => undefined);
}

function hubConfig(dataDir: string, devices: SoakDevice[], deviceKey: string, serviceKey: string): object {
  const sas = (deviceId: string): object => ({ deviceId, auth: 'sas', primaryKey: deviceKey, secondaryKey: deviceKey });
  return {
    dataDir,
    hubName: 'localhost',
    host: ['127.0.0.1'],
    ports: { amqps: 0, mqtts: 0, https: 0 },
    synchronous: 'full',
    log: 'json',
    admin: { port: 0, host: '127.0.0.1' },
    // Dead letters are kept for the warm-up's length, so their number levels off inside it (24 h by default).
    limits: { deadLetterTtlMs: Math.max(60_000, plan.warmupMinutes * 60_000) },
    devices: [...devices.map((d) => sas(d.deviceId)), ...RED_NETWORK_DEVICES.map(sas)],
    policies: [{ keyName: 'iothubowner', rights: [...RIGHTS], primaryKey: serviceKey, secondaryKey: serviceKey }],
  };
}

/** The hub's process and queue figures from one /metrics scrape. */
function hubMinute(m: Metrics, dataDir: string): ProcessMinute {
  return {
    rssMB: m.get('process_resident_memory_bytes') / MB,
    heapUsedMB: m.get('nodejs_heap_size_used_bytes') / MB,
    externalMB: m.get('nodejs_external_memory_bytes') / MB,
    openFds: m.get('process_open_fds'),
    activeHandles: m.get('nodejs_active_handles_total'),
    eventLoopP99Ms: m.get('nodejs_eventloop_lag_p99_seconds') * 1000,
    storeMB: sizeMB(path.join(dataDir, 'hub.db')),
    walMB: sizeMB(path.join(dataDir, 'hub.db-wal')),
    queued: m.get('c2d_queue_messages', { state: 'enqueued' }),
    locked: m.get('c2d_queue_messages', { state: 'locked' }),
    deadLetters: m.get('c2d_queue_messages', { state: 'dead_lettered' }),
    connections: m.get('c2d_connections_open'),
  };
}

interface RedMetrics {
  process: RedProcessSample;
  hub: { queued: number; locked: number; deadLetters: number };
}

async function redGet<T>(red: RedProcess, route: string, timeoutMs = 15_000): Promise<T> {
  const r = await fetch(red.url + route, { signal: AbortSignal.timeout(timeoutMs) });
  if (!r.ok) throw new Error(`${route}: ${r.status}`);
  return (await r.json()) as T;
}

async function redControl(red: RedProcess, body: { quiet?: boolean; draining?: boolean }): Promise<void> {
  const r = await fetch(`${red.url}/soak/control`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  if (!r.ok) throw new Error(`/soak/control: ${r.status}`);
}

async function main(): Promise<number> {
  fs.mkdirSync(outDir, { recursive: true });
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-soak-'));
  const hubData = path.join(work, 'hub');
  const redUser = path.join(work, 'red');
  const redData = path.join(work, 'red-hub');
  pinSelf(LOAD_CPU);
  const devices = devicesOf(plan);
  const deviceKey = generateKey();
  const serviceKey = generateKey();
  const configFile = path.join(work, 'c2d-hub.json');
  fs.writeFileSync(configFile, JSON.stringify(hubConfig(hubData, devices, deviceKey, serviceKey), null, 2), { mode: 0o600 });
  const loadStart = os.loadavg();
  log(
    `plan: ${plan.profile}, ${minutes} min; ${plan.devices.mqtt} MQTT, ${plan.devices.amqp} AMQP, ${plan.devices.http} HTTPS, ${plan.devices.sleepy} sleepy devices; ${plan.ratePerSecond} msg/s; out ${outDir}`,
  );
  if (!pinnable()) log('taskset not found: processes are not pinned to cores');

  const hub = await startHubProcess({ configFile, logFile: path.join(outDir, 'hub.log'), cpu: HUB_CPU });
  running.hub = hub;
  const ca = fs.readFileSync(hub.caFile, 'utf8');
  const startMetrics = await hub.metrics();
  const lockTimeoutMs = 60_000;
  const maxDeliveryCount = 10;
  log(
    `hub pid ${hub.pid} on core ${HUB_CPU}: amqps ${hub.ports.amqps}, mqtts ${hub.ports.mqtts}, https ${hub.ports.https}, admin ${hub.adminPort}; ${startMetrics.get('c2d_devices')} devices`,
  );

  // Load processes, on the load core with this driver.
  const backend = Child.start('../soak/lib/backend-child', { cpu: LOAD_CPU });
  running.children.push(backend);
  const fleets: Fleet[] = (['mqtt', 'amqp', 'http'] as const).map((kind) => {
    const child = Child.start('../soak/lib/fleet-child', { cpu: LOAD_CPU });
    running.children.push(child);
    return { kind, child, devices: devices.filter((d) => d.transport === kind) };
  });
  const serviceConnectionString = formatConnectionString({
    HostName: `localhost:${hub.ports.amqps}`,
    SharedAccessKeyName: 'iothubowner',
    SharedAccessKey: serviceKey,
  });
  await backend.call('open', { plan, devices, serviceConnectionString, ca, httpsPort: hub.ports.https, defaultTtlMs: 3_600_000 });
  const ports = { amqp: hub.ports.amqps, mqtt: hub.ports.mqtts, http: hub.ports.https };
  const opened = await Promise.all(fleets.map((f) => f.child.call<number>('open', { plan, devices: f.devices, ports, ca, deviceKey, lockTimeoutMs })));
  log(`devices open: ${fleets.map((f, i) => `${opened[i]} ${f.kind}`).join(', ')}`);

  // Node-RED with the nodes (this checkout, through nodesDir) and the probe its flows report to.
  const probe = path.join(__dirname, 'lib', 'red-probe.js');
  const red = await startRed({
    userDir: redUser,
    nodesDir: [ROOT],
    extraSettings: `functionGlobalContext: { soakProbe: require(${JSON.stringify(probe)}).probe },`,
  });
  running.red = red;
  const devCs = (id: string, port: number): string => formatConnectionString({ HostName: `localhost:${port}`, DeviceId: id, SharedAccessKey: deviceKey });
  const flows = soakFlows({
    dataDir: redData,
    injectS: plan.redInjectS,
    network: {
      serviceConnectionString,
      deviceConnectionStrings: [
        devCs(RED_NETWORK_DEVICES[0]!, hub.ports.mqtts),
        devCs(RED_NETWORK_DEVICES[1]!, hub.ports.amqps),
        devCs(RED_NETWORK_DEVICES[2]!, hub.ports.https),
      ],
      ca,
    },
  });
  const deploy = (): Promise<unknown> => red.api('POST', '/flows', { flows }, { 'Node-RED-Deployment-Type': 'full' });
  await deploy();
  log(`Node-RED at ${red.url}, flows deployed`);

  // ---------------------------------------------------------------- the run
  const rows: MinuteRow[] = [];
  const pushHists: string[][] = [];
  const t0 = Date.now();
  await backend.call('start');
  let live = true;
  let redeploys = 0;
  const redProblems = new Tally();
  const redRecords: Record<string, RedFlowRecords> = {};
  let redeploying: Promise<void> = Promise.resolve();
  const churnLoop = (async () => {
    for (let m = 0; live; m++) {
      await sleep(t0 + m * plan.churnEveryMs + 20_000 - Date.now());
      if (!live) return;
      await Promise.all(fleets.map((f) => f.child.call('churn', { fraction: plan.churnFraction }))).catch((e: unknown) =>
        log(`churn failed: ${describeError(e)}`),
      );
    }
  })();
  const redeployLoop = (async () => {
    for (let k = 1; live; k++) {
      await sleep(t0 + k * plan.redeployEveryMs - 20_000 - Date.now());
      if (!live) return;
      redeploying = deploy().then(
        () => void redeploys++,
        (e: unknown) => redProblems.add('unexpected: redeploy failed', describeError(e)),
      );
      await redeploying;
    }
  })();
  let lastQueueFull = 0;
  let lastSent = 0;
  for (let m = 1; m <= minutes; m++) {
    await sleep(t0 + m * 60_000 - Date.now());
    const [hm, b, ...fs_] = await Promise.all([
      hub.metrics(),
      backend.call<BackendSample>('sample'),
      ...fleets.map((f) => f.child.call<FleetSample>('sample')),
    ]);
    const fleetSamples = fs_ as FleetSample[];
    let redM: RedMetrics | undefined;
    try {
      redM = await redGet<RedMetrics>(red, '/soak/metrics');
      // Taken every minute so Node-RED does not hold them; a minute that fails leaves them for the next.
      mergeRecords(redRecords, await redGet<Record<string, RedFlowRecords>>(red, '/soak/records'));
    } catch (e) {
      redProblems.add('no Node-RED sample in a minute', describeError(e));
    }
    const push = new LatencySum();
    const http = new LatencySum();
    const hists: string[] = [];
    for (const s of fleetSamples) {
      for (const [t, h] of Object.entries(s.latency)) {
        if (t === 'http') http.add(h);
        else {
          push.add(h);
          hists.push(h);
        }
      }
    }
    pushHists.push(hists);
    const queueFull = Object.entries(b.tally)
      .filter(([k]) => k.startsWith('refused: 403004'))
      .reduce((a, [, e]) => a + e.count, 0);
    const p = push.summary();
    const row: MinuteRow = {
      minute: m,
      atMs: Date.now(),
      hub: hubMinute(hm, hubData),
      ...(redM
        ? {
            red: {
              rssMB: redM.process.rssMB,
              heapUsedMB: redM.process.heapUsedMB,
              externalMB: redM.process.externalMB,
              openFds: redM.process.openFds,
              activeHandles: redM.process.activeHandles,
              eventLoopP99Ms: redM.process.eventLoopP99Ms,
              storeMB: sizeMB(path.join(redData, 'hub.db')),
              walMB: sizeMB(path.join(redData, 'hub.db-wal')),
              queued: redM.hub.queued,
              locked: redM.hub.locked,
              deadLetters: redM.hub.deadLetters,
              connections: 0,
              latencyP99Ms: redM.process.latency.e?.p99 ?? 0,
              latencyCount: redM.process.latency.e?.count ?? 0,
              networkP99Ms: redM.process.latency.n?.p99 ?? 0,
            },
          }
        : {}),
      pushP99Ms: p.p99,
      pushCount: p.count,
      httpP99Ms: http.summary().p99,
      sendP99Ms: new LatencySum().add(b.sendLatency).summary().p99,
      connectedDevices: hm.sum('c2d_devices_connected'),
      sent: b.sent - lastSent,
      refusedQueueFull: queueFull - lastQueueFull,
    };
    lastSent = b.sent;
    lastQueueFull = queueFull;
    rows.push(row);
    log(
      `min ${m}: hub ${row.hub.rssMB.toFixed(0)} MB (heap ${row.hub.heapUsedMB.toFixed(0)}, external ${row.hub.externalMB.toFixed(0)}), ${row.hub.openFds} fds, ${row.hub.connections} conns, loop p99 ${row.hub.eventLoopP99Ms.toFixed(0)} ms; ` +
        `push p99 ${row.pushP99Ms.toFixed(1)} ms (${row.pushCount}), sent ${row.sent}, 403004 ${row.refusedQueueFull}; ` +
        `queued ${row.hub.queued}, locked ${row.hub.locked}, dead ${row.hub.deadLetters}; ` +
        (row.red
          ? `Node-RED ${row.red.rssMB.toFixed(0)} MB (heap ${row.red.heapUsedMB.toFixed(0)}, external ${row.red.externalMB.toFixed(0)}), ${row.red.openFds} fds, p99 ${row.red.latencyP99Ms} ms`
          : 'Node-RED: no sample'),
    );
    if (hub.exitCode() !== undefined) throw new Error(`the hub exited (${String(hub.exitCode())}) during the run`);
  }

  // ---------------------------------------------------------------- quiesce
  live = false;
  log('stopping the load; draining');
  await redControl(red, { quiet: true }).catch((e: unknown) => redProblems.add('unexpected: Node-RED control failed', describeError(e)));
  // Each step is bounded: a hub that stopped taking connections must still end in a report, not a hang.
  const within = async <T>(what: string, p: Promise<T>, ms: number): Promise<T | undefined> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
    const r = await Promise.race([p, late]);
    clearTimeout(timer);
    if (r === undefined) redProblems.add(`unexpected: ${what} did not finish within ${ms / 1000} s`);
    return r;
  };
  const sentTotal = (await within("the backend's last sends", backend.call<number>('stop'), 120_000)) ?? (await backend.call<BackendSample>('sample')).sent;
  await Promise.all([churnLoop, redeployLoop, redeploying]);
  await within('reconnecting every device for the drain', Promise.all(fleets.map((f) => f.child.call('drain'))), plan.drainTimeoutMs);
  await backend.call('drain');
  await redControl(red, { draining: true }).catch((e: unknown) => redProblems.add('unexpected: Node-RED control failed', describeError(e)));
  const drainStart = Date.now();
  let end = await hub.metrics();
  let redEnd: RedMetrics | undefined;
  for (;;) {
    end = await hub.metrics();
    redEnd = await redGet<RedMetrics>(red, '/soak/metrics').catch(() => undefined);
    const hubPending = end.get('c2d_queue_messages', { state: 'enqueued' }) + end.get('c2d_queue_messages', { state: 'locked' });
    const feedbackLeft = end.get('c2d_feedback_records_pending') + end.get('c2d_feedback_batches');
    const redPending = redEnd ? redEnd.hub.queued + redEnd.hub.locked : 1;
    if ((hubPending === 0 && feedbackLeft === 0 && redPending === 0) || Date.now() - drainStart > plan.drainTimeoutMs) {
      log(
        `drained in ${((Date.now() - drainStart) / 1000).toFixed(0)} s: hub pending ${hubPending}, feedback ${feedbackLeft}, Node-RED's hub pending ${redPending}`,
      );
      break;
    }
    await sleep(2000);
  }
  // What the hub says is pending, per device, from its registry.
  const ids = [...devices.map((d) => d.deviceId), ...RED_NETWORK_DEVICES];
  const pendingById = await backend.call<Record<string, number>>('pending', { deviceIds: ids });
  const atMs = Date.now();
  const backendRecords = await backend.call<BackendRecords>('records');
  const fleetRecords = await Promise.all(fleets.map((f) => f.child.call<FleetRecords>('records')));
  mergeRecords(redRecords, await redGet<Record<string, RedFlowRecords>>(red, '/soak/records', 60_000));
  const redSample = redEnd?.process;

  // ---------------------------------------------------------------- stop
  await red.stop();
  const redExit = await red.exited;
  fs.writeFileSync(path.join(outDir, 'node-red.log'), red.log());
  const redLog = problemsIn(red.log());
  const fleetTallies = await Promise.all(fleets.map((f) => f.child.call<TallyReport>('close')));
  const backendTally = await backend.call<TallyReport>('close');
  await Promise.all(running.children.map((c) => c.stop()));
  const hubExit = await hub.stop();
  const loadEnd = os.loadavg();

  // ---------------------------------------------------------------- account
  const length = backendRecords.length;
  // What the Node-RED network flow's feedback node took counts as received, as the backend's would.
  const fed = withFeedbackTakenElsewhere(
    { feedback: Column.decode(Uint8Array, backendRecords.feedback), feedbackRecords: Column.decode(Uint8Array, backendRecords.feedbackRecords) },
    length,
    backendRecords.redFeedback,
    redRecords.n?.feedback ?? {},
    numberOf,
  );
  const sends = {
    status: Column.decode(Uint8Array, backendRecords.status),
    device: Column.decode(Uint32Array, backendRecords.device),
    ack: Column.decode(Uint8Array, backendRecords.ack),
    expiresAt: Column.decode(Float64Array, backendRecords.expiresAt),
    feedback: fed.feedback,
    feedbackRecords: fed.feedbackRecords,
    feedbackAbandoned: Column.decode(Uint8Array, backendRecords.feedbackAbandoned),
  };
  const sum = (field: keyof FleetRecords, wide = false): number[] => {
    const out = new Array<number>(length).fill(0);
    for (const r of fleetRecords) {
      const col: ArrayLike<number> = wide ? Column.decode(Uint16Array, r[field] as string) : Column.decode(Uint8Array, r[field] as string);
      for (let i = 0; i < Math.min(length, col.length); i++) out[i]! += col[i]!;
    }
    return out;
  };
  const orBits = (field: keyof FleetRecords): number[] => {
    const out = new Array<number>(length).fill(0);
    for (const r of fleetRecords) {
      const col = Column.decode(Uint8Array, r[field] as string);
      for (let i = 0; i < Math.min(length, col.length); i++) out[i]! |= col[i]!;
    }
    return out;
  };
  const hubPending = new Map<number, number>();
  for (const d of devices) if ((pendingById[d.deviceId] ?? 0) > 0) hubPending.set(d.index, pendingById[d.deviceId]!);
  const feedbackSettleFailures = Object.entries(backendTally)
    .filter(([k]) => k.startsWith('unexpected: feedback'))
    .reduce((a, [, e]) => a + e.count, 0);
  const acc: Account = account({
    sends,
    devices: {
      deliveries: sum('deliveries', true),
      completes: sum('completes'),
      rejects: sum('rejects'),
      abandons: sum('abandons'),
      unknown: orBits('unknown'),
    },
    length,
    atMs,
    maxDeliveryCount,
    hubPending,
    feedbackSettleFailures,
  });

  // Node-RED's network flow shares the hub: its own records, its devices' pending counts, its feedback (received by the backend).
  const n = redRecords.n ?? emptyRecords();
  // A send in flight when a redeploy closes its node is committed but its answer never reaches the
  // flow: a message a device received (or settled) was accepted, recorded or not.
  const acceptedOf = (r: RedFlowRecords): string[] => [...new Set([...r.accepted, ...Object.keys(r.received), ...Object.keys(r.settled)])];
  const nAccepted = acceptedOf(n);
  const nSettled = Object.values(n.settled);
  const redPendingN = RED_NETWORK_DEVICES.reduce((a, id) => a + (pendingById[id] ?? 0), 0);
  const redFeedback: Partial<Record<FeedbackStatusCode, number>> = {};
  for (const statuses of Object.values(fed.redFeedback))
    for (const st of new Set(statuses)) redFeedback[st as FeedbackStatusCode] = (redFeedback[st as FeedbackStatusCode] ?? 0) + 1;
  const other: OtherTraffic = {
    accepted: nAccepted.length,
    completed: nSettled.filter((s) => s.includes('complete')).length,
    rejected: nSettled.filter((s) => !s.includes('complete') && s.includes('reject')).length,
    abandoned: nSettled.reduce((a, s) => a + s.filter((x) => x === 'abandon').length, 0),
    pending: redPendingN,
    unsettled: Object.keys(n.received).filter((id) => !(n.settled[id] ?? []).some((x) => x === 'complete' || x === 'reject')).length,
    feedback: redFeedback,
  };
  // Unsettled ones the hub may have completed: lost only if more are missing than that.
  const redNMissing = other.accepted - other.completed - other.rejected - other.pending;
  const redNLost = redNMissing > 0 && redNMissing <= other.unsettled ? 0 : redNMissing;
  const hubTotals = {
    sends: end.get('c2d_sends_total'),
    completed: end.sum('c2d_settlements_total', { outcome: 'completed' }),
    rejected: end.sum('c2d_settlements_total', { outcome: 'rejected' }),
    abandoned: end.sum('c2d_settlements_total', { outcome: 'abandoned' }),
    expired: end.get('c2d_expiries_total'),
    deadLettered: {
      Rejected: end.get('c2d_dead_letters_total', { reason: 'Rejected' }),
      Expired: end.get('c2d_dead_letters_total', { reason: 'Expired' }),
      DeliveryCountExceeded: end.get('c2d_dead_letters_total', { reason: 'DeliveryCountExceeded' }),
    },
    feedback: Object.fromEntries(end.all('c2d_feedback_records_total').map((s) => [s.labels.status, s.value])) as Partial<Record<FeedbackStatusCode, number>>,
    pending: end.get('c2d_queue_messages', { state: 'enqueued' }) + end.get('c2d_queue_messages', { state: 'locked' }),
  };
  const checks: CrossCheck[] = [
    ...crossCheck(acc, other, hubTotals, acc.timedOutUnseen),
    ...feedbackCheck(feedbackByStatus(sends.feedback, length), redFeedback, hubTotals.feedback),
    { name: 'Node-RED network flow: every accepted send completed, rejected or pending', harness: redNLost, hub: 0, ok: redNLost === 0 },
  ];
  // Node-RED's embedded flow: every accepted send received (auto-completed) or still in its hub.
  const e = redRecords.e ?? emptyRecords();
  const eAccepted = acceptedOf(e);
  const eReceived = eAccepted.filter((id) => (e.received[id] ?? 0) > 0).length;
  const ePending = redEnd ? redEnd.hub.queued + redEnd.hub.locked : -1;
  const eEvents = redSample?.hubEvents ?? {};
  checks.push(
    {
      name: 'Node-RED embedded flow: every accepted send received or pending',
      harness: eAccepted.length - eReceived,
      hub: ePending,
      ok: eAccepted.length - eReceived === ePending,
    },
    {
      name: 'Node-RED embedded hub: enqueued events = accepted sends',
      harness: eAccepted.length,
      hub: eEvents.enqueued ?? 0,
      ok: eAccepted.length === (eEvents.enqueued ?? 0),
    },
  );

  // ---------------------------------------------------------------- errors
  const all = new Tally();
  all.merge(backendTally, 'backend: ');
  fleets.forEach((f, i) => all.merge(fleetTallies[i], `${f.kind} devices: `));
  all.merge(redProblems.report(), 'driver: ');
  const cutConnections = fleetTallies.reduce((a, t) => a + (t['churn: connections cut']?.count ?? 0), 0);
  const hubProblems = hub.problems.filter((p) => {
    if (p.level === 'raw' && p.stream === 'stderr' && /^SIGTERM: stopping\.\.\.$/.test(p.text)) return false;
    // A socket cut by churn in the middle of its TLS handshake is refused as such.
    if (p.event === 'connection-refused' && /"reason":"tls_handshake"/.test(p.text) && cutConnections > 0) return false;
    return true;
  });
  const expectedHub = hub.problems.length - hubProblems.length;
  for (const p of hubProblems) all.add(`hub log: unexpected ${p.level} line${p.event ? ` (${p.event})` : ''}`, p.text);
  for (const l of redLog) all.add('Node-RED log: error or c2d warning', l);
  for (const [flow, r] of Object.entries(redRecords)) {
    for (const [k, v] of Object.entries(r.sendErrors)) all.add(`Node-RED ${flow} flow send error: ${k}`, undefined, v);
    for (const [k, v] of Object.entries(r.settleErrors)) all.add(`Node-RED ${flow} flow error: ${k}`, undefined, v);
  }
  if (hubExit !== 0) all.add(`unexpected: the hub exited ${String(hubExit)} on SIGTERM`);
  if (redExit !== 0) all.add(`unexpected: Node-RED exited ${String(redExit)} on SIGINT`);
  const tally = all.report();
  const unexpected = Object.entries(tally).filter(([k]) => /unexpected|violation|hub log|Node-RED log|Node-RED \w+ flow/.test(k));

  // ---------------------------------------------------------------- verdicts
  const w = { warmupMinutes: plan.warmupMinutes, windowMinutes: plan.windowMinutes };
  const { first, last } = windowsOf(rows, w);
  const windowP99 = (rs: MinuteRow[]): { p99: number; count: number } => {
    const s = new LatencySum();
    for (const r of rs) for (const h of pushHists[r.minute - 1] ?? []) s.add(h);
    const x = s.summary();
    return { p99: x.p99, count: x.count };
  };
  const lf = windowP99(first);
  const ll = windowP99(last);
  const accountingOk = acc.fates.lost === 0 && Object.keys(acc.violations).length === 0 && checks.every((c) => c.ok);
  const criteria: Criterion[] = [
    ...processCriteria('hub', rows, (r) => r.hub, w),
    ...processCriteria('Node-RED', rows, (r) => r.red, w),
    latencyCriterion(lf.p99, ll.p99, [lf.count, ll.count]),
    {
      name: "every accepted send is accounted for, and the hub's counters and the feedback agree",
      met: accountingOk,
      detail: `${acc.accepted} accepted: ${FATES.map((f) => `${acc.fates[f]} ${f}`).join(', ')}; ${checks.filter((c) => !c.ok).length} of ${checks.length} cross-checks differ`,
      timing: false,
    },
    {
      name: 'no completed message delivered again except across a dropped connection or a lock expiry',
      met: !Object.keys(tally).some((k) => k.includes('violation: delivered again')),
      detail: `${tally['mqtt devices: redelivered after completion across a dropped connection (MQTT)']?.count ?? 0} redeliveries after an MQTT completion across a dropped connection`,
      timing: false,
    },
    {
      name: 'no unhandled rejection, no uncaught exception, no unexpected error in any log',
      met: unexpected.length === 0,
      detail:
        unexpected.length === 0
          ? `${expectedHub} expected lines in the hub's log (its stop notice; TLS handshakes cut by churn)`
          : unexpected.map(([k, v]) => `${k} (${v.count})`).join('; '),
      timing: false,
    },
  ];
  const judged = plan.profile === 'ci' ? criteria.filter((c) => !c.timing) : criteria;
  const ok = judged.every((c) => c.met);

  // ---------------------------------------------------------------- report
  const m = machine();
  const summary = [
    `Run of ${m.date}: ${minutes} minutes, profile \`${plan.profile}\` (${plan.devices.mqtt} MQTT, ${plan.devices.amqp} AMQP, ${plan.devices.http} HTTPS-polling and ${plan.devices.sleepy} sleepy AMQP devices; ${plan.ratePerSecond} msg/s; ` +
      `${Math.round(plan.churnFraction * 100)}% of the devices off each minute; ${plan.tokenLifetimeMs / 60_000}-minute SAS tokens; Node-RED redeployed every ${plan.redeployEveryMs / 60_000} min, ${redeploys} times).`,
    `Machine: ${m.nproc} × ${m.cpu}, ${(os.totalmem() / 1024 ** 3).toFixed(1)} GB memory, Node ${m.node}, ${os.type()} ${os.release()}; hub pinned to core ${HUB_CPU}, everything else to core ${LOAD_CPU}${pinnable() ? '' : ' (taskset missing: not pinned)'}; load average ${loadStart[0]!.toFixed(1)} at the start, ${loadEnd[0]!.toFixed(1)} at the end (the machine is shared).`,
    `Warm-up ${plan.warmupMinutes} min; windows compared: minutes ${first[0]?.minute ?? '–'}–${first.at(-1)?.minute ?? '–'} and ${last[0]?.minute ?? '–'}–${last.at(-1)?.minute ?? '–'}.`,
  ].join('\n');
  const accountText = [
    `Sends: ${sentTotal} made, ${acc.accepted} accepted, ${acc.refusedQueueFull} refused with 403004 (full queues, expected), ${acc.failed} failed, ${acc.timedOutUnseen} timed out unseen.`,
    `Fates: ${FATES.map((f) => `${acc.fates[f]} ${f}`).join(', ')} (inferred and confirmed by the hub's counters: ${acc.inferred.expiredByTtl} expired by TTL without feedback, ${acc.inferred.completedAnswerLost} completions and ${acc.inferred.rejectedAnswerLost} rejections whose answer was lost).`,
    `Deliveries: ${acc.deliveries}; feedback: ${acc.feedback.expected} records asked for, ${acc.feedback.missing} missing, ${acc.feedback.unexpected} unexpected, ${acc.feedback.abandonedAgain} delivered again after an abandoned batch, ${acc.feedback.repeated} repeated otherwise; ${fed.taken} of the backend's records taken by the Node-RED network flow's feedback node.`,
    `Node-RED: network flow ${other.accepted} accepted (${other.completed} completed, ${other.rejected} rejected, ${other.pending} pending); embedded flow ${eAccepted.length} accepted, ${eReceived} received; ${nAccepted.length - n.accepted.length + eAccepted.length - e.accepted.length} sends' answers lost to a redeploy.`,
    '',
    '| cross-check | harness | hub | |',
    '|---|---:|---:|---|',
    ...checks.map((c) => `| ${c.name} | ${c.harness} | ${c.hub} | ${c.ok ? 'ok' : '**differs**'} |`),
  ].join('\n');
  const chartFile = record ? path.join(ROOT, 'reliability-soak.svg') : path.join(outDir, 'chart.svg');
  fs.writeFileSync(chartFile, chart(rows));
  fs.writeFileSync(path.join(outDir, 'chart.svg'), chart(rows));
  const section = [
    `## Latest soak run`,
    '',
    summary,
    '',
    `![RSS and p99 latency per minute](${record ? 'reliability-soak.svg' : 'chart.svg'})`,
    '',
    '### Pass criteria',
    '',
    verdicts(criteria),
    plan.profile === 'ci' ? '\n(The ci profile judges accounting and errors only; timing criteria are shown, not judged.)' : '',
    '',
    '### Accounting',
    '',
    accountText,
    '',
    '### The hub, minute by minute',
    '',
    hubTable(rows),
    '',
    '### Node-RED, minute by minute',
    '',
    redTable(rows),
    '',
    '### Events and refusals counted',
    '',
    ...Object.entries(tally).map(
      ([k, v]) => `- ${k}: ${v.count}${v.examples.length && /unexpected|violation|log|flow/.test(k) ? ` (e.g. \`${v.examples[0]!.replace(/`/g, "'")}\`)` : ''}`,
    ),
    '',
  ].join('\n');
  fs.writeFileSync(path.join(outDir, 'report.md'), `# Soak report\n\n${section}`);
  fs.writeFileSync(
    path.join(outDir, 'result.json'),
    JSON.stringify(
      { plan, machine: m, redeploys, rows, account: acc, checks, criteria, tally, ok, redSample, hubInfo: Object.fromEntries(hub.infoCounts) },
      null,
      2,
    ),
  );
  if (record) writeSection(path.join(ROOT, 'RELIABILITY.md'), section, '# Reliability');

  console.log(`\n${summary}\n\nPass criteria:`);
  for (const c of criteria)
    console.log(`  ${c.met ? 'met    ' : 'NOT MET'} ${c.name}: ${c.detail}${plan.profile === 'ci' && c.timing ? ' (not judged in the ci profile)' : ''}`);
  console.log(`\n${accountText}\n`);
  for (const [k, v] of unexpected) console.log(`  ${k}: ${v.count}${v.examples.length ? `\n      e.g. ${v.examples.join('\n      e.g. ')}` : ''}`);
  console.log(`\n${ok ? 'PASS' : 'FAIL'}: results in ${outDir}${record ? ', RELIABILITY.md updated' : ''}`);
  fs.rmSync(work, { recursive: true, force: true });
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  async (e: unknown) => {
    console.error(`soak: ${describeError(e)}\n${(e as Error).stack ?? ''}`);
    await stopAll();
    process.exit(2);
  },
);
process.once('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});

/**
 * One load process of devices (the driver starts one per transport): each
 * device is a DeviceClient behind its own Relay, so churn can close it
 * cleanly or cut its sockets like a network would. Each delivery is settled
 * by the plan's mix (complete, reject, abandon, or never: the lock expires),
 * and remembered per message number so the driver can account for every
 * send at the end. Redeliveries are checked as they come: a message this
 * device completed or rejected must not come again unless its connection
 * ended in between (an MQTT PUBACK can be lost with its socket), and a
 * message still locked to a live connection must not be handed out twice.
 */
import { DeviceClient, formatConnectionString, type DeviceMessage } from '../../lib';
import { serve } from '../../bench/lib/ipc';
import { LatencyWindow } from './latency';
import { between, renewalMarginMs, type SettleMix, type SoakDevice, type SoakPlan } from './plan';
import { Column, decodeBody, nowMs } from './records';
import { Relay } from './relay';
import { Tally, describeError, errorLabel, type TallyReport } from './tally';

export interface FleetOpenArgs {
  plan: SoakPlan;
  devices: SoakDevice[];
  /** The hub's port per transport (the relays connect there). */
  ports: { amqp: number; mqtt: number; http: number };
  ca: string;
  deviceKey: string;
  /** The hub's lock timeout (ms). */
  lockTimeoutMs: number;
}

export interface FleetSample {
  latency: Record<string, string>;
  tally: TallyReport;
  connected: number;
  rssMB: number;
}

export interface FleetRecords {
  length: number;
  deliveries: string;
  completes: string;
  rejects: string;
  abandons: string;
  ignored: string;
  /** Bit 1: a complete whose answer never came; 2: a reject's; 4: an abandon's. */
  unknown: string;
  tally: TallyReport;
}

interface Dev {
  d: SoakDevice;
  client: DeviceClient;
  relay: Relay;
  mix: SettleMix;
  /** Bumped each time the device's connection ends or a new one starts. */
  epoch: number;
  /** When the current connection came up (epoch ms); Infinity while down. */
  upSince: number;
  /** Taken off by churn (closed), or a sleepy device between its online spells. */
  away: boolean;
  timer?: NodeJS.Timeout;
}

const started = nowMs();
const sinceStart = (): number => Math.round(nowMs() - started);

let plan: SoakPlan;
let lockTimeoutMs = 60_000;
let draining = false;
let closing = false;
const devs: Dev[] = [];
const tally = new Tally();
const windows = new Map<string, LatencyWindow>();

const rec = {
  deliveries: new Column(Uint16Array),
  completes: new Column(Uint8Array),
  rejects: new Column(Uint8Array),
  abandons: new Column(Uint8Array),
  ignored: new Column(Uint8Array),
  unknown: new Column(Uint8Array),
  /** Device epoch + 1 at the last completion or rejection that succeeded (0: none). */
  settledEpoch: new Column(Uint16Array),
  lastDeliveredAt: new Column(Uint32Array),
  lastDeliveryEpoch: new Column(Uint16Array),
  /** 1 while the last delivery is neither settled nor being settled. */
  open: new Column(Uint8Array),
};

function windowOf(transport: string): LatencyWindow {
  let w = windows.get(transport);
  if (!w) windows.set(transport, (w = new LatencyWindow()));
  return w;
}

function pick(mix: SettleMix): keyof SettleMix {
  if (draining) return 'complete';
  let r = Math.random();
  for (const k of ['complete', 'reject', 'abandon', 'ignore'] as const) {
    r -= mix[k];
    if (r < 0) return k;
  }
  return 'complete';
}

function onMessage(dev: Dev, m: DeviceMessage): void {
  const b = decodeBody(m.body);
  if (!b) {
    tally.add('violation: a message without the soak body', `${dev.d.deviceId}: ${m.body.length} bytes`);
    void dev.client.complete(m).catch(() => undefined);
    return;
  }
  const { n } = b;
  if (b.deviceIndex !== dev.d.index) tally.add('violation: a message delivered to the wrong device', `s${n} for #${b.deviceIndex} at ${dev.d.deviceId}`);
  const now = nowMs();
  const first = rec.deliveries.get(n) === 0;
  rec.deliveries.add(n);
  if (rec.completes.get(n) + rec.rejects.get(n) > 0) {
    // Settled before: only a lost PUBACK (MQTT, its connection gone since) brings it back.
    const across = dev.d.transport === 'mqtt' && rec.settledEpoch.get(n) - 1 !== dev.epoch;
    if (across) tally.add('redelivered after completion across a dropped connection (MQTT)');
    else tally.add('violation: delivered again after it was completed or rejected', `s${n} at ${dev.d.deviceId} (${dev.d.transport})`);
  } else if (rec.open.get(n) === 1 && rec.lastDeliveryEpoch.get(n) === dev.epoch && sinceStart() - rec.lastDeliveredAt.get(n) < lockTimeoutMs - 2000) {
    tally.add('violation: delivered again while its lock was held', `s${n} at ${dev.d.deviceId} after ${sinceStart() - rec.lastDeliveredAt.get(n)} ms`);
  } else if (!first) tally.add('redelivered (abandoned, lock expired or connection dropped before)');
  rec.lastDeliveredAt.set(n, sinceStart());
  rec.lastDeliveryEpoch.set(n, dev.epoch);
  rec.open.set(n, 1);
  // Send -> receive latency of first deliveries on a connection that was up when the message was sent.
  if (first && !dev.d.sleepy && dev.upSince <= b.sentAtMs) windowOf(dev.d.transport).recordMs(now - b.sentAtMs);

  const how = pick(dev.mix);
  if (how === 'ignore') {
    rec.ignored.add(n);
    return;
  }
  rec.open.set(n, 0);
  const epoch = dev.epoch;
  const deliveredAt = sinceStart();
  const call = how === 'complete' ? dev.client.complete(m) : how === 'reject' ? dev.client.reject(m) : dev.client.abandon(m);
  call.then(
    () => {
      if (how === 'complete') rec.completes.add(n);
      else if (how === 'reject') rec.rejects.add(n);
      else rec.abandons.add(n);
      if (how !== 'abandon') rec.settledEpoch.set(n, epoch + 1);
    },
    // Judged a little later: a settlement refused because its connection ended can fail before the
    // client reports the disconnection that explains it.
    (e: unknown) => {
      const failedAt = Date.now();
      setTimeout(() => settleFailed(e, failedAt), 5000).unref();
    },
  );
  function settleFailed(e: unknown, failedAt: number): void {
    {
      const name = (e as { name?: unknown }).name;
      if (name === 'DeviceMessageLockLost') {
        // Expected when the connection ended since the delivery, or the lock ran out.
        const late = sinceStart() - deliveredAt > lockTimeoutMs - 5000;
        // Its time to live ran out while it was locked (IoT Hub dead-letters it as Expired): the hub
        // answered at or after the expiry (same machine, same clock), so the answer came after it too.
        const expired = m.expiryTimeUtc !== undefined && failedAt >= m.expiryTimeUtc;
        if (dev.epoch !== epoch || late || !dev.client.connected) tally.add(`${how}: 412002 lock lost (connection ended or lock expired)`);
        else if (expired) tally.add(`${how}: 412002 message expired while locked`);
        else {
          const ttlLeft = m.expiryTimeUtc === undefined ? 'no expiry' : `${m.expiryTimeUtc - failedAt} ms before its expiry`;
          tally.add(
            `unexpected: ${how} failed 412002 on a live connection`,
            `s${n} at ${dev.d.deviceId} (${dev.d.transport}${dev.d.sleepy ? ', sleepy' : ''}), ${sinceStart() - deliveredAt} ms after delivery, ${ttlLeft}`,
          );
        }
        return;
      }
      // The answer is missing, not the settlement: the hub may have applied it.
      rec.unknown.set(n, rec.unknown.get(n) | (how === 'complete' ? 1 : how === 'reject' ? 2 : 4));
      if (dev.epoch !== epoch || closing || !dev.client.connected) tally.add(`${how}: no answer (connection ended): ${errorLabel(e)}`);
      else tally.add(`unexpected: ${how} failed: ${errorLabel(e)}`, `${dev.d.deviceId}: ${describeError(e)}`);
    }
  }
}

function connectionString(a: FleetOpenArgs, d: SoakDevice, relay: Relay): string {
  return formatConnectionString({ HostName: `localhost:${relay.port}`, DeviceId: d.deviceId, SharedAccessKey: a.deviceKey });
}

async function openDevice(a: FleetOpenArgs, d: SoakDevice): Promise<Dev> {
  const hubPort = d.transport === 'mqtt' ? a.ports.mqtt : d.transport === 'http' ? a.ports.http : a.ports.amqp;
  const relay = await Relay.start(hubPort);
  const client = DeviceClient.fromConnectionString(connectionString(a, d, relay), {
    transport: d.transport,
    ca: a.ca,
    tokenLifetimeMs: a.plan.tokenLifetimeMs,
    tokenRenewalMarginMs: renewalMarginMs(a.plan, d.index),
    httpPollIntervalMs: a.plan.httpPollIntervalMs,
    lockTimeoutMs: a.lockTimeoutMs,
  });
  const mix = a.plan.settle[d.transport === 'mqtt' ? 'mqtt' : d.transport === 'http' ? 'http' : 'amqp'];
  const dev: Dev = { d, client, relay, mix, epoch: 0, upSince: Infinity, away: d.sleepy };
  client.on('connected', () => {
    dev.epoch++;
    dev.upSince = nowMs();
    tally.add('connected');
  });
  client.on('disconnected_retrying', (s: { reason: string }) => {
    dev.epoch++;
    dev.upSince = Infinity;
    tally.add(`reconnecting (${s.reason})`);
  });
  client.on('disconnected', (s: { reason: string; cause?: unknown }) => {
    dev.epoch++;
    dev.upSince = Infinity;
    if (s.reason === 'closed-by-client') return;
    // The client gave up: a finding; bring it back as an operator would.
    tally.add(`unexpected: client gave up (${s.reason})`, `${d.deviceId}: ${s.cause ? describeError(s.cause) : ''}`);
    if (!closing && !dev.away) setTimeout(() => void reopen(dev), 5000).unref();
  });
  client.on('token_renewed', () => {
    tally.add('token renewed');
    // MQTT renews by reconnecting: a new connection as far as redeliveries go.
    if (d.transport === 'mqtt') {
      dev.epoch++;
      dev.upSince = nowMs();
    }
  });
  client.on('error', (e: unknown) => tally.add(`unexpected: client error event: ${errorLabel(e)}`, `${d.deviceId}: ${describeError(e)}`));
  // MQTT renews by reconnecting, and a resumed session's PUBLISHes come with the CONNACK, before
  // 'token_renewed': judged one turn later, a redelivery they carry is seen on its new connection.
  client.on('message', (m: DeviceMessage) => (d.transport === 'mqtt' ? setImmediate(() => onMessage(dev, m)) : onMessage(dev, m)));
  if (!d.sleepy) await client.open();
  return dev;
}

async function reopen(dev: Dev): Promise<void> {
  if (closing) return;
  try {
    await dev.client.open();
  } catch (e) {
    tally.add(`unexpected: reopen failed: ${errorLabel(e)}`, `${dev.d.deviceId}: ${describeError(e)}`);
    if (!closing) setTimeout(() => void reopen(dev), 5000).unref();
  }
}

/** Takes the device off for a while: closed cleanly (`clean`) or its sockets cut and refused. */
function takeOff(dev: Dev, clean: boolean): void {
  if (clean) {
    dev.away = true;
    tally.add('churn: closed cleanly');
    void dev.client.close().then(() => {
      dev.timer = setTimeout(() => {
        dev.timer = undefined;
        dev.away = false;
        void reopen(dev);
      }, between(plan.awayMs));
    });
  } else {
    dev.relay.refuseFor(between(plan.refusedMs));
    tally.add('churn: sockets cut', undefined);
    tally.add('churn: connections cut', undefined, dev.relay.drop());
  }
}

function churn(fraction: number): { closed: number; cut: number } {
  const pool = devs.filter((x) => !x.d.sleepy && !x.away);
  const k = Math.min(pool.length, Math.round(fraction * devs.filter((x) => !x.d.sleepy).length));
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [pool[i], pool[j]] = [pool[j]!, pool[i]!];
  }
  const chosen = pool.slice(0, k);
  chosen.forEach((dev, i) => takeOff(dev, i % 2 === 0));
  return { closed: Math.ceil(k / 2), cut: Math.floor(k / 2) };
}

/** A sleepy device: offline for a while, online long enough to drain, again and again. */
function sleepCycle(dev: Dev): void {
  dev.timer = setTimeout(() => {
    dev.away = false;
    void reopen(dev).then(() => {
      tally.add('sleepy: woke');
      dev.timer = setTimeout(() => {
        if (draining || closing) return;
        dev.away = true;
        void dev.client.close().then(() => sleepCycle(dev));
      }, plan.sleepyOnlineMs);
    });
  }, between(plan.sleepyOfflineMs));
}

function pool<T>(items: T[], limit: number, work: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]!);
  };
  return Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker)).then(() => undefined);
}

serve({
  async open(a: FleetOpenArgs): Promise<number> {
    plan = a.plan;
    lockTimeoutMs = a.lockTimeoutMs;
    await pool(a.devices, 25, async (d) => {
      devs.push(await openDevice(a, d));
    });
    for (const dev of devs) if (dev.d.sleepy) sleepCycle(dev);
    return devs.length;
  },
  churn: (a: { fraction: number }) => churn(a.fraction),
  sample(): FleetSample {
    const latency: Record<string, string> = {};
    for (const [t, w] of windows) latency[t] = w.take();
    return { latency, tally: tally.report(), connected: devs.filter((d) => d.client.connected).length, rssMB: process.memoryUsage().rss / 1048576 };
  },
  /** Everything is completed from now on, and every device comes (and stays) online. */
  async drain(): Promise<number> {
    draining = true;
    for (const dev of devs) {
      if (dev.timer) clearTimeout(dev.timer);
      dev.timer = undefined;
      dev.relay.refuseFor(0);
    }
    await pool(devs, 25, async (dev) => {
      dev.away = false;
      if (!dev.client.connected) await reopen(dev);
    });
    return devs.filter((d) => d.client.connected).length;
  },
  records(): FleetRecords {
    const length = rec.deliveries.length;
    return {
      length,
      deliveries: rec.deliveries.encode(length),
      completes: rec.completes.encode(length),
      rejects: rec.rejects.encode(length),
      abandons: rec.abandons.encode(length),
      ignored: rec.ignored.encode(length),
      unknown: rec.unknown.encode(length),
      tally: tally.report(),
    };
  },
  async close(): Promise<TallyReport> {
    closing = true;
    await pool(devs, 50, async (dev) => {
      if (dev.timer) clearTimeout(dev.timer);
      await dev.client.close().catch(() => undefined);
      await dev.relay.close();
    });
    return tally.report();
  },
});

process.on('unhandledRejection', (e) => tally.add('unexpected: unhandled rejection in a device process', describeError(e)));
process.on('uncaughtException', (e) => tally.add('unexpected: uncaught exception in a device process', describeError(e)));

/**
 * Scenario 3: latency at a fixed offered rate (default 1,000 msg/s), send ->
 * device receive, over AMQP (service) and MQTT (devices). The sender fires on
 * a 1 ms tick whatever is due by the elapsed time, so a slow hub shows as
 * latency, not as a lower rate.
 *
 * Its baseline (aedesFixedRateLatency): raw aedes QoS 1 at the same rate,
 * the same number of subscribers, the same process split (broker on the
 * hub's core, publisher and subscribers here) and the same ticking sender,
 * run beside each hub run: on this VM the scheduling of the two processes
 * sets the tail, and this is what that tail is for a broker with no store.
 */
import fs from 'node:fs';
import type { ServiceClient } from '../../lib/client/service-client';
import mqtt, { type MqttClient } from 'mqtt';
import { Child } from '../lib/ipc';
import { Fleet, HUB_CPU, openService, pool, startHub } from '../lib/fleet';
import type { HubStartArgs } from '../lib/hub-child';
import { LatencyRecorder, stampOf, stampedBody, tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';
import { sqliteCommitLatency } from '../lib/sqlite-baseline';

/** Calls `send(i)` for `count` sends at `ratePerSec`, on a 1 ms tick; resolves once all are offered. */
function offerAtRate(count: number, ratePerSec: number, send: () => void): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let mine = 0;
    const tick = (): void => {
      const due = Math.min(count, Math.floor(((performance.now() - t0) * ratePerSec) / 1000));
      while (mine < due) {
        mine++;
        send();
      }
      if (mine < count) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
}

/** Raw aedes QoS 1 at a fixed rate: publish -> subscriber latency, no durability (the baseline of scenario 3). */
export async function aedesFixedRateLatency(o: { devices: number; ratePerSec: number; seconds: number; bodyBytes?: number }): Promise<Row> {
  const child = Child.start('lib/broker-child', { cpu: HUB_CPU });
  const clients: MqttClient[] = [];
  try {
    const srv = await child.call<{ port: number; ca: string }>('start');
    const connect = async (clientId: string): Promise<MqttClient> => {
      const c = mqtt.connect({
        protocol: 'mqtts',
        host: '127.0.0.1',
        port: srv.port,
        ca: srv.ca,
        servername: 'localhost',
        rejectUnauthorized: false,
        clientId,
        protocolVersion: 4,
        clean: false,
        reconnectPeriod: 0,
      });
      clients.push(c);
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      return c;
    };
    const lat = new LatencyRecorder();
    let received = 0;
    let waiting: { count: number; resolve: () => void } | undefined;
    await pool(o.devices, 50, async (i) => {
      const c = await connect(`sub-${i}`);
      c.on('message', (_topic, payload) => {
        lat.recordMs(performance.now() - stampOf(payload));
        received++;
        if (waiting && received >= waiting.count) waiting.resolve();
      });
      await c.subscribeAsync(`devices/sub-${i}/messages/devicebound/#`, { qos: 1 });
    });
    const pub = await connect('publisher');
    let sent = 0;
    const failures: unknown[] = [];
    const offer = (count: number): Promise<void> =>
      offerAtRate(count, o.ratePerSec, () => {
        const i = sent++;
        pub
          .publishAsync(`devices/sub-${i % o.devices}/messages/devicebound/`, stampedBody(o.bodyBytes ?? 256), { qos: 1 })
          .catch((e: unknown) => failures.push(e));
      });
    const allReceived = (): Promise<void> => (received >= sent ? Promise.resolve() : new Promise((resolve) => (waiting = { count: sent, resolve })));
    await offer(Math.min(1000, o.ratePerSec));
    await allReceived();
    lat.reset();
    const before = await child.call<{ cpuS: number }>('stats');
    const count = o.ratePerSec * o.seconds;
    await offer(count);
    await allReceived();
    const after = await child.call<{ cpuS: number; maxRssMB: number }>('stats');
    return {
      scenario: 'baseline: aedes QoS 1 at fixed rate',
      setup: `mqtt.js publisher, ${o.devices} subscribers, ${o.ratePerSec} msg/s for ${o.seconds} s, no durability (same split and sender as scenario 3)`,
      rate: o.ratePerSec,
      latency: lat.summary(),
      hubCpuS: after.cpuS - before.cpuS,
      hubCpuUsPerMsg: ((after.cpuS - before.cpuS) * 1e6) / count,
      ...(failures.length ? { note: `${failures.length} publishes failed` } : {}),
    };
  } finally {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => undefined)));
    await child.stop();
  }
}

export async function fixedRateLatency(o: {
  devices: number;
  ratePerSec: number;
  seconds: number;
  bodyBytes?: number;
  synchronous?: HubStartArgs['synchronous'];
}): Promise<Row> {
  const dataDir = tmpDir();
  const synchronous = o.synchronous ?? 'FULL';
  const { child, info } = await startHub({ dataDir, devices: o.devices, synchronous });
  let service: ServiceClient | undefined;
  let fleet: Fleet | undefined;
  try {
    const svc = (service = await openService(info));
    const lat = new LatencyRecorder();
    fleet = new Fleet(info, { transport: 'mqtt', devices: o.devices, onMessage: (m) => lat.recordMs(performance.now() - stampOf(m.body)) });
    await fleet.open();
    let sent = 0;
    const failures: unknown[] = [];
    const offer = (count: number): Promise<void> =>
      offerAtRate(count, o.ratePerSec, () => {
        const i = sent++;
        svc.send(`dev-${i % o.devices}`, stampedBody(o.bodyBytes ?? 256)).catch((e: unknown) => failures.push(e));
      });
    await offer(Math.min(1000, o.ratePerSec)); // warm-up, 1 s
    await child.call('waitCompleted', { count: sent });
    lat.reset(); // the warm-up does not count
    const before = await child.call<{ cpuS: number; hub: { commits: number } }>('stats');
    const count = o.ratePerSec * o.seconds;
    await offer(count);
    await child.call('waitCompleted', { count: sent });
    const after = await child.call<{ cpuS: number; maxRssMB: number; hub: { commits: number } }>('stats');
    const latency = lat.summary();
    // Same-run floor: one durable SQLite commit on this disk, measured right after (a send needs one).
    const floor = new LatencyRecorder();
    for (const ms of await sqliteCommitLatency(Math.min(count, 3000), o.ratePerSec)) floor.recordMs(ms);
    const f = floor.summary();
    return {
      scenario: '3 latency at fixed rate',
      setup: `mqtt, ${o.devices} devices, ${o.ratePerSec} msg/s for ${o.seconds} s${synchronous === 'NORMAL' ? ', store synchronous NORMAL (no fsync per commit: survives a hub crash, not a power loss; no target)' : ''}`,
      rate: o.ratePerSec,
      latency,
      hubCpuS: after.cpuS - before.cpuS,
      hubCpuUsPerMsg: ((after.cpuS - before.cpuS) * 1e6) / count,
      hubMaxRssMB: after.maxRssMB,
      note: `${((after.hub.commits - before.hub.commits) / count).toFixed(2)} store commits per message; raw SQLite commit (1 row, synchronous FULL) right after, same disk: p50 ${f.p50.toFixed(2)} / p99 ${f.p99.toFixed(2)} / p99.9 ${f.p999.toFixed(2)} / max ${f.max.toFixed(2)} ms${failures.length ? `; ${failures.length} sends failed` : ''}`,
      // The target (p99 against the same-rate aedes baseline) is set by the caller, who ran both.
    };
  } finally {
    await fleet?.close();
    await service?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

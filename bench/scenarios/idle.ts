/**
 * Scenario 4: N connected, subscribed, idle MQTT devices. The hub's RSS and
 * CPU over an idle window (keep-alives only), after all are connected.
 *
 * Same-run baseline: a bare Node TLS server (tls-floor-child.ts) holding the
 * same number of idle TLS connections, no MQTT. Its RSS per connection is the
 * floor under the hub's, since every device holds one TLS connection.
 */
import fs from 'node:fs';
import tls from 'node:tls';
import { Fleet, HUB_CPU, pool, startHub } from '../lib/fleet';
import { Child } from '../lib/ipc';
import { tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';

export type Mem = { rssMB: number; heapMB: number };

/** KB per device (or connection) between two readings, of RSS and of JS heap. */
export const perDevice = (from: Mem, to: Mem, n: number): { rssKB: number; heapKB: number } => ({
  rssKB: ((to.rssMB - from.rssMB) * 1024) / n,
  heapKB: ((to.heapMB - from.heapMB) * 1024) / n,
});

/** RSS per idle connection (KB) of a bare TLS server, and its own RSS before any connection (MB). */
export async function tlsFloor(connections: number): Promise<{ perConnKB: number; heapPerConnKB: number; baseMB: number }> {
  const child = Child.start('lib/tls-floor-child', { cpu: HUB_CPU });
  const sockets: tls.TLSSocket[] = [];
  try {
    const srv = await child.call<{ port: number; ca: string }>('start');
    const base = await child.call<Mem>('stats');
    await pool(
      connections,
      100,
      () =>
        new Promise<void>((resolve, reject) => {
          const s = tls.connect({ host: '127.0.0.1', port: srv.port, ca: srv.ca, servername: 'localhost' }, () => {
            // A CONNECT-sized first write, as a device sends.
            s.write(Buffer.alloc(200));
            resolve();
          });
          s.once('error', reject);
          sockets.push(s);
        }),
    );
    await new Promise((r) => setTimeout(r, 2000));
    const after = await child.call<Mem>('stats');
    const per = perDevice(base, after, connections);
    return { perConnKB: per.rssKB, heapPerConnKB: per.heapKB, baseMB: base.rssMB };
  } finally {
    for (const s of sockets) s.destroy();
    await child.stop();
  }
}

export type HubStats = Mem & { cpuS: number; maxRssMB: number };

/**
 * A hub with `devices` connected idle devices over `transport`: its stats before the
 * connects, once all are connected, and after `idleMs` of idling. Everything is closed
 * before it returns, so measurements never overlap.
 */
export async function idleFleet(
  transport: 'mqtt' | 'amqp',
  devices: number,
  idleMs: number,
): Promise<{ base: HubStats; connected: HubStats; after: HubStats; connectS: number }> {
  const dataDir = tmpDir();
  const { child, info } = await startHub({ dataDir, devices });
  let fleet: Fleet | undefined;
  try {
    const base = await child.call<HubStats>('stats');
    fleet = new Fleet(info, { transport, devices });
    const t0 = performance.now();
    await fleet.open(100);
    const connectS = (performance.now() - t0) / 1000;
    const connected = await child.call<HubStats>('stats');
    await new Promise((r) => setTimeout(r, idleMs));
    const after = await child.call<HubStats>('stats');
    return { base, connected, after, connectS };
  } finally {
    await fleet?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function idleDevices(o: { devices: number; idleSeconds: number }): Promise<Row[]> {
  const floor = await tlsFloor(o.devices);
  const { base, connected, after, connectS } = await idleFleet('mqtt', o.devices, o.idleSeconds * 1000);
  const cpu = after.cpuS - connected.cpuS;
  const mqtt = perDevice(base, after, o.devices);
  const floorMB = base.rssMB + (floor.perConnKB * o.devices) / 1024;
  // For comparison, no target: an AMQP device holds a connection, a session, its C2D link and the
  // CBS link pair it keeps for token renewal; a fifth as many, as the load process holds a client
  // of the same weight for each.
  const amqpDevices = Math.max(100, Math.round(o.devices / 5));
  const a = await idleFleet('amqp', amqpDevices, 2000);
  const amqp = perDevice(a.base, a.after, amqpDevices);
  return [
    {
      scenario: 'baseline: bare Node TLS server',
      setup: `${o.devices} idle TLS connections, no MQTT (same certificate and process split)`,
      note: `${floor.perConnKB.toFixed(1)} KB RSS per connection (JS heap ${floor.heapPerConnKB.toFixed(1)} KB of it; the rest is OpenSSL and socket state), over its own ${floor.baseMB.toFixed(0)} MB`,
    },
    {
      scenario: '4 idle MQTT devices',
      setup: `${o.devices} devices connected, idle ${o.idleSeconds} s`,
      hubCpuS: cpu,
      hubMaxRssMB: after.maxRssMB,
      note: `RSS ${after.rssMB.toFixed(0)} MB now (${base.rssMB.toFixed(0)} MB before connects, ${mqtt.rssKB.toFixed(1)} KB per device, JS heap ${mqtt.heapKB.toFixed(1)} KB of it); the bare TLS floor under it: ${base.rssMB.toFixed(0)} MB + ${o.devices} x ${floor.perConnKB.toFixed(1)} KB = ${floorMB.toFixed(0)} MB; hub overhead above that floor ${(mqtt.rssKB - floor.perConnKB).toFixed(1)} KB per device; idle CPU ${((cpu / o.idleSeconds) * 100).toFixed(1)}% of a core; connecting all took ${connectS.toFixed(1)} s`,
      target: { text: `<= 4 KB RSS per idle device above the bare TLS floor`, met: mqtt.rssKB - floor.perConnKB <= 4 && o.devices >= 10_000 },
    },
    {
      scenario: '4 idle AMQP devices (for comparison)',
      setup: `${amqpDevices} devices connected (C2D link and CBS links attached), idle 2 s`,
      note: `${amqp.rssKB.toFixed(1)} KB RSS per device, JS heap ${amqp.heapKB.toFixed(1)} KB of it (rhea's connection, session and three links per device)`,
    },
  ];
}

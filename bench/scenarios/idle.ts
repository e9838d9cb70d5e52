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

type Mem = { rssMB: number; heapMB: number };

/** RSS per idle connection (KB) of a bare TLS server, and its own RSS before any connection (MB). */
async function tlsFloor(connections: number): Promise<{ perConnKB: number; heapPerConnKB: number; baseMB: number }> {
  const child = Child.start('lib/tls-floor-child', { cpu: HUB_CPU });
  const sockets: tls.TLSSocket[] = [];
  try {
    const srv = await child.call<{ port: number; ca: string }>('start');
    const base = await child.call<Mem>('stats');
    await pool(connections, 100, () => new Promise<void>((resolve, reject) => {
      const s = tls.connect({ host: '127.0.0.1', port: srv.port, ca: srv.ca, servername: 'localhost' }, () => {
        // A CONNECT-sized first write, as a device sends.
        s.write(Buffer.alloc(200));
        resolve();
      });
      s.once('error', reject);
      sockets.push(s);
    }));
    await new Promise((r) => setTimeout(r, 2000));
    const after = await child.call<Mem>('stats');
    return { perConnKB: ((after.rssMB - base.rssMB) * 1024) / connections, heapPerConnKB: ((after.heapMB - base.heapMB) * 1024) / connections, baseMB: base.rssMB };
  } finally {
    for (const s of sockets) s.destroy();
    await child.stop();
  }
}

/**
 * For comparison, no target: the hub's RSS per idle AMQP device (its connection, session,
 * C2D link and the CBS link pair a device keeps for token renewal), with fewer devices, as
 * the load process holds a client of the same weight for each.
 */
async function idleAmqpDevices(devices: number): Promise<Row> {
  const dataDir = tmpDir();
  const { child, info } = await startHub({ dataDir, devices });
  let fleet: Fleet | undefined;
  try {
    const base = await child.call<Mem>('stats');
    fleet = new Fleet(info, { transport: 'amqp', devices });
    await fleet.open(100);
    await new Promise((r) => setTimeout(r, 2000));
    const after = await child.call<Mem>('stats');
    return {
      scenario: '4 idle AMQP devices (for comparison)',
      setup: `${devices} devices connected (C2D link and CBS links attached), idle 2 s`,
      note: `${(((after.rssMB - base.rssMB) * 1024) / devices).toFixed(1)} KB RSS per device, JS heap ${(((after.heapMB - base.heapMB) * 1024) / devices).toFixed(1)} KB of it (rhea's connection, session and three links per device)`,
    };
  } finally {
    await fleet?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function idleDevices(o: { devices: number; idleSeconds: number }): Promise<Row[]> {
  const floor = await tlsFloor(o.devices);
  const dataDir = tmpDir();
  const { child, info } = await startHub({ dataDir, devices: o.devices });
  let fleet: Fleet | undefined;
  try {
    const base = await child.call<Mem>('stats');
    fleet = new Fleet(info, { transport: 'mqtt', devices: o.devices });
    const t0 = performance.now();
    await fleet.open(100);
    const connectS = (performance.now() - t0) / 1000;
    const before = await child.call<{ cpuS: number }>('stats');
    await new Promise((r) => setTimeout(r, o.idleSeconds * 1000));
    const after = await child.call<{ cpuS: number; rssMB: number; heapMB: number; maxRssMB: number }>('stats');
    const cpu = after.cpuS - before.cpuS;
    const perDeviceKB = ((after.rssMB - base.rssMB) * 1024) / o.devices;
    const floorMB = base.rssMB + (floor.perConnKB * o.devices) / 1024;
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
        note: `RSS ${after.rssMB.toFixed(0)} MB now (${base.rssMB.toFixed(0)} MB before connects, ${perDeviceKB.toFixed(1)} KB per device, JS heap ${(((after.heapMB - base.heapMB) * 1024) / o.devices).toFixed(1)} KB of it); the bare TLS floor under it: ${base.rssMB.toFixed(0)} MB + ${o.devices} x ${floor.perConnKB.toFixed(1)} KB = ${floorMB.toFixed(0)} MB; hub overhead above that floor ${(perDeviceKB - floor.perConnKB).toFixed(1)} KB per device; idle CPU ${((cpu / o.idleSeconds) * 100).toFixed(1)}% of a core; connecting all took ${connectS.toFixed(1)} s`,
        target: { text: `RSS <= 300 MB for 10,000 devices`, met: after.rssMB <= 300 * Math.max(1, o.devices / 10_000) && o.devices >= 10_000 },
      },
      await idleAmqpDevices(Math.max(100, Math.round(o.devices / 5))),
    ];
  } finally {
    await fleet?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Baselines measured in the same run as the scenarios, with the same message
 * size, the same loopback TLS and the same process split (server on its own
 * core, load here):
 * - aedes: mqtt.js QoS 1 publish -> aedes -> QoS 1 subscribers, no durability;
 * - rhea: sender -> bare relay -> receiver, accepted end to end, no durability;
 * - SQLite: group-commit inserts (lib/sqlite-baseline.ts).
 */
import mqtt, { type MqttClient } from 'mqtt';
import rhea, { type Connection } from 'rhea';
import { once } from 'node:events';
import { Child } from './lib/ipc';
import { HUB_CPU, pool } from './lib/fleet';
import { sqliteGroupCommitRate } from './lib/sqlite-baseline';

export interface Rate {
  perSec: number;
  serverCpuS: number;
  loadCpuS?: number;
  messages: number;
}

interface Server {
  port: number;
  ca: string;
}

/** `messages` QoS 1 publishes spread over `subscribers` topics, `window` in flight; rate at the subscribers. */
export async function aedesBaseline(o: { subscribers: number; messages: number; window: number; bodyBytes: number }): Promise<Rate> {
  const child = Child.start('lib/broker-child', { cpu: HUB_CPU });
  const subs: MqttClient[] = [];
  let pub: MqttClient | undefined;
  try {
    const srv = await child.call<Server>('start');
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
      await new Promise<void>((resolve, reject) => {
        c.once('connect', () => resolve());
        c.once('error', reject);
      });
      return c;
    };
    let received = 0;
    let target = 0;
    let done: (() => void) | undefined;
    await pool(o.subscribers, 50, async (i) => {
      const c = await connect(`sub-${i}`);
      c.on('message', () => {
        if (++received === target) done?.();
      });
      await c.subscribeAsync(`devices/sub-${i}/messages/devicebound/#`, { qos: 1 });
      subs.push(c);
    });
    const p = (pub = await connect('publisher'));
    const body = Buffer.alloc(o.bodyBytes, 'x');
    const run = async (count: number): Promise<number> => {
      received = 0;
      target = count;
      const all = new Promise<void>((resolve) => (done = resolve));
      const t0 = performance.now();
      let k = 0;
      await pool(count, o.window, async () => {
        const i = k++;
        await p.publishAsync(`devices/sub-${i % o.subscribers}/messages/devicebound/k=${i}`, body, { qos: 1 });
      });
      await all;
      return performance.now() - t0;
    };
    await run(Math.min(2000, o.messages)); // warm-up
    const cpu0 = (await child.call<{ cpuS: number }>('stats')).cpuS;
    const load0 = process.cpuUsage();
    const ms = await run(o.messages);
    const load = process.cpuUsage(load0);
    const cpu1 = (await child.call<{ cpuS: number }>('stats')).cpuS;
    return { perSec: (o.messages * 1000) / ms, serverCpuS: cpu1 - cpu0, loadCpuS: (load.user + load.system) / 1e6, messages: o.messages };
  } finally {
    await Promise.all([...subs, ...(pub ? [pub] : [])].map((c) => c.endAsync(true).catch(() => undefined)));
    await child.stop();
  }
}

function openAmqp(srv: Server, id: string): Promise<Connection> {
  const c = rhea.create_container({ id }).connect({
    transport: 'tls',
    host: '127.0.0.1',
    port: srv.port,
    ca: srv.ca,
    servername: 'localhost',
    rejectUnauthorized: false,
    reconnect: false,
    tcp_no_delay: true,
  } as rhea.ConnectionOptions);
  return new Promise((resolve, reject) => {
    c.once('connection_open', () => resolve(c));
    c.once('connection_error', reject);
    c.once('disconnected', (ctx) => reject(ctx.error ?? new Error('disconnected')));
  });
}

/** `messages` transfers sender -> relay -> receiver, `window` unsettled at the sender; rate of acceptances at the sender. */
export async function rheaBaseline(o: { messages: number; window: number; bodyBytes: number }): Promise<Rate> {
  const child = Child.start('lib/relay-child', { cpu: HUB_CPU });
  const conns: Connection[] = [];
  try {
    const srv = await child.call<Server>('start');
    const rc = await openAmqp(srv, 'receiver');
    conns.push(rc);
    const receiver = rc.open_receiver({ source: { address: 'relay' }, credit_window: 100, autoaccept: true });
    await once(receiver, 'receiver_open');
    const sc = await openAmqp(srv, 'sender');
    conns.push(sc);
    const sender = sc.open_sender({ target: { address: 'relay' } });
    await once(sender, 'sendable');
    const body = Buffer.alloc(o.bodyBytes, 'x');
    const run = (count: number): Promise<number> =>
      new Promise((resolve) => {
        let sent = 0;
        let settled = 0;
        let inFlight = 0;
        const t0 = performance.now();
        const pump = (): void => {
          while (sent < count && inFlight < o.window && sender.sendable()) {
            sender.send({ body: rhea.message.data_section(body) });
            sent++;
            inFlight++;
          }
        };
        const onAccepted = (): void => {
          inFlight--;
          if (++settled === count) {
            sender.removeListener('accepted', onAccepted);
            sender.removeListener('released', onReleased);
            sender.removeListener('sendable', pump);
            resolve(performance.now() - t0);
          } else pump();
        };
        // Released (no credit at the relay's receiver side): send it again.
        const onReleased = (): void => {
          inFlight--;
          sent--;
          pump();
        };
        sender.on('accepted', onAccepted);
        sender.on('released', onReleased);
        sender.on('sendable', pump);
        pump();
      });
    await run(Math.min(2000, o.messages));
    const cpu0 = (await child.call<{ cpuS: number }>('stats')).cpuS;
    const load0 = process.cpuUsage();
    const ms = await run(o.messages);
    const load = process.cpuUsage(load0);
    const cpu1 = (await child.call<{ cpuS: number }>('stats')).cpuS;
    return { perSec: (o.messages * 1000) / ms, serverCpuS: cpu1 - cpu0, loadCpuS: (load.user + load.system) / 1e6, messages: o.messages };
  } finally {
    for (const c of conns) c.close();
    await child.stop();
  }
}

export function sqliteBaseline(o: { groupSize: number; rows: number; bodyBytes: number }): Rate {
  sqliteGroupCommitRate(o.groupSize, Math.min(o.rows, 2000), o.bodyBytes); // warm-up
  const r = sqliteGroupCommitRate(o.groupSize, o.rows, o.bodyBytes);
  return { perSec: r.perSec, serverCpuS: 0, messages: o.rows };
}

/** The engine and store alone (lib/engine-child.ts): send, deliver and complete with no network, on the hub's core. */
export async function engineOnly(o: { devices: number; messages: number; window: number; bodyBytes: number }): Promise<Rate & { messagesPerCommit: number }> {
  const child = Child.start('lib/engine-child', { cpu: HUB_CPU });
  try {
    const r = await child.call<{ perSec: number; cpuUsPerMsg: number; messagesPerCommit: number }>('run', o);
    return { perSec: r.perSec, serverCpuS: (r.cpuUsPerMsg * o.messages) / 1e6, messages: o.messages, messagesPerCommit: r.messagesPerCommit };
  } finally {
    await child.stop();
  }
}

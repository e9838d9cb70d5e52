/**
 * C2D over MQTT, end to end on loopback: messages sent to the hub (in-memory
 * SQLite), delivered to one mqtt.js device, PUBACK-completed. Prints msgs/s
 * per in-flight window. Run: `npm run build && node dist/bench/mqtt.js [count]`.
 */
import { once } from 'node:events';
import net from 'node:net';
import mqtt from 'mqtt';
import { createSas } from '../lib/common/sas';
import { buildMqttUsername } from '../lib/common/codec/mqtt';
import { Hub } from '../lib/hub/index';
import { createMqttServer } from '../lib/hub/mqtt/server';

async function run(count: number, window: number): Promise<number> {
  const hub = await Hub.open({ limits: { maxQueueDepth: count } });
  const server = createMqttServer(hub, { inFlightWindow: window });
  const tcp = net.createServer((s) => server.handle(s)).listen(0, '127.0.0.1');
  await once(tcp, 'listening');
  const d = await hub.registry.createDevice({ deviceId: 'bench' });
  const client = mqtt.connect({
    host: '127.0.0.1',
    port: (tcp.address() as net.AddressInfo).port,
    protocolVersion: 4,
    clientId: 'bench',
    username: buildMqttUsername({ host: 'localhost', deviceId: 'bench' }),
    password: createSas('localhost/devices/bench', d.authentication.symmetricKey.primaryKey as string, Math.floor(Date.now() / 1000) + 3600),
    clean: false,
    reconnectPeriod: 0,
  });
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  await client.subscribeAsync('devices/bench/messages/devicebound/#', { qos: 1 });
  let completed = 0;
  const done = new Promise<void>((resolve) => hub.events.on('completed', () => ++completed === count && resolve()));
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: count }, (_, i) => hub.send('bench', { body: Buffer.from(`message ${i}`), properties: { i: String(i) } })));
  await done;
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  await client.endAsync(true);
  await server.close();
  tcp.close();
  await hub.close();
  return count / seconds;
}

async function main(): Promise<void> {
  const count = Number(process.argv[2] ?? 2000);
  for (const window of [1, 8, 32]) {
    const rate = await run(count, window);
    console.log(`window ${String(window).padStart(2)}: ${count} messages sent + delivered + completed, ${rate.toFixed(0)} msgs/s`);
  }
}

void main();

/**
 * One device client under test, alone in its process (on the load core):
 * ours (DeviceClient) or the official azure-iot-device, both over MQTT,
 * completing every message; or the floor under both: a bare MQTT connection
 * that acknowledges each PUBLISH and does nothing else. Reports this process's CPU seconds between the
 * warm-up and the last message, and its peak RSS.
 */
import { Client as OfficialClient, type Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { DeviceClient } from '../../lib/client/device-client';
import { MqttConnection } from '../../lib/client/mqtt/packet-connection';
import { parseConnectionString } from '../../lib/common/connection-string';
import { buildMqttUsername, deviceBoundFilter } from '../../lib/common/codec/mqtt';
import { createSas } from '../../lib/common/sas';
import { processStats, serve } from './ipc';

/** ours: DeviceClient; official: azure-iot-device; floor: the bare MQTT connection under ours (a same-run floor). */
export type ClientKind = 'ours' | 'official' | 'floor';

let close: (() => Promise<void>) | undefined;
let received = 0;
let marks: { at: number; resolve: (s: ReturnType<typeof processStats>) => void }[] = [];

function got(): void {
  received++;
  marks = marks.filter((m) => {
    if (received < m.at) return true;
    m.resolve(processStats());
    return false;
  });
}

serve({
  async open(a: { kind: ClientKind; connectionString: string; ca: string }): Promise<void> {
    if (a.kind === 'floor') {
      // The floor: MQTT over TLS with nothing on top (no topic parsing, no message model, PUBACK at once).
      const cs = parseConnectionString(a.connectionString);
      const [host, port] = String(cs.HostName).split(':') as [string, string];
      const deviceId = String(cs.DeviceId);
      const c = await MqttConnection.open({
        webSocket: false,
        host,
        port: Number(port),
        servername: host,
        ca: a.ca,
        clientId: deviceId,
        keepaliveS: 180,
        connectTimeoutMs: 10_000,
        username: buildMqttUsername({ host, deviceId, params: {} }),
        password: createSas(`${host}/devices/${deviceId}`, String(cs.SharedAccessKey), Math.floor(Date.now() / 1000) + 3600),
      });
      c.on('publish', (p) => {
        if (p.messageId !== undefined) c.puback(p.messageId).then(got, () => undefined);
      });
      await c.subscribe(deviceBoundFilter(deviceId), 1);
      close = () => c.end();
    } else if (a.kind === 'ours') {
      const c = DeviceClient.fromConnectionString(a.connectionString, { transport: 'mqtt', ca: a.ca });
      await c.open();
      c.on('message', (m) => {
        c.complete(m).then(got, () => undefined);
      });
      close = () => c.close();
    } else {
      const c = OfficialClient.fromConnectionString(a.connectionString, Mqtt);
      await c.setOptions({ ca: a.ca });
      c.on('message', (m: Message) => {
        c.complete(m, () => got());
      });
      c.on('error', () => undefined);
      await c.open();
      close = async () => {
        await c.close();
      };
    }
  },
  /** Resolves with this process's stats once `count` messages were completed in all. */
  mark: (a: { count: number }) =>
    new Promise((resolve) => {
      marks.push({ at: a.count, resolve });
      if (received >= a.count) got();
    }),
  async close(): Promise<void> {
    await close?.();
  },
});

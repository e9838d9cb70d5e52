/**
 * One device client under test, alone in its process (on the load core):
 * ours (DeviceClient) or the official azure-iot-device, both over MQTT,
 * completing every message. Reports this process's CPU seconds between the
 * warm-up and the last message, and its peak RSS.
 */
import { Client as OfficialClient, type Message } from 'azure-iot-device';
import { Mqtt } from 'azure-iot-device-mqtt';
import { DeviceClient } from '../../lib/client/device-client';
import { processStats, serve } from './ipc';

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
  async open(a: { kind: 'ours' | 'official'; connectionString: string; ca: string }): Promise<void> {
    if (a.kind === 'ours') {
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
  mark: (a: { count: number }) => new Promise((resolve) => {
    marks.push({ at: a.count, resolve });
    if (received >= a.count) got();
  }),
  async close(): Promise<void> {
    await close?.();
  },
});

/**
 * A reconnection storm: a whole fleet of MQTT devices loses its connections
 * at once (a network blip, a gateway restart) and every device reconnects in
 * the same moment, many before the hub has handled their old connection's
 * close. The listener takes them all, the newest connection of each device
 * wins, no old connection's late close marks a device disconnected, and every
 * device's session (clean=false) and queue are there: a message pending
 * through the blip and one sent after it both arrive.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { MqttClient } from 'mqtt';
import { MqttHarness, filterOf, type TestDevice } from './harness';

const FLEET = 400;

describe('MQTT: a reconnection storm of a whole fleet', function () {
  this.timeout(120_000);
  let h: MqttHarness;
  before(async () => {
    h = await MqttHarness.start();
  });
  after(async () => {
    await h.close();
  });

  /** Each device's message bodies, and a wake-up for whoever waits on them. */
  const inbox = new Map<string, string[]>();
  const arrived = new EventEmitter();

  /** Connects and subscribes every device at once. */
  async function connectAll(devices: TestDevice[]): Promise<MqttClient[]> {
    return Promise.all(
      devices.map(async (d) => {
        const c = await h.connect(d, {
          onMessage: (_t, p) => {
            inbox.get(d.id)!.push(p.toString());
            arrived.emit(d.id);
          },
        });
        await c.subscribeAsync(filterOf(d.id), { qos: 1 });
        return c;
      }),
    );
  }

  it(`${FLEET} devices cut at once and reconnecting at once: all served, none marked disconnected, nothing lost`, async () => {
    const devices: TestDevice[] = [];
    for (let i = 0; i < FLEET; i++) devices.push(await h.addDevice(`storm-${i}`));
    for (const d of devices) inbox.set(d.id, []);
    const first = await connectAll(devices);
    assert.equal(h.hub.stats().connectedDevices, FLEET);

    // Done when the hub has committed the completion of every message sent from here on.
    const completed = new Set<string>();
    const allCompleted = new Promise<void>((resolve) =>
      h.hub.events.on('completed', (e) => {
        if (e.deviceId.startsWith('storm-')) completed.add(e.messageId);
        if (completed.size === 2 * FLEET) resolve();
      }),
    );
    // Every socket cut at once, half from the hub's side and half from the devices': many devices'
    // new CONNECT then reaches the hub before it has handled their old connection's close.
    const hubSide = [...h.sockets];
    for (const s of hubSide.slice(0, FLEET / 2)) s.destroy();
    for (const c of first.slice(FLEET / 2)) c.stream.destroy();
    for (const d of devices) await h.hub.send(d.id, { body: Buffer.from('during'), messageId: `${d.id}-during` });

    const second = await connectAll(devices);
    for (const d of devices) await h.hub.send(d.id, { body: Buffer.from('after'), messageId: `${d.id}-after` });
    const both = (id: string): boolean => inbox.get(id)!.includes('during') && inbox.get(id)!.includes('after');
    await Promise.all(
      devices.map(
        (d) =>
          new Promise<void>((resolve) => {
            if (both(d.id)) return resolve();
            const check = (): void => {
              if (!both(d.id)) return;
              arrived.off(d.id, check);
              resolve();
            };
            arrived.on(d.id, check);
          }),
      ),
    );
    await allCompleted;
    // None of the old connections' closes took a device's new session with it.
    assert.equal(h.hub.stats().connectedDevices, FLEET);
    for (const d of devices) assert.equal(h.hub.registry.getDevice(d.id)?.connectionState, 'Connected', d.id);
    assert.equal(h.hub.stats().queued + h.hub.stats().locked, 0, 'every message completed');
    assert.ok(second.every((c) => c.connected));
    assert.deepEqual(h.diagnostics, [], 'nothing the server found wrong');
  });
});

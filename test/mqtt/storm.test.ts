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

  /** Connects and subscribes every device at once; resolves each device's messages as they come. */
  async function connectAll(devices: TestDevice[], inbox: Map<string, string[]>): Promise<MqttClient[]> {
    return Promise.all(
      devices.map(async (d) => {
        const c = await h.connect(d, { onMessage: (_t, p) => inbox.get(d.id)!.push(p.toString()) });
        await c.subscribeAsync(filterOf(d.id), { qos: 1 });
        return c;
      }),
    );
  }

  it(`${FLEET} devices cut at once and reconnecting at once: all served, none marked disconnected, nothing lost`, async () => {
    const devices: TestDevice[] = [];
    for (let i = 0; i < FLEET; i++) devices.push(await h.addDevice(`storm-${i}`));
    const inbox = new Map(devices.map((d) => [d.id, [] as string[]]));
    const first = await connectAll(devices, inbox);
    assert.equal(h.hub.stats().connectedDevices, FLEET);

    // Every socket cut at once, half from the hub's side and half from the devices': many devices'
    // new CONNECT then reaches the hub before it has handled their old connection's close.
    const hubSide = [...h.sockets];
    for (const s of hubSide.slice(0, FLEET / 2)) s.destroy();
    for (const c of first.slice(FLEET / 2)) c.stream.destroy();
    for (const d of devices) await h.hub.send(d.id, { body: Buffer.from('during'), messageId: `${d.id}-during` });

    const second = await connectAll(devices, inbox);
    for (const d of devices) await h.hub.send(d.id, { body: Buffer.from('after'), messageId: `${d.id}-after` });
    await Promise.all(
      devices.map(
        (d) =>
          new Promise<void>((resolve) => {
            const check = (): void => {
              if (inbox.get(d.id)!.includes('during') && inbox.get(d.id)!.includes('after')) resolve();
              else setTimeout(check, 20);
            };
            check();
          }),
      ),
    );
    await h.hub.idle();
    // None of the old connections' closes took a device's new session with it.
    assert.equal(h.hub.stats().connectedDevices, FLEET);
    for (const d of devices) assert.equal(h.hub.registry.getDevice(d.id)?.connectionState, 'Connected', d.id);
    assert.equal(h.hub.stats().queued + h.hub.stats().locked, 0, 'every message completed');
    assert.ok(second.every((c) => c.connected));
    assert.deepEqual(h.diagnostics, [], 'nothing the server found wrong');
  });
});

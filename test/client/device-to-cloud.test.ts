/**
 * Device-to-cloud on every transport (AMQP/AMQP-WS: a link to
 * /devices/{id}/messages/events; MQTT/MQTT-WS: PUBLISH QoS 1 on
 * devices/{id}/messages/events/{bag}; HTTPS: POST /devices/{id}/messages/events)
 * and in-process: sendEvent() resolves once the hub took the message, which
 * the hub reports as its `deviceToCloud` event.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { DeviceClient } from '../../lib/client/device-client';
import { InProcessDeviceClient } from '../../lib/client/in-process';
import { DEVICE_TRANSPORTS, type DeviceConnection } from '../../lib/client/types';
import { C2DError } from '../../lib/common/errors';
import { NoRetry } from '../../lib/common/retry';
import type { HubEventMap } from '../../lib/hub/api';
import { rigForSuite, type Rig } from './rig';

describe("device-to-cloud: sendEvent on every transport, seen as the hub's deviceToCloud event", function () {
  this.timeout(20_000);
  let rig: Rig;
  const clients: DeviceConnection[] = [];
  rigForSuite((r) => (rig = r));
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });

  const makers: Array<[string, (id: string) => Promise<DeviceConnection>]> = [
    ...DEVICE_TRANSPORTS.map((transport): [string, (id: string) => Promise<DeviceConnection>] => [
      transport,
      async (id) =>
        DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), { transport, ca: rig.tls.cert, retryPolicy: new NoRetry() }),
    ]),
    [
      'in-process',
      async (id) => {
        await rig.addDevice(id);
        return new InProcessDeviceClient(rig.hub, id);
      },
    ],
  ];

  for (const [name, make] of makers) {
    it(`${name}: the body and properties arrive at the hub for this device`, async () => {
      const id = `d2c-${name}`;
      const c = await make(id);
      clients.push(c);
      await c.open();
      const seen = once(rig.hub.events, 'deviceToCloud');
      await c.sendEvent(Buffer.from('{"temp":21.5}'), { kind: 'reading', 'unit-x': 'c' });
      const e = (await seen)[0] as HubEventMap['deviceToCloud'];
      assert.equal(e.deviceId, id);
      assert.equal(e.body.toString(), '{"temp":21.5}');
      assert.equal(e.properties.kind, 'reading');
      assert.equal(e.properties['unit-x'], 'c');
      // Two in a row, no properties: each is taken in turn.
      const both = new Promise<string[]>((resolve) => {
        const got: string[] = [];
        const on = (ev: HubEventMap['deviceToCloud']): void => {
          if (ev.deviceId !== id) return;
          got.push(ev.body.toString());
          if (got.length === 2) {
            rig.hub.events.off('deviceToCloud', on);
            resolve(got);
          }
        };
        rig.hub.events.on('deviceToCloud', on);
      });
      await c.sendEvent(Buffer.from('a'));
      await c.sendEvent(Buffer.from('b'));
      assert.deepEqual(await both, ['a', 'b']);
    });
  }

  it('refuses a body that is not a Buffer or a bad property name, with 400004, before anything is sent', async () => {
    const c = await makers[0]![1]('d2c-bad');
    clients.push(c);
    await c.open();
    await assert.rejects(c.sendEvent('text' as unknown as Buffer), (e: C2DError) => e.code === 400004);
    await assert.rejects(c.sendEvent(Buffer.from('x'), { 'bad name': 'v' }), (e: C2DError) => e.code === 400004);
  });
});

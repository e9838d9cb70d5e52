/**
 * Every AMQP fault on AMQP connections: the official Node device SDK
 * (azure-iot-device-amqp, on an ephemeral port: AMQP accepts
 * HostName=host:port) with NoRetry (the `disconnect` event comes) and with
 * its default retry (it reconnects by itself), and our DeviceClient over
 * amqp and amqp-ws. In each, the messages sent before, during and after the
 * fault arrive and are settled once (scenario.ts).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Amqp } from 'azure-iot-device-amqp';
import { DeviceClient } from '../../lib/client/device-client';
import { ExponentialBackoffWithJitter } from '../../lib/common/retry';
import type { ConnectionFaultType } from '../../lib/common/fault-injection';
import { rigForSuite, type Rig } from '../client/rig';
import { faultScenario } from './scenario';
import { SdkDevice } from './sdk-device';
import { OurDevice } from './our-device';

const AMQP_FAULTS: ConnectionFaultType[] = [
  'KillTcp',
  'KillAmqpConnection',
  'KillAmqpSession',
  'KillAmqpCBSLinkReq',
  'KillAmqpCBSLinkResp',
  'KillAmqpC2DLink',
  'KillAmqpD2CLink',
  'ShutDownAmqp',
];

describe('Fault injection over AMQP', function () {
  this.timeout(30_000);
  let rig: Rig;
  let n = 0;
  const closers = rigForSuite((r) => (rig = r));

  const ca = (): string => rig.tls.ca ?? rig.tls.cert;

  for (const fault of AMQP_FAULTS) {
    it(`${fault}, official SDK with NoRetry: the disconnect event comes; reopened, nothing is lost`, async () => {
      const id = `sdk-noretry-${n++}`;
      const device = new SdkDevice(await rig.deviceConnectionString(id, 'amqp'), Amqp, 'none');
      closers.push(() => device.close());
      await device.open(ca(), { hub: rig.hub, deviceId: id });
      const disconnected = device.nextDisconnect();
      await faultScenario({
        hub: rig.hub,
        clock: rig.clock,
        deviceId: id,
        device,
        fault,
        recovery: async () => {
          await disconnected;
          await device.reopen();
        },
      });
      assert.equal(device.disconnects.length, 1);
    });

    it(`${fault}, official SDK with its default retry: it reconnects by itself, nothing is lost`, async () => {
      const id = `sdk-retry-${n++}`;
      const device = new SdkDevice(await rig.deviceConnectionString(id, 'amqp'), Amqp, 'default');
      closers.push(() => device.close());
      await device.open(ca(), { hub: rig.hub, deviceId: id });
      await faultScenario({ hub: rig.hub, clock: rig.clock, deviceId: id, device, fault, recovery: 'drop' });
      assert.equal(device.disconnects.length, 0, 'no disconnect event: the SDK recovered silently');
    });

    for (const transport of ['amqp', 'amqp-ws'] as const) {
      it(`${fault}, our DeviceClient over ${transport}: disconnected_retrying, connected again, nothing is lost`, async () => {
        const id = `ours-${transport}-${n++}`;
        const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), {
          transport,
          ca: ca(),
          retryPolicy: new ExponentialBackoffWithJitter({ initialDelayMs: 20, maxDelayMs: 200 }),
        });
        const device = new OurDevice(client);
        closers.push(() => client.close());
        await client.open();
        // A detached D2C link is attached again by the next send: the connection stays.
        const drops = fault !== 'KillAmqpD2CLink';
        const retrying = drops ? once(client, 'disconnected_retrying') : undefined;
        await faultScenario({ hub: rig.hub, clock: rig.clock, deviceId: id, device, fault, recovery: drops ? 'drop' : 'stay' });
        if (retrying) assert.equal(((await retrying)[0] as { reason: string }).reason, 'communication-error');
        await client.sendEvent(Buffer.from('still sending'));
      });
    }
  }
});

/**
 * The faults that apply to MQTT (KillTcp, ShutDownMqtt, and the timed
 * InvokeThrottling / InvokeMaxMessageQuota / InvokeAuthError): the official
 * Node device SDK over MQTT (ephemeral port: MQTT accepts
 * HostName=host:port) with NoRetry and with its default retry, and our
 * DeviceClient over mqtt and mqtt-ws. MQTT-WS with the official SDK needs
 * port 443 and runs in test/compat.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Mqtt } from 'azure-iot-device-mqtt';
import { DeviceClient } from '../../lib/client/device-client';
import { ExponentialBackoffWithJitter, NoRetry } from '../../lib/common/retry';
import { faultRequestProperties } from '../../lib/common/fault-injection';
import { rigForSuite, type Rig } from '../client/rig';
import { faultScenario, nextEvent } from './scenario';
import { SdkDevice } from './sdk-device';
import { OurDevice } from './our-device';

const fastRetry = (): ExponentialBackoffWithJitter => new ExponentialBackoffWithJitter({ initialDelayMs: 20, maxDelayMs: 200 });

describe('Fault injection over MQTT', function () {
  this.timeout(30_000);
  let rig: Rig;
  let n = 0;
  const closers = rigForSuite((r) => (rig = r));
  const ca = (): string => rig.tls.ca ?? rig.tls.cert;

  for (const fault of ['KillTcp', 'ShutDownMqtt'] as const) {
    it(`${fault}, official SDK with NoRetry: the disconnect event comes; reopened, nothing is lost`, async () => {
      const id = `mq-sdk-noretry-${n++}`;
      const device = new SdkDevice(await rig.deviceConnectionString(id, 'mqtt'), Mqtt, 'none', true);
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
      const id = `mq-sdk-retry-${n++}`;
      const device = new SdkDevice(await rig.deviceConnectionString(id, 'mqtt'), Mqtt, 'default', true);
      closers.push(() => device.close());
      await device.open(ca(), { hub: rig.hub, deviceId: id });
      await faultScenario({ hub: rig.hub, clock: rig.clock, deviceId: id, device, fault, recovery: 'drop' });
      assert.equal(device.disconnects.length, 0, 'no disconnect event: the SDK recovered silently');
    });

    for (const transport of ['mqtt', 'mqtt-ws'] as const) {
      it(`${fault}, our DeviceClient over ${transport}: disconnected_retrying, connected again, nothing is lost`, async () => {
        const id = `mq-ours-${transport}-${n++}`;
        const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), { transport, ca: ca(), retryPolicy: fastRetry() });
        closers.push(() => client.close());
        await client.open();
        const retrying = once(client, 'disconnected_retrying');
        await faultScenario({ hub: rig.hub, clock: rig.clock, deviceId: id, device: new OurDevice(client), fault, recovery: 'drop' });
        assert.equal(((await retrying)[0] as { reason: string }).reason, 'communication-error');
      });
    }
  }

  it("AMQP's faults over MQTT are not performed: a warning says so and the connection stays", async () => {
    const id = `mq-amqp-${n++}`;
    const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'mqtt'), { transport: 'mqtt', ca: ca(), retryPolicy: new NoRetry() });
    closers.push(() => client.close());
    await client.open();
    const warned = nextEvent(rig.hub, 'warning', (e) => e.deviceId === id);
    await client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'KillAmqpC2DLink' }));
    rig.clock.advance(0);
    assert.match((await warned).message, /KillAmqpC2DLink not performed.*over mqtt/);
    assert.equal(client.connected, true);
  });

  for (const type of ['InvokeThrottling', 'InvokeMaxMessageQuota'] as const) {
    it(`${type}: a D2C publish meanwhile closes the connection (MQTT has no refusing PUBACK); after the duration it is taken again`, async () => {
      const id = `mq-${type}-${n++}`;
      const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'mqtt'), { transport: 'mqtt', ca: ca(), retryPolicy: fastRetry() });
      closers.push(() => client.close());
      const received: string[] = [];
      client.on('message', (m) => {
        received.push(String(m.messageId));
        void client.complete(m);
      });
      await client.open();
      const started = nextEvent(rig.hub, 'fault', (e) => e.deviceId === id && e.phase === 'started');
      await client.sendEvent(Buffer.from('f'), faultRequestProperties({ type, delayInSecs: 0, durationInSecs: 5 }));
      rig.clock.advance(0);
      await started;
      const dropped = nextEvent(rig.hub, 'deviceDisconnected', (e) => e.deviceId === id);
      await assert.rejects(client.sendEvent(Buffer.from('refused')), 'the publish is never acknowledged');
      await dropped;
      // C2D still reaches the device while it is refused D2C.
      await nextEvent(rig.hub, 'deviceConnected', (e) => e.deviceId === id);
      await rig.hub.send(id, { body: Buffer.from('c2d'), messageId: `${type}-c2d` });
      await nextEvent(rig.hub, 'completed', (e) => e.deviceId === id);
      assert.deepEqual(received, [`${type}-c2d`]);
      const ended = nextEvent(rig.hub, 'fault', (e) => e.deviceId === id && e.phase === 'ended');
      rig.clock.advance(5000);
      await ended;
      await client.sendEvent(Buffer.from('taken'));
    });
  }

  it('InvokeAuthError: a reconnect within the duration is refused (CONNACK 5, bad-credential); after it, the device gets in', async () => {
    const id = `mq-auth-${n++}`;
    const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'mqtt'), { transport: 'mqtt', ca: ca(), retryPolicy: fastRetry() });
    closers.push(() => client.close());
    await client.open();
    await client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'InvokeAuthError', durationInSecs: 10 }));
    await client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'KillTcp' }));
    const final = once(client, 'disconnected');
    rig.clock.advance(0);
    const status = (await final)[0] as { reason: string; cause: Error };
    assert.equal(status.reason, 'bad-credential');
    rig.clock.advance(10_000);
    await client.open();
    assert.equal(client.connected, true);
  });
});

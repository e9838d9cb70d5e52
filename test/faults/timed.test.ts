/**
 * The timed faults on AMQP and HTTPS (MQTT's are in mqtt.test.ts):
 * InvokeThrottling and InvokeMaxMessageQuota refuse the device's D2C sends
 * (and HTTPS receives) for the duration with IoT Hub's errors, as the SDKs
 * name them; InvokeAuthError refuses the next connect or token renewal.
 * C2D keeps its promise throughout: what is sent is delivered and settled once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { Amqp } from 'azure-iot-device-amqp';
import { Message } from 'azure-iot-device';
import { DeviceClient } from '../../lib/client/device-client';
import { C2DError } from '../../lib/common/errors';
import { ExponentialBackoffWithJitter, NoRetry } from '../../lib/common/retry';
import { faultRequestProperties } from '../../lib/common/fault-injection';
import type { DeviceTransport } from '../../lib/client/types';
import { rigForSuite, type Rig } from '../client/rig';
import { Ledger, nextEvent } from './scenario';
import { SdkDevice } from './sdk-device';

const fastRetry = (): ExponentialBackoffWithJitter => new ExponentialBackoffWithJitter({ initialDelayMs: 20, maxDelayMs: 200 });

function sdkSend(device: SdkDevice, body: string): Promise<void> {
  return new Promise((resolve, reject) => device.client.sendEvent(new Message(body), (e?: Error) => (e ? reject(e) : resolve())));
}

describe('Fault injection: throttling, quota and auth errors', function () {
  this.timeout(30_000);
  let rig: Rig;
  let n = 0;
  const closers = rigForSuite((r) => (rig = r));
  const ca = (): string => rig.tls.ca ?? rig.tls.cert;

  /** Asks for a timed fault through the device's own D2C and waits for it to start. */
  async function start(id: string, send: () => Promise<void>): Promise<void> {
    const started = nextEvent(rig.hub, 'fault', (e) => e.deviceId === id && e.phase === 'started');
    await send();
    rig.clock.advance(0);
    await started;
  }

  it('InvokeThrottling, official SDK over AMQP with NoRetry: sendEvent fails with ThrottlingError for the duration, not after', async () => {
    const id = `t-sdk-${n++}`;
    const device = new SdkDevice(await rig.deviceConnectionString(id, 'amqp'), Amqp, 'none');
    closers.push(() => device.close());
    await device.open(ca(), { hub: rig.hub, deviceId: id });
    await start(id, () => device.requestFault({ type: 'InvokeThrottling', durationInSecs: 3 }));
    await assert.rejects(sdkSend(device, 'x'), (e: Error) => e.name === 'ThrottlingError');
    rig.clock.advance(3000);
    await sdkSend(device, 'y');
    assert.equal(device.disconnects.length, 0, 'throttling does not disconnect');
  });

  it('InvokeMaxMessageQuota, official SDK over AMQP: IotHubQuotaExceededError (403002), and C2D still arrives', async () => {
    const id = `t-sdk-${n++}`;
    const device = new SdkDevice(await rig.deviceConnectionString(id, 'amqp'), Amqp, 'default');
    closers.push(() => device.close());
    await device.open(ca(), { hub: rig.hub, deviceId: id });
    await start(id, () => device.requestFault({ type: 'InvokeMaxMessageQuota', durationInSecs: 3 }));
    await assert.rejects(
      sdkSend(device, 'x'),
      (e: Error & { amqpError?: { description?: string } }) => e.name === 'IotHubQuotaExceededError' && /403002/.test(e.amqpError?.description ?? ''),
    );
    const ledger = new Ledger(rig.hub, id);
    await rig.hub.send(id, { body: Buffer.from('c2d'), messageId: 'q-c2d', ack: 'full' });
    await (await device.inbox.next()).complete();
    await ledger.assertSettledOnce(['q-c2d']);
    ledger.close();
  });

  it('InvokeAuthError, official SDK over AMQP: a reconnect within the duration fails with UnauthorizedError; open() after it works', async () => {
    const id = `t-sdk-${n++}`;
    const device = new SdkDevice(await rig.deviceConnectionString(id, 'amqp'), Amqp, 'default');
    closers.push(() => device.close());
    await device.open(ca(), { hub: rig.hub, deviceId: id });
    await device.requestFault({ type: 'InvokeAuthError', durationInSecs: 10 });
    await device.requestFault({ type: 'KillTcp' });
    const disconnected = device.nextDisconnect();
    rig.clock.advance(0);
    const d = (await disconnected) as { transportObj?: Error };
    assert.equal(d.transportObj?.name, 'UnauthorizedError', 'the default retry gives up on 401');
    rig.clock.advance(10_000);
    const again = new SdkDevice(await rig.deviceConnectionString(id, 'amqp'), Amqp, 'default');
    closers.push(() => again.close());
    await again.open(ca(), { hub: rig.hub, deviceId: id });
  });

  it('InvokeThrottling with no delay holds from the request on: the very next send is refused, with no timer in between', async () => {
    const id = `t-now-${n++}`;
    const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'amqp'), { transport: 'amqp', ca: ca(), retryPolicy: new NoRetry() });
    closers.push(() => client.close());
    await client.open();
    await client.sendEvent(Buffer.from('fault'), faultRequestProperties({ type: 'InvokeThrottling', delayInSecs: 0, durationInSecs: 60 }));
    // The clock is not advanced: the fault must not wait for a timer of it to fire.
    await assert.rejects(client.sendEvent(Buffer.from('next')), (e: C2DError) => e.code === 429001);
  });

  for (const transport of ['amqp', 'http'] as DeviceTransport[]) {
    it(`InvokeThrottling, our DeviceClient over ${transport}: sendEvent fails 429001 for the duration; C2D sent meanwhile arrives after it`, async () => {
      const id = `t-ours-${transport}-${n++}`;
      const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, transport), {
        transport,
        ca: ca(),
        retryPolicy: fastRetry(),
        httpPollIntervalMs: 50,
      });
      closers.push(() => client.close());
      const got: string[] = [];
      client.on('message', (m) => {
        got.push(String(m.messageId));
        void client.complete(m);
      });
      await client.open();
      await start(id, () => client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'InvokeThrottling', durationInSecs: 3 })));
      await assert.rejects(client.sendEvent(Buffer.from('x')), (e: unknown) => e instanceof C2DError && e.code === 429001);
      const ledger = new Ledger(rig.hub, id);
      await rig.hub.send(id, { body: Buffer.from('c2d'), messageId: `${id}-c2d`, ack: 'full' });
      if (transport === 'http') {
        // Polling is a device operation too: the client backs off (reason communication-error, throttled) until it is over.
        await once(client, 'disconnected_retrying');
        rig.clock.advance(3000);
        await once(client, 'connected');
      } else {
        rig.clock.advance(3000);
      }
      await ledger.assertSettledOnce([`${id}-c2d`]);
      ledger.close();
      assert.deepEqual(got, [`${id}-c2d`]);
      await client.sendEvent(Buffer.from('y'));
    });
  }

  it('InvokeMaxMessageQuota, our DeviceClient over http: sendEvent fails 403002', async () => {
    const id = `t-ours-q-${n++}`;
    const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'http'), { transport: 'http', ca: ca(), retryPolicy: new NoRetry() });
    closers.push(() => client.close());
    await client.open();
    await start(id, () => client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'InvokeMaxMessageQuota', durationInSecs: 2 })));
    await assert.rejects(client.sendEvent(Buffer.from('x')), (e: unknown) => e instanceof C2DError && e.code === 403002);
    rig.clock.advance(2000);
    await client.sendEvent(Buffer.from('y'));
  });

  it('InvokeAuthError, our DeviceClient over amqp: the token renewal is refused (401003), and so is the reconnect: disconnected, bad-credential', async () => {
    const id = `t-ours-auth-${n++}`;
    const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'amqp'), {
      transport: 'amqp',
      ca: ca(),
      retryPolicy: fastRetry(),
      tokenLifetimeMs: 3000,
      tokenRenewalMarginMs: 2800,
    });
    closers.push(() => client.close());
    await client.open();
    await start(id, () => client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'InvokeAuthError', durationInSecs: 60 })));
    // The client renews 200 ms after its put-token, in real time; the hub refuses it.
    const [status] = (await once(client, 'disconnected')) as [{ reason: string; cause: C2DError }];
    assert.equal(status.reason, 'bad-credential');
    assert.equal(status.cause.code, 401003);
    rig.clock.advance(60_000);
    await client.open();
  });

  it('InvokeAuthError, our DeviceClient over http: every request within the duration is 401003', async () => {
    const id = `t-ours-auth-${n++}`;
    const client = DeviceClient.fromConnectionString(await rig.deviceConnectionString(id, 'http'), { transport: 'http', ca: ca(), retryPolicy: new NoRetry() });
    closers.push(() => client.close());
    await client.open();
    await start(id, () => client.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'InvokeAuthError', durationInSecs: 2 })));
    await assert.rejects(client.sendEvent(Buffer.from('x')), (e: unknown) => e instanceof C2DError && e.code === 401003);
    rig.clock.advance(2000);
    await client.sendEvent(Buffer.from('y'));
  });
});

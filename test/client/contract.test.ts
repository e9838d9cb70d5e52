/**
 * One contract, every client: the same cases run against the in-process
 * twins (straight on a Hub) and the network clients on each transport
 * (through the hub's servers on loopback TLS). What a flow sees must not
 * depend on where its hub is: a message arrives with its properties, a
 * completion gives Success feedback, a late settlement is 412002, a receive
 * with nothing queued is null after its timeout, an abort rejects, and a
 * device-to-cloud message reaches the hub.
 */
import { strict as assert } from 'node:assert';
import { DeviceClient } from '../../lib/client/device-client';
import { InProcessDeviceClient, InProcessServiceClient } from '../../lib/client/in-process';
import { ServiceClient } from '../../lib/client/service-client';
import type { DeviceConnection, DeviceTransport, ServiceConnection } from '../../lib/client/types';
import { NoRetry } from '../../lib/common/retry';
import type { DeviceMessage } from '../../lib/common/message';
import { rigForSuite, type Rig } from './rig';

type Kind = 'in-process' | DeviceTransport;
const KINDS: Kind[] = ['in-process', 'amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'];

describe('client contract: in-process and network clients behave alike', function () {
  this.timeout(30_000);
  let rig: Rig;
  rigForSuite((r) => (rig = r));

  for (const kind of KINDS) {
    describe(kind, () => {
      let device: DeviceConnection;
      let service: ServiceConnection;
      let deviceId: string;
      let n = 0;

      beforeEach(async () => {
        deviceId = `contract-${kind}-${++n}`;
        await rig.addDevice(deviceId);
        if (kind === 'in-process') {
          device = new InProcessDeviceClient(rig.hub, deviceId);
          service = new InProcessServiceClient(rig.hub);
        } else {
          device = DeviceClient.fromConnectionString(await rig.deviceConnectionString(deviceId, kind), {
            transport: kind,
            ca: rig.tls.cert,
            retryPolicy: new NoRetry(),
            httpPollIntervalMs: 50,
          });
          service = ServiceClient.fromConnectionString(rig.serviceConnectionString(), {
            ca: rig.tls.cert,
            retryPolicy: new NoRetry(),
            ports: { https: rig.ports.https },
          });
        }
        device.on('error', () => undefined);
        await service.open();
        await device.open();
      });
      afterEach(async () => {
        await device.close();
        await service.close();
      });

      it('delivers a message with its body and properties; complete gives Success feedback for its messageId', async () => {
        const got = new Promise<DeviceMessage>((resolve) => device.on('message', resolve));
        const { messageId } = await service.send(deviceId, Buffer.from('hello'), { ack: 'full', properties: { room: 'hall' } });
        const m = await got;
        assert.deepEqual([m.messageId, m.body.toString(), m.properties.room], [messageId, 'hello', 'hall']);
        // Over MQTT the completion is a PUBACK with no answer: wait until the hub has applied it.
        const completed = new Promise<void>((resolve) => {
          const on = (e: { messageId: string }): void => {
            if (e.messageId !== messageId) return;
            rig.hub.events.off('completed', on);
            resolve();
          };
          rig.hub.events.on('completed', on);
        });
        await device.complete(m);
        await completed;
        await rig.hub.flushFeedback();
        for (;;) {
          const batch = await service.receiveFeedback({ timeoutMs: 5_000 });
          assert.ok(batch, 'a feedback batch arrives');
          await batch.complete();
          const mine = batch.records.find((r) => r.originalMessageId === messageId);
          if (mine) {
            assert.equal(mine.statusCode, 'Success');
            break;
          }
        }
      });

      it('a settlement after the lock is gone fails 412002', async () => {
        const got = new Promise<DeviceMessage>((resolve) => device.on('message', resolve));
        await service.send(deviceId, Buffer.from('x'));
        const m = await got;
        await device.complete(m);
        await assert.rejects(device.complete(m), (e: { code?: number }) => e.code === 412002);
      });

      it('receive with nothing queued is null after its timeout; an abort rejects with AbortError', async () => {
        assert.equal(await device.receive({ timeoutMs: 200 }), null);
        const abort = new AbortController();
        const waiting = device.receive({ timeoutMs: 10_000, signal: abort.signal });
        abort.abort();
        await assert.rejects(waiting, (e: Error) => e.name === 'AbortError');
      });

      it('a device-to-cloud message reaches the hub with its properties', async () => {
        const seen = new Promise<{ deviceId: string; body: Buffer; properties: Record<string, string> }>((resolve) => {
          const on = (e: { deviceId: string; body: Buffer; properties: Record<string, string> }): void => {
            if (e.deviceId !== deviceId) return;
            rig.hub.events.off('deviceToCloud', on);
            resolve(e);
          };
          rig.hub.events.on('deviceToCloud', on);
        });
        await device.sendEvent(Buffer.from('telemetry'), { kind: 'reading' });
        const e = await seen;
        assert.equal(e.body.toString(), 'telemetry');
        assert.equal(e.properties.kind, 'reading');
      });
    });
  }
});

/**
 * Wire parity over AMQP (device side): what our DeviceClient and the official
 * azure-iot-device-amqp client put on the wire for "connect, put a token,
 * attach the C2D receiver, receive and complete" is recorded at the hub by a
 * test-only tap on rhea's server-side connections, then compared. The one
 * deliberate difference: our C2D receiver asks for rcv-settle-mode second
 * (so a lost lock comes back as 412002); the SDK settles in mode first.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { Client as SdkClient, type Message as SdkMessage } from 'azure-iot-device';
import { Amqp as SdkAmqp } from 'azure-iot-device-amqp';
import { DeviceClient } from '../../lib/client/device-client';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { rigForSuite, type Rig } from './rig';
import { tap, type Attach, type Recording } from './rhea-tap';

describe('wire parity with the official SDK (AMQP device)', function () {
  this.timeout(20_000);
  let rig: Rig;
  rigForSuite((r) => (rig = r));

  it('same CBS put-token fields and audience shape, same link addresses, accepted on complete', async () => {
    const ours: Recording = { attaches: [], cbs: [], outcomes: [] };
    const sdk: Recording = { attaches: [], cbs: [], outcomes: [] };

    let untap = tap(ours);
    try {
      const c = DeviceClient.fromConnectionString(await rig.deviceConnectionString('ap-ours', 'amqp'), {
        transport: 'amqp',
        ca: rig.tls.cert,
        retryPolicy: new NoRetry(),
      });
      await c.open();
      const got = new Promise<ReceivedMessage>((resolve) => c.on('message', resolve));
      await rig.hub.send('ap-ours', { body: Buffer.from('x') });
      const completed = once(rig.hub.events, 'completed');
      await c.complete(await got);
      await completed;
      await c.close();
    } finally {
      untap();
    }

    untap = tap(sdk);
    try {
      const s = SdkClient.fromConnectionString(await rig.deviceConnectionString('ap-sdk', 'amqp'), SdkAmqp);
      await s.setOptions({ ca: rig.tls.cert });
      const got = new Promise<SdkMessage>((resolve) => s.on('message', resolve));
      await s.open();
      const completed = once(rig.hub.events, 'completed');
      await rig.hub.send('ap-sdk', { body: Buffer.from('x') });
      await s.complete(await got);
      await completed;
      await s.close();
    } finally {
      untap();
    }

    const norm = (r: Recording, id: string): unknown => ({
      cbs: r.cbs.map((x) => ({
        ...x,
        name: String(x.name)
          .replace(`%2F${id}`, '%2F<id>')
          .replace(/localhost(%3A\d+)?/, 'localhost'),
      })),
      attaches: r.attaches
        .map((a) => ({ role: a.role, address: a.address.replace(id, '<id>') }))
        .sort((a, b) => (a.role + a.address).localeCompare(b.role + b.address)),
      outcomes: r.outcomes,
    });
    assert.deepEqual(norm(ours, 'ap-ours'), norm(sdk, 'ap-sdk'));
    assert.deepEqual(norm(ours, 'ap-ours'), {
      cbs: [
        { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'localhost%2Fdevices%2F<id>', to: '$cbs', replyTo: 'cbs', tokenIsSas: true },
      ],
      attaches: [
        { role: 'client-receiver', address: '/devices/<id>/messages/devicebound' },
        { role: 'client-receiver', address: '$cbs' },
        { role: 'client-sender', address: '$cbs' },
      ],
      outcomes: ['accepted'],
    });
    const c2d = (r: Recording): Attach | undefined => r.attaches.find((a) => a.address.endsWith('/messages/devicebound'));
    assert.equal(c2d(ours)?.rcvSettleMode, 1, 'ours: rcv-settle-mode second');
    assert.equal(c2d(sdk)?.rcvSettleMode, 0, 'SDK: rcv-settle-mode first');
  });
});

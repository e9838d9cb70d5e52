/**
 * The in-process twins on a Hub in the same process: the same contract as
 * the network clients (message events, polling, settlement with the hub's
 * codes, feedback iterator, registry), with no sockets.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { InProcessDeviceClient, InProcessServiceClient } from '../../lib/client/in-process';
import type { FeedbackBatchHandle } from '../../lib/client/types';
import { ManualClock } from '../../lib/common/clock';
import type { C2DError } from '../../lib/common/errors';
import type { ReceivedMessage } from '../../lib/common/message';
import { Hub } from '../../lib/hub/index';

describe('in-process clients', () => {
  let hub: Hub;
  let clock: ManualClock;
  let dev: InProcessDeviceClient;
  let svc: InProcessServiceClient;
  beforeEach(async () => {
    clock = new ManualClock();
    hub = await Hub.open({ clock });
    svc = new InProcessServiceClient(hub);
    await svc.open();
    await svc.createDevice({ deviceId: 'd1' });
    dev = new InProcessDeviceClient(hub, 'd1');
  });
  afterEach(async () => {
    await dev.close();
    await svc.close();
    await hub.close();
  });

  it('open reports connected; an unknown device fails 404001', async () => {
    const connected = once(dev, 'connected');
    await dev.open();
    await connected;
    const ghost = new InProcessDeviceClient(hub, 'ghost');
    ghost.on('disconnected', () => undefined);
    await assert.rejects(ghost.open(), (e: C2DError) => e.code === 404001);
  });

  it('send -> message event -> complete -> Success feedback, correlated by the generated messageId', async () => {
    await dev.open();
    const got = new Promise<ReceivedMessage>((resolve) => dev.on('message', resolve));
    const { messageId, enqueuedTimeUtc } = await svc.send('d1', Buffer.from('hi'), { ack: 'full', properties: { a: '1' } });
    assert.ok(enqueuedTimeUtc);
    const m = await got;
    assert.equal(m.messageId, messageId);
    assert.equal(m.properties.a, '1');
    await dev.complete(m);
    const it = svc.feedback()[Symbol.asyncIterator]();
    await hub.flushFeedback();
    const b = (await it.next()).value as FeedbackBatchHandle;
    assert.equal(b.records[0]?.originalMessageId, messageId);
    assert.equal(b.records[0]?.statusCode, 'Success');
    await b.complete();
  });

  it('receive() polls; abandon, reject, and 412002 after the lock expired', async () => {
    await dev.open();
    assert.equal(await dev.receive({ timeoutMs: 10 }), null);
    await svc.send('d1', Buffer.from('x'), { messageId: 'x' });
    const m1 = (await dev.receive({ timeoutMs: 1000 })) as ReceivedMessage;
    await dev.abandon(m1);
    const m2 = (await dev.receive({ timeoutMs: 1000 })) as ReceivedMessage;
    assert.equal(m2.deliveryCount, 1);
    clock.advance(hub.limits.lockTimeoutMs + 1);
    await assert.rejects(dev.complete(m2), (e: C2DError) => e.code === 412002);
    const m3 = (await dev.receive({ timeoutMs: 1000 })) as ReceivedMessage;
    await dev.reject(m3);
    assert.equal(hub.registry.getDevice('d1')?.cloudToDeviceMessageCount, 0);
  });

  it('send errors and registry calls carry the hub codes; purge counts', async () => {
    await assert.rejects(svc.send('nobody', Buffer.from('x')), (e: C2DError) => e.code === 404001);
    await svc.send('d1', Buffer.from('x'));
    assert.equal(await svc.purge('d1'), 1);
    assert.equal((await svc.getDevice('d1')).deviceId, 'd1');
    await assert.rejects(svc.getDevice('nope'), (e: C2DError) => e.code === 404001);
    assert.equal((await svc.listDevices()).length, 1);
  });
});

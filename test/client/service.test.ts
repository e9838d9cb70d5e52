/**
 * ServiceClient against the embedded hub over real sockets: send with
 * options and the hub's error codes, the feedback iterator with complete and
 * abandon, purge and the registry calls over HTTPS.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { ServiceClient } from '../../lib/client/service-client';
import type { FeedbackBatchHandle, ServiceTransport } from '../../lib/client/types';
import { C2DError } from '../../lib/common/errors';
import { ExponentialBackoffWithJitter, NoRetry } from '../../lib/common/retry';
import { generateKey } from '../../lib/common/sas';
import { rigForSuite, Rig } from './rig';

async function nextBatch(it: AsyncIterator<FeedbackBatchHandle>): Promise<FeedbackBatchHandle> {
  const r = await it.next();
  assert.equal(r.done, false);
  return r.value as FeedbackBatchHandle;
}

describe('ServiceClient (network)', function () {
  this.timeout(20_000);
  let rig: Rig;
  let svc: ServiceClient;
  rigForSuite((r) => (rig = r), { hub: { limits: { maxQueueDepth: 2, maxMessageBytes: 1024 } } });
  afterEach(async () => {
    await svc?.close();
  });

  function service(transport: ServiceTransport = 'amqp', keyName: 'iothubowner' | 'service' = 'iothubowner'): ServiceClient {
    svc = ServiceClient.fromConnectionString(rig.serviceConnectionString(keyName), {
      transport,
      ca: rig.tls.cert,
      retryPolicy: new NoRetry(),
      ports: { amqps: rig.ports.amqps, https: rig.ports.https },
    });
    return svc;
  }

  for (const transport of ['amqp', 'amqp-ws'] as const) {
    it(`${transport}: send resolves once committed, with the given or a generated messageId, and the options on the message`, async () => {
      await rig.addDevice(`s-${transport}`);
      const c = service(transport);
      await c.open();
      const r1 = await c.send(`s-${transport}`, Buffer.from('one'), {
        ack: 'full',
        ttlMs: 60_000,
        correlationId: 'c1',
        properties: { k: 'v' },
        contentType: 'text/plain',
      });
      assert.match(r1.messageId, /^[0-9a-f-]{36}$/);
      assert.equal(r1.deviceId, `s-${transport}`);
      const r2 = await c.send(`s-${transport}`, { body: Buffer.from('two'), messageId: 'given' });
      assert.equal(r2.messageId, 'given');
      const m = await rig.hub.receive(`s-${transport}`);
      assert.equal(m?.messageId, r1.messageId);
      assert.equal(m?.ack, 'full');
      assert.equal(m?.correlationId, 'c1');
      assert.equal(m?.properties.k, 'v');
      assert.equal(m?.contentType, 'text/plain');
      assert.ok(Math.abs((m?.expiryTimeUtc ?? 0) - (Date.now() + 60_000)) < 5000);
      await rig.hub.purge(`s-${transport}`);
    });
  }

  it('send errors carry IoT Hub codes: 404001 unknown device, 403004 queue full, 413001 too large', async () => {
    await rig.addDevice('full');
    const c = service();
    await c.open();
    await assert.rejects(c.send('nobody', Buffer.from('x')), (e: C2DError) => e instanceof C2DError && e.code === 404001);
    await c.send('full', Buffer.from('1'));
    await c.send('full', Buffer.from('2'));
    await assert.rejects(c.send('full', Buffer.from('3')), (e: C2DError) => e.code === 403004);
    await assert.rejects(c.send('full', Buffer.alloc(4096)), (e: C2DError) => e.code === 413001);
    // The connection survives refused sends.
    assert.equal(c.connected, true);
    assert.equal(await c.purge('full'), 2);
  });

  it('a throttled send (429001) is retried with back-off under the retry policy, same messageId', async () => {
    const throttled = await Rig.start({ hub: { limits: { maxSendsPerSecond: 1 } } });
    try {
      await throttled.addDevice('t1');
      const c = ServiceClient.fromConnectionString(throttled.serviceConnectionString(), {
        ca: throttled.tls.cert,
        ports: { amqps: throttled.ports.amqps, https: throttled.ports.https },
        retryPolicy: new ExponentialBackoffWithJitter({ initialDelayMs: 5, maxDelayMs: 20, throttleFactor: 2 }),
      });
      try {
        await c.open();
        await c.send('t1', Buffer.from('1'));
        const retries: { cause: C2DError; messageId: string }[] = [];
        // The hub's throttle window is on its ManualClock: the next second starts when the client backs off.
        c.on('send_retrying', (e: { cause: C2DError; messageId: string }) => {
          retries.push(e);
          throttled.clock.advance(1001);
        });
        const r = await c.send('t1', Buffer.from('2'), { messageId: 'second' });
        assert.equal(r.messageId, 'second');
        assert.equal(retries[0]?.cause.code, 429001);
        assert.equal(retries[0]?.messageId, 'second');
      } finally {
        await c.close();
      }
    } finally {
      await throttled.close();
    }
  });

  /** A feedback() iteration, and the id of a message to `deviceId` (ack positive) completed there: its Success record is flushed. */
  async function completedWithFeedback(deviceId: string): Promise<{ it: AsyncIterator<FeedbackBatchHandle>; messageId: string }> {
    await rig.addDevice(deviceId);
    const c = service();
    await c.open();
    const it = c.feedback()[Symbol.asyncIterator]();
    const { messageId } = await c.send(deviceId, Buffer.from('x'), { ack: 'positive' });
    const m = await rig.hub.receive(deviceId);
    await rig.hub.complete(deviceId, m?.lockToken as string);
    await rig.hub.flushFeedback();
    return { it, messageId };
  }

  it('feedback(): batches with records; abandon redelivers, complete removes', async () => {
    const { it, messageId } = await completedWithFeedback('fb');
    // Feedback is hub-wide: earlier tests' records (Purged) may share the batch.
    const b1 = await nextBatch(it);
    const record = b1.records.find((r) => r.originalMessageId === messageId);
    assert.equal(record?.statusCode, 'Success');
    assert.equal(record?.deviceId, 'fb');
    await b1.abandon();
    const b2 = await nextBatch(it);
    assert.ok(b2.records.some((r) => r.originalMessageId === messageId));
    await b2.complete();
    assert.equal(rig.hub.stats().feedbackBatches, 0);
  });

  it('feedback(): a batch held past its lock fails its settlement with 412002 at once, and comes again', async () => {
    const { it, messageId } = await completedWithFeedback('fb-lost');
    const b1 = await nextBatch(it);
    assert.ok(b1.records.some((r) => r.originalMessageId === messageId));
    const again = nextBatch(it);
    rig.clock.advance(rig.hub.limits.feedbackLockMs + 1);
    const b2 = await again;
    assert.ok(b2.records.some((r) => r.originalMessageId === messageId));
    // The hub settled b1 with 412002 when its lock ended: no answer is awaited (30 s) for it.
    await assert.rejects(b1.complete(), (e: C2DError) => e.code === 412002);
    await b2.complete();
    assert.equal(rig.hub.stats().feedbackBatches, 0);
  });

  it('purge and registry calls over HTTPS (create, get, update, list, delete) with IoT Hub errors', async () => {
    const c = service();
    const d = await c.createDevice({ deviceId: 'reg1' });
    assert.equal(d.deviceId, 'reg1');
    assert.ok(d.authentication.symmetricKey.primaryKey);
    await assert.rejects(c.createDevice({ deviceId: 'reg1' }), (e: C2DError) => e.code === 409001);
    assert.equal((await c.getDevice('reg1')).etag, d.etag);
    const u = await c.updateDevice({ deviceId: 'reg1', status: 'disabled' }, d.etag);
    assert.equal(u.status, 'disabled');
    await assert.rejects(c.updateDevice({ deviceId: 'reg1' }, d.etag), (e: C2DError) => e.code === 412001);
    assert.ok((await c.listDevices()).some((x) => x.deviceId === 'reg1'));
    await c.updateDevice({ deviceId: 'reg1', status: 'enabled' });
    await rig.hub.send('reg1', { body: Buffer.from('a') });
    assert.equal(await c.purge('reg1'), 1);
    await c.deleteDevice('reg1');
    await assert.rejects(c.getDevice('reg1'), (e: C2DError) => e.code === 404001);
  });

  it('a policy without the right gets 401 on registry calls; a wrong key: disconnected bad-credential, no retry', async () => {
    const c = service('amqp', 'service');
    await assert.rejects(c.listDevices(), (e: C2DError) => e.httpStatus === 401);
    await c.close();
    svc = ServiceClient.fromConnectionString(rig.serviceConnectionString().replace(/SharedAccessKey=[^;]+/, `SharedAccessKey=${generateKey()}`), {
      ca: rig.tls.cert,
      ports: { amqps: rig.ports.amqps, https: rig.ports.https },
    });
    let retrying = 0;
    svc.on('disconnected_retrying', () => retrying++);
    const disconnected = once(svc, 'disconnected');
    await assert.rejects(svc.open(), (e: C2DError) => e.code === 401003);
    assert.equal(((await disconnected)[0] as { reason: string }).reason, 'bad-credential');
    assert.equal(retrying, 0);
  });
});

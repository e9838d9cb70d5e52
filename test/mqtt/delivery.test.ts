import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { MqttClient } from 'mqtt';
import { parseDeviceBoundTopic } from '../../lib/common/codec/mqtt';
import { MqttHarness, filterOf, nextMessage } from './harness';

/** Makes mqtt.js hold back the PUBACK of every message until `release()` is called. */
function withholdPubacks(client: MqttClient): { seen: Promise<{ topic: string; payload: Buffer }>; release(): void } {
  let release!: () => void;
  const seen = new Promise<{ topic: string; payload: Buffer }>((resolveSeen) => {
    const original = client.handleMessage;
    client.handleMessage = (packet, callback) => {
      resolveSeen({ topic: packet.topic, payload: packet.payload as Buffer });
      release = () => {
        client.handleMessage = original;
        callback();
      };
    };
  });
  return { seen, release: () => release() };
}

describe('MQTT C2D delivery against the real hub (c2d-semantics §1.3, §3.1, §5.2)', () => {
  let h: MqttHarness;
  beforeEach(async () => {
    h = await MqttHarness.start();
  });
  afterEach(async () => {
    await h.close();
  });

  /** Whether nothing reaches `c` (and nothing is locked) within a full round trip on it: a D2C publish and its PUBACK. */
  async function deliversNothing(c: MqttClient): Promise<boolean> {
    let early = false;
    c.once('message', () => (early = true));
    await c.publishAsync('devices/dev1/messages/events/', 'ping', { qos: 1 });
    return !early && h.hub.stats().locked === 0;
  }

  it('delivers a message with every property on the device-bound topic, QoS 1', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    const got = nextMessage(c);
    const expiry = h.clock.now() + 10 * 60_000;
    await h.hub.send(d.id, {
      body: Buffer.from('hello'),
      messageId: 'm-1',
      correlationId: 'c:1',
      userId: 'backend',
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      expiryTimeUtc: expiry,
      ack: 'full',
      properties: { 'a&b': 'x/y&z=% ~', empty: '' },
    });
    const { topic, payload } = await got;
    assert.equal(payload.toString(), 'hello');
    assert.equal(topic.split('/').length, 5, 'the bag is the 5th segment');
    assert.deepEqual(parseDeviceBoundTopic(topic), {
      deviceId: 'dev1',
      entries: [
        ['$.mid', 'm-1'],
        ['$.to', '/devices/dev1/messages/devicebound'],
        ['$.exp', new Date(expiry).toISOString()],
        ['$.cid', 'c:1'],
        ['$.uid', 'backend'],
        ['$.ct', 'application/json'],
        ['$.ce', 'utf-8'],
        ['iothub-ack', 'full'],
        ['a&b', 'x/y&z=% ~'],
        ['empty', ''],
      ],
      message: {
        messageId: 'm-1',
        to: '/devices/dev1/messages/devicebound',
        expiryTimeUtc: expiry,
        correlationId: 'c:1',
        userId: 'backend',
        contentType: 'application/json',
        contentEncoding: 'utf-8',
        ack: 'full',
        properties: { 'a&b': 'x/y&z=% ~', empty: '' },
      },
    });
  });

  it('PUBACK completes: the queue empties and feedback Success is produced for ack=full', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    const completed = once(h.hub.events, 'completed');
    await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-ack', ack: 'full' });
    const [e] = await completed;
    assert.equal(e.messageId, 'm-ack');
    assert.equal(h.hub.registry.getDevice(d.id)?.cloudToDeviceMessageCount, 0);
    await h.hub.flushFeedback();
    const batch = await h.hub.receiveFeedback();
    assert.deepEqual(
      batch?.records.map((r) => [r.originalMessageId, r.deviceId, r.statusCode]),
      [['m-ack', 'dev1', 'Success']],
    );
  });

  it('delivers many messages in order through the in-flight window, each completed once', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    const ids: string[] = [];
    const allDone = new Promise<void>((resolve) => {
      let n = 0;
      h.hub.events.on('completed', () => {
        if (++n === 30) resolve();
      });
    });
    c.on('message', (topic) => ids.push(parseDeviceBoundTopic(topic)!.message.messageId!));
    for (let i = 0; i < 30; i++) await h.hub.send(d.id, { body: Buffer.from(String(i)), messageId: `m${i}` });
    await allDone;
    assert.deepEqual(
      ids,
      Array.from({ length: 30 }, (_, i) => `m${i}`),
    );
    assert.equal(h.hub.stats().queued + h.hub.stats().locked, 0);
  });

  it('a device that never PUBACKs gets the message again after the lock expires; a late PUBACK is ignored', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    const held = withholdPubacks(c);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    const delivered = once(h.hub.events, 'delivered');
    await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-lock' });
    await held.seen;
    const [first] = await delivered;

    const redelivered = once(h.hub.events, 'delivered');
    h.clock.advance(h.hub.limits.lockTimeoutMs);
    const [second] = await redelivered;
    assert.equal(second.messageId, 'm-lock');
    assert.notEqual(second.lockToken, first.lockToken);

    // The late PUBACK of the first copy settles nothing; the second copy's PUBACK completes.
    const completed = once(h.hub.events, 'completed');
    const again = nextMessage(c);
    held.release();
    assert.equal(parseDeviceBoundTopic((await again).topic)?.message.messageId, 'm-lock');
    await completed;
    assert.equal(h.hub.registry.getDevice(d.id)?.cloudToDeviceMessageCount, 0);
  });

  it('an unacknowledged message is delivered again when the device reconnects', async () => {
    const d = await h.addDevice('dev1');
    const c1 = await h.connect(d, { clean: true });
    const held = withholdPubacks(c1);
    await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
    await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-re' });
    await held.seen;
    const gone = once(h.hub.events, 'deviceDisconnected');
    c1.end(true);
    await gone;
    assert.equal(h.hub.stats().locked, 0, 'the lock went back to Enqueued');

    const c2 = await h.connect(d, { clean: true });
    const got = nextMessage(c2);
    await c2.subscribeAsync(filterOf(d.id), { qos: 1 });
    assert.equal(parseDeviceBoundTopic((await got).topic)?.message.messageId, 'm-re');
  });

  it('clean=false: after DISCONNECT + CONNECT with a new token and no SUBSCRIBE, delivery resumes (SAS renewal)', async () => {
    const d = await h.addDevice('dev1');
    const c1 = await h.connect(d);
    await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
    await c1.endAsync();
    await h.hub.send(d.id, { body: Buffer.from('while away'), messageId: 'm-away' });
    h.clock.advance(60_000);
    const got = new Promise<Buffer>((resolve) => void h.connect(d, { password: d.token(7200), onMessage: (_t, payload) => resolve(payload) }));
    assert.equal((await got).toString(), 'while away');
  });

  it('clean=true: nothing is delivered until the device subscribes again', async () => {
    const d = await h.addDevice('dev1');
    const c1 = await h.connect(d, { clean: true });
    await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
    await c1.endAsync();
    await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-clean' });
    const c2 = await h.connect(d, { clean: true });
    assert.equal(await deliversNothing(c2), true);
    const got = nextMessage(c2);
    await c2.subscribeAsync(filterOf(d.id), { qos: 1 });
    assert.equal(parseDeviceBoundTopic((await got).topic)?.message.messageId, 'm-clean');
  });

  describe('clean=false session: what a reconnect without SUBSCRIBE restores', () => {
    it('a second SUBSCRIBE at QoS 0 replaces the first: the session restores one subscription, at QoS 0', async () => {
      const d = await h.addDevice('dev1');
      const c1 = await h.connect(d);
      await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
      await c1.subscribeAsync(filterOf(d.id), { qos: 0 });
      await c1.endAsync();
      const c2 = await h.connect(d);
      const qos = new Promise<number>((resolve) => c2.once('message', (_t, _p, packet) => resolve(packet.qos)));
      const completed = once(h.hub.events, 'completed');
      await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-q0-restored' });
      assert.equal(await qos, 0);
      await completed;
      assert.equal(h.hub.stats().locked, 0);
    });

    it('after UNSUBSCRIBE, a reconnect restores nothing until the device subscribes again', async () => {
      const d = await h.addDevice('dev1');
      const c1 = await h.connect(d);
      await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
      await c1.unsubscribeAsync(filterOf(d.id));
      await c1.endAsync();
      await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-unsub' });
      const c2 = await h.connect(d);
      assert.equal(await deliversNothing(c2), true);
      const got = nextMessage(c2);
      await c2.subscribeAsync(filterOf(d.id), { qos: 1 });
      assert.equal(parseDeviceBoundTopic((await got).topic)?.message.messageId, 'm-unsub');
    });

    it('a clean=true CONNECT in between ends the session: the next clean=false CONNECT restores nothing', async () => {
      const d = await h.addDevice('dev1');
      const c1 = await h.connect(d);
      await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
      await c1.endAsync();
      const c2 = await h.connect(d, { clean: true });
      await c2.endAsync();
      await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-ended' });
      const c3 = await h.connect(d);
      assert.equal(await deliversNothing(c3), true);
    });
  });

  it('QoS 0 subscription: delivered at QoS 0 and completed as it is sent', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    await c.subscribeAsync(filterOf(d.id), { qos: 0 });
    const completed = once(h.hub.events, 'completed');
    const got = new Promise<number>((resolve) => c.once('message', (_t, _p, packet) => resolve(packet.qos)));
    await h.hub.send(d.id, { body: Buffer.from('x'), messageId: 'm-q0' });
    assert.equal(await got, 0);
    await completed;
  });
});

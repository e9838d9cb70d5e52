import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { createSas, generateKey, SAS_CLOCK_SKEW_MS } from '../../lib/common/sas';
import { buildMqttUsername, parseDeviceBoundTopic } from '../../lib/common/codec/mqtt';
import { MqttHarness, closed, filterOf, nextMessage } from './harness';

const NOT_AUTHORIZED = 5;
const BAD_USERNAME_OR_PASSWORD = 4;
const IDENTIFIER_REJECTED = 2;

describe('MQTT CONNECT: who may connect (c2d-semantics §5.2, §6)', () => {
  let h: MqttHarness;
  beforeEach(async () => {
    h = await MqttHarness.start();
  });
  afterEach(async () => {
    await h.close();
  });

  it('refuses a token signed with a wrong key: CONNACK not authorized', async () => {
    const d = await h.addDevice('dev1');
    const forged = createSas('localhost/devices/dev1', generateKey(), Math.floor(h.clock.now() / 1000) + 3600);
    assert.equal(await h.connectRefusal(d, { password: forged }), NOT_AUTHORIZED);
  });

  it('refuses an expired token (past se plus clock skew)', async () => {
    const d = await h.addDevice('dev1');
    const token = d.token(60);
    h.clock.advance(60_000 + SAS_CLOCK_SKEW_MS + 1000);
    assert.equal(await h.connectRefusal(d, { password: token }), NOT_AUTHORIZED);
  });

  it('refuses a disabled device', async () => {
    const d = await h.addDevice('dev1');
    await h.hub.registry.updateDevice({ deviceId: 'dev1', status: 'disabled', authentication: { symmetricKey: { primaryKey: d.key } } });
    assert.equal(await h.connectRefusal(d), NOT_AUTHORIZED);
  });

  it("refuses another device's token, a username naming another device, no password, and module ids", async () => {
    const a = await h.addDevice('a');
    const b = await h.addDevice('b');
    assert.equal(await h.connectRefusal(a, { password: b.token() }), NOT_AUTHORIZED);
    assert.equal(await h.connectRefusal(a, { username: buildMqttUsername({ host: 'localhost', deviceId: 'b' }) }), BAD_USERNAME_OR_PASSWORD);
    assert.equal(await h.connectRefusal(a, { password: '' }), BAD_USERNAME_OR_PASSWORD);
    assert.equal(await h.connectRefusal(a, { clientId: 'a/m1', username: 'localhost/a/m1/?api-version=2021-04-12' }), IDENTIFIER_REJECTED);
  });

  it('disconnects the client when its SAS token expires (401003), and the device may reconnect with a new one', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d, { password: d.token(120) });
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    const gone = closed(c);
    const disconnected = once(h.hub.events, 'deviceDisconnected');
    h.clock.advance(119_000);
    assert.equal(c.connected, true, 'still valid before expiry');
    h.clock.advance(1000 + SAS_CLOCK_SKEW_MS);
    await gone;
    await disconnected;
    assert.ok(h.diagnostics.some((m) => m.includes('401003')));

    const c2 = await h.connect(d, { password: d.token(3600) });
    const got = nextMessage(c2);
    await h.hub.send(d.id, { body: Buffer.from('after renewal') });
    assert.equal((await got).payload.toString(), 'after renewal');
  });
});

describe('MQTT connections: one per device, topics per device, bad bytes', () => {
  let h: MqttHarness;
  beforeEach(async () => {
    h = await MqttHarness.start();
  });
  afterEach(async () => {
    await h.close();
  });

  it("refuses device A's subscription to B's topic and A keeps working", async () => {
    const a = await h.addDevice('a');
    await h.addDevice('b');
    const c = await h.connect(a);
    await assert.rejects(c.subscribeAsync(filterOf('b'), { qos: 1 }));
    await h.hub.send('b', { body: Buffer.from('for b') });
    const got = nextMessage(c);
    await c.subscribeAsync(filterOf('a'), { qos: 1 });
    await h.hub.send('a', { body: Buffer.from('for a') });
    const m = await got;
    assert.equal(parseDeviceBoundTopic(m.topic)?.deviceId, 'a');
    assert.equal(m.payload.toString(), 'for a');
    assert.equal(h.hub.registry.getDevice('b')?.cloudToDeviceMessageCount, 1, "b's message stays queued");
  });

  it('grants twin and method subscriptions failure (0x80) without breaking the connection', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    const refusal = (await c.subscribeAsync(['$iothub/twin/res/#', '$iothub/methods/POST/#'], { qos: 0 }).catch((e: unknown) => e)) as {
      packet?: { granted?: number[] };
    };
    assert.deepEqual(refusal.packet?.granted, [128, 128]);
    assert.equal(c.connected, true);
    const got = nextMessage(c);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    await h.hub.send(d.id, { body: Buffer.from('still here') });
    assert.equal((await got).payload.toString(), 'still here');
  });

  it('acknowledges and ignores twin and method publishes without breaking the connection', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    await c.publishAsync('$iothub/twin/GET/?$rid=1', '', { qos: 1 });
    await c.publishAsync('$iothub/twin/PATCH/properties/reported/?$rid=2', '{"a":1}', { qos: 0, retain: true });
    assert.equal(c.connected, true);
    const got = nextMessage(c);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    await h.hub.send(d.id, { body: Buffer.from('after twin') });
    assert.equal((await got).payload.toString(), 'after twin');
  });

  it('disabling or deleting a connected device disconnects it', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    await c.subscribeAsync(filterOf(d.id), { qos: 1 });
    const gone = closed(c);
    await h.hub.registry.updateDevice({ deviceId: 'dev1', status: 'disabled', authentication: { symmetricKey: { primaryKey: d.key } } });
    await gone;
    assert.equal(await h.connectRefusal(d), NOT_AUTHORIZED);

    const e = await h.addDevice('dev2');
    const c2 = await h.connect(e); // not subscribed
    const gone2 = closed(c2);
    await h.hub.registry.deleteDevice('dev2');
    await gone2;
  });

  it('a second CONNECT with the same client id kicks the first; the newest connection receives', async () => {
    const d = await h.addDevice('dev1');
    const c1 = await h.connect(d);
    await c1.subscribeAsync(filterOf(d.id), { qos: 1 });
    const kicked = closed(c1);
    const c2 = await h.connect(d);
    await kicked;
    const got = nextMessage(c2);
    await h.hub.send(d.id, { body: Buffer.from('to the newest') });
    assert.equal((await got).payload.toString(), 'to the newest');
    assert.equal(h.hub.registry.getDevice(d.id)?.connectionState, 'Connected');
  });

  it('surfaces a D2C publish as a hub event with its properties; QoS 2 closes the connection', async () => {
    const d = await h.addDevice('dev1');
    const c = await h.connect(d);
    const event = once(h.hub.events, 'deviceToCloud');
    await c.publishAsync('devices/dev1/messages/events/%24.ct=application%2Fjson&k=v%2F1', '{"t":21}', { qos: 1 });
    const [e] = await event;
    assert.equal(e.deviceId, 'dev1');
    assert.equal(e.body.toString(), '{"t":21}');
    assert.deepEqual(e.properties, { '$.ct': 'application/json', k: 'v/1' });

    const gone = closed(c);
    c.publish('devices/dev1/messages/events/', 'x', { qos: 2 });
    await gone;
  });

  it("closes a connection that publishes to another device's topic", async () => {
    await h.addDevice('b');
    const a = await h.connect(await h.addDevice('a'));
    const gone = closed(a);
    a.publish('devices/b/messages/events/', 'spoof', { qos: 1 });
    await gone;
  });

  it('malformed or oversized packets close that connection and leave others serving', async () => {
    const d = await h.addDevice('dev1');
    const good = await h.connect(d);
    await good.subscribeAsync(filterOf(d.id), { qos: 1 });

    for (const bytes of [
      Buffer.from([0x00, 0x00]), // packet type 0 is reserved
      Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]), // a CONNECT announcing 256 MB
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
    ]) {
      const raw = net.connect(h.port, '127.0.0.1');
      await once(raw, 'connect');
      raw.on('error', () => {});
      raw.write(bytes);
      await once(raw, 'close');
    }
    assert.ok(
      h.diagnostics.some((m) => m.includes('exceeds the 262144-byte limit')),
      'the size bound dropped the 256 MB CONNECT',
    );

    // A D2C message under the bound passes; one over it closes that connection.
    const other = await h.connect(await h.addDevice('big'));
    const event = once(h.hub.events, 'deviceToCloud');
    await other.publishAsync('devices/big/messages/events/', Buffer.alloc(200 * 1024), { qos: 1 });
    assert.equal((await event)[0].body.length, 200 * 1024);
    const gone = closed(other);
    other.publish('devices/big/messages/events/', Buffer.alloc(300 * 1024), { qos: 1 });
    await gone;

    const got = nextMessage(good);
    await h.hub.send(d.id, { body: Buffer.from('still serving') });
    assert.equal((await got).payload.toString(), 'still serving');
  });

  it('drops a connection that sends no CONNECT within the connect timeout', async () => {
    const quick = await MqttHarness.start({ connectTimeoutMs: 50 });
    try {
      const raw = net.connect(quick.port, '127.0.0.1');
      raw.on('error', () => {});
      await once(raw, 'close');
      assert.ok(
        quick.diagnostics.some((m) => m.includes('no CONNECT within 50 ms')),
        quick.diagnostics.join('; '),
      );
    } finally {
      await quick.close();
    }
  });
});

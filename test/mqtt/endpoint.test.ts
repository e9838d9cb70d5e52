/**
 * The MQTT endpoint's own rules, on hand-written packets (raw-device.ts): how
 * reads are parsed for many connections, the CONNECT rules a client library
 * would hide, the will, clean=false sessions, and closing one connection
 * (flush then close, or at once) as the hub and a fault injector do.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IConnackPacket, IPublishPacket, ISubackPacket } from 'mqtt-packet';
import { MqttHarness, filterOf, type TestDevice } from './harness';
import { RawDevice, heldPair } from './raw-device';

describe('MQTT endpoint (lib/hub/mqtt on mqtt-packet)', () => {
  let h: MqttHarness;
  beforeEach(async () => {
    h = await MqttHarness.start();
  });
  afterEach(async () => {
    await h.close();
  });

  /** A raw device past CONNECT (and SUBSCRIBE when `subscribe`), on TCP. */
  async function connected(d: TestDevice, subscribe = false): Promise<RawDevice> {
    const r = await RawDevice.tcp(h.port);
    r.send(RawDevice.connectPacket(d.id, d.token()));
    assert.equal(((await r.next('connack')) as IConnackPacket).returnCode, 0);
    if (subscribe) {
      r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filterOf(d.id), qos: 1 }] });
      assert.deepEqual(((await r.next('suback')) as ISubackPacket).granted, [1]);
    }
    return r;
  }

  describe('reads of many connections', () => {
    it('a packet split across reads, and several packets in one read, each reach the device that sent them', async () => {
      const a = await connected(await h.addDevice('a'));
      const b = await connected(await h.addDevice('b'));
      const subA = a.bytes({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: filterOf('a'), qos: 1 }] });
      // a's SUBSCRIBE arrives in three reads; b's packets arrive between them, two in one read.
      for (const [dev, bytes] of [
        [a, subA.subarray(0, 1)],
        [b, Buffer.concat([b.bytes({ cmd: 'pingreq' }), b.bytes({ cmd: 'subscribe', messageId: 9, subscriptions: [{ topic: filterOf('b'), qos: 0 }] })])],
        [a, subA.subarray(1, 6)],
        [b, b.bytes({ cmd: 'pingreq' })],
        [a, subA.subarray(6)],
      ] as const) {
        dev.send(bytes);
        await new Promise((r) => setImmediate(r)); // its own read on the hub's side
      }
      const sa = (await a.next('suback')) as ISubackPacket;
      const sb = (await b.next('suback')) as ISubackPacket;
      assert.deepEqual([sa.messageId, sa.granted], [7, [1]]);
      assert.deepEqual([sb.messageId, sb.granted], [9, [0]]);
      await b.next('pingresp');
      await b.next('pingresp');
      const got = a.next('publish');
      await h.hub.send('a', { body: Buffer.from('for a'), messageId: 'm-a' });
      assert.equal(((await got) as IPublishPacket).payload.toString(), 'for a');
    });

    it('a second CONNECT (here an MQTT 5 one) closes that connection only; the others are still read as MQTT 3.1.1', async () => {
      const a = await connected(await h.addDevice('a'));
      const b = await connected(await h.addDevice('b'));
      a.send(RawDevice.connectPacket('a', 'x', { protocolVersion: 5 }));
      await a.closed;
      assert.ok(
        h.diagnostics.some((m) => m.includes('unexpected CONNECT')),
        h.diagnostics.join('; '),
      );
      b.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: filterOf('b'), qos: 1 }] });
      assert.deepEqual(((await b.next('suback')) as ISubackPacket).granted, [1]);
      const got = b.next('publish');
      await h.hub.send('b', { body: Buffer.from('still 3.1.1'), properties: { k: 'v' } });
      assert.equal(((await got) as IPublishPacket).payload.toString(), 'still 3.1.1');
    });

    it('a malformed packet closes that connection only', async () => {
      const a = await connected(await h.addDevice('a'));
      const b = await connected(await h.addDevice('b'));
      a.send(Buffer.from([0x60, 0x02, 0x00, 0x01])); // PUBREL whose reserved flags are 0000, not 0010 (MQTT-3.6.1-1)
      await a.closed;
      assert.ok(
        h.diagnostics.some((m) => m.includes('malformed packet')),
        h.diagnostics.join('; '),
      );
      b.send({ cmd: 'pingreq' });
      await b.next('pingresp');
    });
  });

  describe('CONNECT', () => {
    for (const version of [3, 5] as const) {
      it(`refuses protocol level ${version} with CONNACK 1 (IoT Hub speaks MQTT 3.1.1)`, async () => {
        const d = await h.addDevice('dev1');
        const r = await RawDevice.tcp(h.port);
        r.send(RawDevice.connectPacket(d.id, d.token(), { protocolVersion: version, ...(version === 3 ? { protocolId: 'MQIsdp' } : {}) }));
        assert.equal(((await r.next('connack')) as IConnackPacket).returnCode, 1);
        await r.closed;
      });
    }

    it('closes a connection whose first packet is not CONNECT', async () => {
      const r = await RawDevice.tcp(h.port);
      r.send({ cmd: 'pingreq' });
      await r.closed;
      assert.equal(r.packets.length, 0);
      assert.ok(h.diagnostics.some((m) => m.includes('PINGREQ before CONNECT')));
    });

    it('answers sessionPresent: false for a new or clean session, true when a clean=false session resumes', async () => {
      const d = await h.addDevice('dev1');
      const present = async (clean: boolean): Promise<boolean | undefined> => {
        const r = await RawDevice.tcp(h.port);
        r.send(RawDevice.connectPacket(d.id, d.token(), { clean }));
        const c = (await r.next('connack')) as IConnackPacket;
        r.send({ cmd: 'disconnect' });
        await r.closed;
        return c.sessionPresent;
      };
      assert.equal(await present(false), false);
      assert.equal(await present(false), true);
      assert.equal(await present(true), false);
      assert.equal(await present(false), false, 'the clean=true CONNECT ended the session');
    });

    it('a device deleted while connected loses its clean=false session too', async () => {
      const d = await h.addDevice('dev1');
      const r = await connected(d, true);
      await h.hub.registry.deleteDevice(d.id);
      await r.closed;
      const again = await h.addDevice('dev1');
      const r2 = await RawDevice.tcp(h.port);
      r2.send(RawDevice.connectPacket(again.id, again.token()));
      assert.equal(((await r2.next('connack')) as IConnackPacket).sessionPresent, false);
    });
  });

  describe('the will', () => {
    const will = { topic: 'devices/dev1/messages/events/%24.ct=text%2Fplain', payload: Buffer.from('gone'), qos: 1 as const, retain: false };

    it('is sent as D2C when the connection ends without DISCONNECT', async () => {
      const d = await h.addDevice('dev1');
      const r = await RawDevice.tcp(h.port);
      r.send(RawDevice.connectPacket(d.id, d.token(), { will }));
      await r.next('connack');
      const d2c = once(h.hub.events, 'deviceToCloud');
      r.stream.destroy();
      const [e] = await d2c;
      assert.deepEqual([e.deviceId, e.body.toString(), e.properties], ['dev1', 'gone', { '$.ct': 'text/plain' }]);
    });

    it('is dropped on DISCONNECT', async () => {
      const d = await h.addDevice('dev1');
      const r = await RawDevice.tcp(h.port);
      r.send(RawDevice.connectPacket(d.id, d.token(), { will }));
      await r.next('connack');
      let sent = false;
      h.hub.events.on('deviceToCloud', () => (sent = true));
      const gone = once(h.hub.events, 'deviceDisconnected');
      r.send({ cmd: 'disconnect' });
      await gone;
      assert.equal(sent, false);
    });
  });

  describe("closing one device's connection (MqttServer.connectionOf)", () => {
    /** A device on a stream whose hub side holds what the hub writes until the device may read. */
    async function onHeldStream(): Promise<{ device: RawDevice; setFlowing(on: boolean): void }> {
      const d = await h.addDevice('dev1');
      const pair = heldPair();
      h.server.handle(pair.hubSide);
      const device = new RawDevice(pair.deviceSide);
      device.send(RawDevice.connectPacket(d.id, d.token()));
      await device.next('connack');
      device.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filterOf(d.id), qos: 1 }] });
      await device.next('suback');
      return { device, setFlowing: pair.setFlowing };
    }

    /** Sends `n` messages and resolves once the hub has written them all (each locked to the connection). */
    async function sendWritten(n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        const delivered = once(h.hub.events, 'delivered');
        await h.hub.send('dev1', { body: Buffer.from(`m${i}`) });
        await delivered;
      }
    }

    it('end() flushes what was written, then closes: the device gets every PUBLISH, then the end of the stream', async () => {
      const { device, setFlowing } = await onHeldStream();
      setFlowing(false);
      await sendWritten(3);
      const link = h.server.connectionOf('dev1');
      assert.ok(link);
      const ended = link.end('test');
      setFlowing(true);
      await once(device.stream, 'end');
      assert.equal(device.packets.filter((p) => p.cmd === 'publish').length, 3);
      device.stream.end();
      await ended;
      assert.equal(h.server.connectionOf('dev1'), undefined);
      assert.equal(h.hub.stats().locked, 0, 'no PUBACK came: the locks went back to the queue');
    });

    it('fault ShutDownMqtt is end(): the device gets every PUBLISH written before it, then the end of the stream', async () => {
      const { device, setFlowing } = await onHeldStream();
      setFlowing(false);
      await sendWritten(3);
      h.hub.injectFault('dev1', { type: 'ShutDownMqtt' });
      h.clock.advance(0);
      setFlowing(true);
      await once(device.stream, 'end');
      assert.equal(device.packets.filter((p) => p.cmd === 'publish').length, 3);
      device.stream.end();
      await device.closed;
      assert.equal(h.hub.stats().locked, 0);
    });

    it('fault KillTcp is destroy(): nothing more reaches the device, no end of stream, its locks go back to the queue', async () => {
      const { device, setFlowing } = await onHeldStream();
      setFlowing(false);
      await sendWritten(3);
      let ended = false;
      device.stream.on('end', () => (ended = true));
      const performed = new Promise<void>((resolve) => h.hub.events.on('fault', (f: { phase: string }) => f.phase === 'performed' && resolve()));
      h.hub.injectFault('dev1', { type: 'KillTcp' });
      h.clock.advance(0);
      await performed;
      setFlowing(true);
      await device.closed;
      assert.equal(device.packets.filter((p) => p.cmd === 'publish').length, 0);
      assert.equal(ended, false, 'no FIN: the socket was destroyed');
      assert.equal(h.hub.queueOf('dev1')?.messages.length, 3);
    });

    it('destroy() closes at once: what the device had not taken is dropped, its locks go back to the queue', async () => {
      const { device, setFlowing } = await onHeldStream();
      setFlowing(false);
      await sendWritten(3);
      const gone = once(h.hub.events, 'deviceDisconnected');
      h.server.connectionOf('dev1')!.destroy('test');
      const [e] = await gone;
      assert.equal(e.reason, 'test');
      await device.closed;
      assert.equal(device.packets.filter((p) => p.cmd === 'publish').length, 0);
      assert.equal(h.hub.stats().locked, 0);
      assert.equal(h.hub.queueOf('dev1')?.messages.length, 3);
    });
  });
});

/**
 * Slow and stuck peers on a real EmbeddedHub:
 * - one that connects and sends nothing (raw TCP on every port, TLS with no
 *   protocol bytes): dropped after the auth/handshake timeout;
 * - devices that never read their socket (AMQP, MQTT): what the hub holds for
 *   them stays within the link credit / in-flight window, and they are cut by
 *   the AMQP idle-time-out or the MQTT keep-alive;
 * - a device that never settles: its lock expires and the message comes again;
 * - a feedback receiver that never settles: the batch comes again after its lock.
 * Short timeouts are set on the hub so the test waits on events, not on 30 s.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import * as tls from 'node:tls';
import type { Connection, EventContext } from 'rhea';
import { ManualClock } from '../../lib/common/clock';
import { buildMqttUsername } from '../../lib/common/codec/mqtt';
import { WireRig } from '../security/wire';

const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
function packet(type: number, body: Buffer): Buffer {
  const len: number[] = [];
  let n = body.length;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), body]);
}
/** CONNECT (clean=false, user name and password, `keepAliveS`) then SUBSCRIBE to the device's C2D topic at QoS 1. */
function mqttConnectAndSubscribe(deviceId: string, password: string, keepAliveS: number): Buffer {
  const connect = packet(
    0x10,
    Buffer.concat([
      str('MQTT'),
      Buffer.from([4, 0xc0, 0, keepAliveS]),
      str(deviceId),
      str(buildMqttUsername({ host: 'localhost', deviceId, params: {} })),
      str(password),
    ]),
  );
  const subscribe = packet(0x82, Buffer.concat([Buffer.from([0, 1]), str(`devices/${deviceId}/messages/devicebound/#`), Buffer.from([1])]));
  return Buffer.concat([connect, subscribe]);
}

function closed(s: net.Socket): Promise<void> {
  return s.destroyed && s.closed ? Promise.resolve() : once(s, 'close').then(() => undefined);
}

describe('slow and stuck peers', function () {
  this.timeout(20_000);

  describe('on the real clock, with 300 ms auth and AMQP idle timeouts', () => {
    let rig: WireRig;
    before(async () => {
      rig = await WireRig.start({}, { authTimeoutMs: 300, amqpIdleTimeoutMs: 300 });
    });
    after(() => rig.close());

    it('a peer that connects and sends nothing is dropped on every port, before and after TLS', async () => {
      const raw = await Promise.all([rig.ports.amqps, rig.ports.mqtts, rig.ports.https].map((p) => rig.rawSocket(p)));
      const secure = [rig.ports.amqps, rig.ports.mqtts, rig.ports.https].map((port) => {
        const s = tls.connect({ host: '127.0.0.1', port, ca: rig.ca, servername: 'localhost' });
        s.on('error', () => undefined);
        return s;
      });
      await Promise.all([...raw, ...secure].map(closed));
      assert.equal(await rig.connectionsSettled(), 0);
    });

    it('an AMQP device that stops reading and sending holds at most its credit, then is cut by the idle timeout', async () => {
      await rig.addDevice('stuck-amqp');
      const c = await rig.amqp();
      assert.equal((await c.putToken(rig.deviceToken('stuck-amqp'), 'localhost/devices/stuck-amqp')).status, 200);
      const r = await c.attachReceiver('/devices/stuck-amqp/messages/devicebound', { credit_window: 0 });
      r.add_credit(5);
      // Stuck: no more frames out (not even heartbeats), nothing read.
      const conn = c.conn as Connection & { _write_frame: () => void; socket?: net.Socket };
      conn._write_frame = () => undefined;
      conn.socket?.pause();
      const gone = new Promise<{ reason?: string }>((resolve) => rig.hub.hub.events.once('deviceDisconnected', resolve));
      for (let i = 0; i < 20; i++) await rig.hub.hub.send('stuck-amqp', { body: Buffer.alloc(60 * 1024) });
      assert.ok(rig.hub.hub.stats().locked <= 5, `locked ${rig.hub.hub.stats().locked} > credit 5`);
      await gone;
      conn.socket?.destroy(); // rhea does not notice a destroyed socket: WireRig.close() skips it
      assert.equal(rig.hub.hub.stats().locked, 0, 'its locks went back to the queue');
      assert.equal(rig.hub.hub.queueOf('stuck-amqp')?.messages.length, 20, 'nothing lost');
    });

    it('an MQTT device that never reads holds at most the in-flight window, then is cut by its keep-alive', async () => {
      await rig.addDevice('stuck-mqtt');
      const s = tls.connect({ host: '127.0.0.1', port: rig.ports.mqtts, ca: rig.ca, servername: 'localhost' });
      s.on('error', () => undefined);
      await once(s, 'secureConnect');
      const connected = new Promise((resolve) => rig.hub.hub.events.once('deviceConnected', resolve));
      s.write(mqttConnectAndSubscribe('stuck-mqtt', rig.deviceToken('stuck-mqtt'), 1));
      await connected;
      s.pause();
      const gone = new Promise((resolve) => rig.hub.hub.events.once('deviceDisconnected', resolve));
      for (let i = 0; i < 20; i++) await rig.hub.hub.send('stuck-mqtt', { body: Buffer.alloc(60 * 1024) });
      assert.ok(rig.hub.hub.stats().locked <= 8, `locked ${rig.hub.hub.stats().locked} > window 8`);
      await gone; // 1.5 x keep-alive without a packet
      s.destroy();
      assert.equal(rig.hub.hub.stats().locked, 0);
      assert.equal(rig.hub.hub.queueOf('stuck-mqtt')?.messages.length, 20);
    });
  });

  describe('on a manual clock', () => {
    let rig: WireRig;
    let clock: ManualClock;
    before(async () => {
      clock = new ManualClock(Date.now());
      rig = await WireRig.start({}, { clock });
    });
    after(() => rig.close());

    it('a device that never settles gets the message again when its lock expires', async () => {
      await rig.addDevice('lazy');
      const c = await rig.mqtt('lazy', rig.deviceToken('lazy'));
      assert.ok(!('refused' in c));
      c.handleMessage = (_p, cb) => cb(new Error('never settles')); // mqtt.js sends no PUBACK then
      const ids: string[] = [];
      const twice = new Promise<void>((resolve) =>
        c.on('message', (topic: string) => {
          ids.push(/%24\.mid=([^&]+)/.exec(topic)?.[1] ?? '?');
          if (ids.length === 2) resolve();
        }),
      );
      await c.subscribeAsync('devices/lazy/messages/devicebound/#', { qos: 1 });
      const first = new Promise((resolve) => rig.hub.hub.events.once('delivered', resolve));
      await rig.hub.hub.send('lazy', { body: Buffer.from('settle me'), messageId: 'lazy-1' });
      await first;
      clock.advance(rig.hub.hub.limits.lockTimeoutMs + 1);
      await twice;
      // Exactly once more: the expiry frees the connection's slot at once, and that must not
      // hand the message out twice (engine fix in state.applyQueue).
      assert.deepEqual(ids, ['lazy-1', 'lazy-1']);
      assert.equal(rig.hub.hub.stats().locked, 1);
      c.end(true);
    });

    it('a feedback receiver that never settles gets the batch again after the feedback lock', async () => {
      await rig.addDevice('fb');
      const svc = await rig.amqp();
      assert.equal((await svc.putToken(rig.policyToken('service'), 'localhost')).status, 200);
      const r = await svc.attachReceiver('/messages/servicebound/feedback', { credit_window: 0 });
      const batches: string[] = [];
      const two = new Promise<void>((resolve) =>
        r.on('message', (ctx: EventContext) => {
          batches.push(String(ctx.message?.message_id ?? ctx.delivery?.id));
          if (batches.length === 2) resolve();
        }),
      );
      r.add_credit(10);
      await rig.hub.hub.send('fb', { body: Buffer.from('x'), ack: 'full' });
      const m = await rig.hub.hub.receive('fb');
      await rig.hub.hub.complete('fb', m?.lockToken as string);
      await rig.hub.hub.flushFeedback();
      clock.advance(rig.hub.hub.limits.feedbackLockMs + 1);
      await two;
      assert.equal(batches.length, 2, 'the unsettled batch came again');
      assert.equal(rig.hub.hub.stats().feedbackBatches, 1);
    });
  });
});

import assert from 'node:assert/strict';
import { MqttPacketSizeScanner } from '../../lib/hub/mqtt/packet-size-guard';
import { grantSubscription, d2cProperties, MAX_SUBSCRIPTIONS } from '../../lib/hub/mqtt/authorize';

/** A fixed header for a packet with `remaining` bytes after it. */
function header(type: number, remaining: number): Buffer {
  const bytes = [type];
  do {
    let b = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) b |= 0x80;
    bytes.push(b);
  } while (remaining > 0);
  return Buffer.from(bytes);
}

describe('MQTT packet size bound (WIRE_LIMITS.mqttMaxPacketBytes)', () => {
  it('lets packets up to the limit through, split at any byte', () => {
    const stream = Buffer.concat([header(0x30, 200), Buffer.alloc(200), header(0xc0, 0), header(0x30, 90), Buffer.alloc(90)]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const s = new MqttPacketSizeScanner(203);
      assert.equal(s.feed(stream.subarray(0, cut)), undefined);
      assert.equal(s.feed(stream.subarray(cut)), undefined, `cut at ${cut}`);
    }
  });

  it('trips on a header announcing more than the limit, before the body arrives', () => {
    const s = new MqttPacketSizeScanner(256 * 1024);
    assert.equal(s.feed(Buffer.concat([header(0xc0, 0), header(0x30, 10), Buffer.alloc(10)])), undefined);
    assert.match(s.feed(header(0x30, 200 * 1024 * 1024)) ?? '', /exceeds/);
  });

  it('trips on a remaining length longer than four bytes', () => {
    assert.match(new MqttPacketSizeScanner(1e9).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x7f])) ?? '', /malformed/);
  });
});

describe('MQTT subscriptions: only devices/{itsId}/messages/devicebound/#', () => {
  const none = new Map<string, number>();
  it('grants its own filter, QoS 2 as 1, QoS 0 as 0', () => {
    assert.equal(grantSubscription('a', { topic: 'devices/a/messages/devicebound/#', qos: 2 }, none), 1);
    assert.equal(grantSubscription('a', { topic: 'devices/a/messages/devicebound/#', qos: 1 }, none), 1);
    assert.equal(grantSubscription('a', { topic: 'devices/a/messages/devicebound/#', qos: 0 }, none), 0);
  });

  it("refuses another device's filter, twin and method topics, and wildcards", () => {
    for (const topic of [
      'devices/b/messages/devicebound/#',
      '$iothub/twin/res/#',
      '$iothub/methods/POST/#',
      '#',
      'devices/+/messages/devicebound/#',
      'devices/a/messages/devicebound/x',
    ]) {
      assert.equal(grantSubscription('a', { topic, qos: 1 }, none), null, topic);
    }
  });

  it(`refuses a new filter past ${MAX_SUBSCRIPTIONS} subscriptions`, () => {
    const full = new Map(Array.from({ length: MAX_SUBSCRIPTIONS }, (_, i) => [`x/${i}`, 0]));
    assert.equal(grantSubscription('a', { topic: 'devices/a/messages/devicebound/#', qos: 1 }, full), null);
  });

  it('reads D2C properties, system keys as written', () => {
    assert.deepEqual(
      d2cProperties([
        ['$.ct', 'application/json'],
        ['k', null],
        ['__proto__', 'x'],
      ]),
      JSON.parse('{"$.ct":"application/json","k":"","__proto__":"x"}'),
    );
  });
});

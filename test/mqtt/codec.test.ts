import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MQTT_SYSTEM_KEYS,
  buildMqttUsername,
  deviceBoundFilter,
  deviceBoundTopic,
  deviceToCloudTopic,
  encodePropertyBag,
  formatExpiry,
  parseDeviceBoundTopic,
  parseDeviceToCloudTopic,
  parseMqttUsername,
  parsePropertyBag,
  type BagEntry,
} from '../../lib/common/codec/mqtt';
import { C2DError } from '../../lib/common/errors';

describe('MQTT codec: the device-bound topic (c2d-semantics §3.1)', () => {
  const expiry = Date.UTC(2026, 0, 1, 1, 0, 0);

  it('writes system keys ($ as %24) in order, then iothub-ack, then application properties', () => {
    const topic = deviceBoundTopic('dev1', {
      properties: { prop0: 'v a/l&0' },
      ack: 'full',
      contentEncoding: 'utf-8',
      contentType: 'text/plain',
      correlationId: 'c1',
      expiryTimeUtc: expiry,
      to: '/devices/dev1/messages/devicebound',
      messageId: 'm1',
    });
    assert.equal(
      topic,
      'devices/dev1/messages/devicebound/' +
        '%24.mid=m1&%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fdevicebound&%24.exp=2026-01-01T01%3A00%3A00.000Z' +
        '&%24.cid=c1&%24.ct=text%2Fplain&%24.ce=utf-8&iothub-ack=full&prop0=v%20a%2Fl%260',
    );
    // The Node SDK reads the bag as the 5th '/'-separated segment: no raw '/' may remain in it.
    assert.equal(topic.split('/').length, 5);
  });

  it('keeps the trailing / when there are no properties', () => {
    assert.equal(deviceBoundTopic('d', {}), 'devices/d/messages/devicebound/');
    assert.deepEqual(parseDeviceBoundTopic('devices/d/messages/devicebound/')?.entries, []);
    assert.deepEqual(parseDeviceBoundTopic('devices/d/messages/devicebound')?.entries, []);
    // A raw `/` inside the bag is taken as part of it; `&&` and a trailing `&` are empty segments.
    assert.deepEqual(parseDeviceBoundTopic('devices/d/messages/devicebound/a=1/2&&b&')?.entries, [
      ['a', '1/2'],
      ['b', null],
    ]);
  });

  it('writes null as the bare key and empty as key=', () => {
    assert.equal(
      encodePropertyBag([
        ['a', null],
        ['b', ''],
        ['c', 'x'],
      ]),
      'a&b=&c=x',
    );
    assert.deepEqual(parsePropertyBag('a&b=&c=x'), [
      ['a', null],
      ['b', ''],
      ['c', 'x'],
    ]);
  });

  it('round-trips awkward names and values: / & = % + spaces $ and non-ASCII text', () => {
    const text = fc.string({ unit: 'grapheme', minLength: 0, maxLength: 12 });
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            text.filter((k) => k !== ''),
            fc.option(text, { nil: null }),
          ),
          { maxLength: 6 },
        ),
        (entries) => {
          const bag = encodePropertyBag(entries as BagEntry[]);
          assert.ok(!bag.includes('/'), 'no raw / in a bag');
          assert.deepEqual(parsePropertyBag(bag), entries);
        },
      ),
    );
    const awkward: BagEntry[] = [
      ['a/b', 'c/d'],
      ['&=%', '%25 &=+'],
      ['$.x', '$'],
      ['sp ace', ' '],
      ['ünï', 'çødé ✓'],
    ];
    assert.deepEqual(parsePropertyBag(encodePropertyBag(awkward)), awkward);
  });

  it('rejects text that is not valid Unicode (a lone surrogate) with 400004', () => {
    assert.throws(
      () => encodePropertyBag([['k', '\uD800']]),
      (e: unknown) => e instanceof C2DError && e.code === 400004,
    );
  });

  it('round-trips a full message through topic and parser', () => {
    const m = {
      messageId: 'm/1&2',
      to: '/devices/d%201/messages/devicebound',
      expiryTimeUtc: expiry,
      correlationId: 'c=1',
      userId: 'u 1',
      contentType: 'application/json; charset=utf-8',
      contentEncoding: 'utf-8',
      ack: 'negative' as const,
      properties: { 'a b': 'c/d', empty: '', '$.notSystem': 'x', __proto__x: 'y' },
    };
    const parsed = parseDeviceBoundTopic(deviceBoundTopic('dev-1', m));
    assert.equal(parsed?.deviceId, 'dev-1');
    assert.deepEqual(parsed?.message, m);
  });

  it('parses the real topics published in samples and issues', () => {
    const cli = parseDeviceBoundTopic(
      'devices/pubsub/messages/devicebound/%24.mid=2c2d&%24.to=%2Fdevices%2Fpubsub%2Fmessages%2Fdevicebound&%24.ce=utf-8&iothub-ack=none',
    );
    assert.deepEqual(cli, {
      deviceId: 'pubsub',
      entries: [
        ['$.mid', '2c2d'],
        ['$.to', '/devices/pubsub/messages/devicebound'],
        ['$.ce', 'utf-8'],
        ['iothub-ack', 'none'],
      ],
      message: { messageId: '2c2d', to: '/devices/pubsub/messages/devicebound', contentEncoding: 'utf-8', ack: 'none', properties: {} },
    });
    const csdk = parseDeviceBoundTopic(
      'devices/my-device-1/messages/devicebound/%24.mid=84c0&%24.to=%2Fdevices%2Fmy-device-1%2Fmessages%2FdeviceBound&iothub-ack=full',
    );
    assert.deepEqual(csdk?.message, { messageId: '84c0', to: '/devices/my-device-1/messages/deviceBound', ack: 'full', properties: {} });
    const portal = parseDeviceBoundTopic(
      'devices/nonsdkdevice/messages/devicebound/%24.to=%2Fdevices%2Fnonsdkdevice%2Fmessages%2FdeviceBound&%24.ct=text%2Fplain%3B%20charset%3DUTF-8&%24.ce=utf-8&bbb=bbbb&aaa=aaaa',
    );
    assert.deepEqual(portal?.message, {
      to: '/devices/nonsdkdevice/messages/deviceBound',
      contentType: 'text/plain; charset=UTF-8',
      contentEncoding: 'utf-8',
      properties: { bbb: 'bbbb', aaa: 'aaaa' },
    });
  });

  it('accepts a raw $ in keys and keeps a stray % as written', () => {
    const p = parseDeviceBoundTopic('devices/d/messages/devicebound/$.mid=1&x=100%&&y');
    assert.deepEqual(p?.message, { messageId: '1', properties: { x: '100%', y: '' } });
  });

  it('reads $.exp as ISO-8601 or epoch milliseconds', () => {
    assert.equal(parseDeviceBoundTopic(`devices/d/messages/devicebound/%24.exp=${formatExpiry(expiry)}`)?.message.expiryTimeUtc, expiry);
    assert.equal(parseDeviceBoundTopic(`devices/d/messages/devicebound/%24.exp=${expiry}`)?.message.expiryTimeUtc, expiry);
    assert.equal(parseDeviceBoundTopic('devices/d/messages/devicebound/%24.exp=soon')?.message.expiryTimeUtc, undefined);
  });

  it('writes $.exp exactly as toISOString does, across seconds and at the edges of its range', () => {
    // formatExpiry keeps the last second's text: a message in the same second, the next
    // second, and any instant after another must each come out as a fresh toISOString.
    const edges = [0, 1, 999, 1000, 1001, expiry - 1, expiry, expiry + 7, expiry + 999, expiry + 1000, 253402300799999, 253402300800000, -1, -1001, 1.5];
    for (const ms of edges) assert.equal(formatExpiry(ms), new Date(ms).toISOString(), String(ms));
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 253402300799999 }), { minLength: 1, maxLength: 20 }), (times) => {
        for (const ms of times) for (const t of [ms, ms + 1, ms - (ms % 1000)]) assert.equal(formatExpiry(t), new Date(t).toISOString());
      }),
    );
  });

  it('does not take other topics for device-bound ones', () => {
    for (const t of [
      'devices/d/messages/events/a=1',
      'devices//messages/devicebound/',
      '$iothub/twin/res/200/?$rid=1',
      'devices/d/messages',
      'devices/d/messages/deviceboundx/a=1',
      'device/d/messages/devicebound/',
      'devices/d/message/devicebound/',
      'devices/d',
    ]) {
      assert.equal(parseDeviceBoundTopic(t), undefined, t);
    }
  });
});

describe('MQTT codec: subscription filter and D2C topic', () => {
  it('names the one C2D filter of a device', () => {
    assert.equal(deviceBoundFilter('dev1'), 'devices/dev1/messages/devicebound/#');
  });

  it('parses a D2C topic with or without a bag', () => {
    assert.deepEqual(parseDeviceToCloudTopic('devices/d1/messages/events/%24.ct=application%2Fjson&k=v%2F1'), {
      deviceId: 'd1',
      entries: [
        ['$.ct', 'application/json'],
        ['k', 'v/1'],
      ],
    });
    assert.deepEqual(parseDeviceToCloudTopic('devices/d1/messages/events/'), { deviceId: 'd1', entries: [] });
    assert.deepEqual(parseDeviceToCloudTopic('devices/d1/messages/events'), { deviceId: 'd1', entries: [] });
    assert.equal(parseDeviceToCloudTopic('devices/d1/messages/devicebound/'), undefined);
    assert.equal(deviceToCloudTopic('d1', [['k', 'v/1']]), 'devices/d1/messages/events/k=v%2F1');
  });
});

describe('MQTT codec: the CONNECT username (c2d-semantics §5.2)', () => {
  it("parses the Node SDK's username", () => {
    const u = parseMqttUsername(
      'localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)',
    );
    assert.equal(u.host, 'localhost');
    assert.equal(u.deviceId, 'dev1');
    assert.equal(u.moduleId, undefined);
    assert.equal(u.apiVersion, '2021-04-12');
    assert.equal(u.params.DeviceClientType, 'azure-iot-device/1.18.4 (node v20.20.2; Debian 12; x64)');
  });

  it('parses the module form, a host with a port and a device id holding ?', () => {
    assert.deepEqual(parseMqttUsername('h:8883/d/m/?api-version=2020-09-30'), {
      host: 'h:8883',
      deviceId: 'd',
      moduleId: 'm',
      apiVersion: '2020-09-30',
      params: { 'api-version': '2020-09-30' },
    });
    assert.equal(parseMqttUsername('h/?odd?/?api-version=1').deviceId, '?odd?');
    assert.equal(parseMqttUsername('h/d/').deviceId, 'd');
  });

  it('refuses usernames that do not name a device with 401003', () => {
    for (const bad of ['', 'h', 'h//?api-version=1', 'h/a/b/c/?api-version=1']) {
      assert.throws(
        () => parseMqttUsername(bad),
        (e: unknown) => e instanceof C2DError && e.code === 401003,
        bad,
      );
    }
  });

  it('builds what it parses', () => {
    const s = buildMqttUsername({ host: 'localhost', deviceId: 'd1', params: { DeviceClientType: 'x/1 (y; z)' } });
    assert.equal(s, 'localhost/d1/?api-version=2021-04-12&DeviceClientType=x%2F1%20(y%3B%20z)');
    assert.deepEqual(parseMqttUsername(s).params, { 'api-version': '2021-04-12', DeviceClientType: 'x/1 (y; z)' });
    assert.equal(parseMqttUsername(buildMqttUsername({ host: 'h', deviceId: 'd', moduleId: 'm' })).moduleId, 'm');
  });

  it('exposes the system keys once', () => {
    assert.deepEqual(Object.values(MQTT_SYSTEM_KEYS), ['$.mid', '$.to', '$.exp', '$.cid', '$.uid', '$.ct', '$.ce']);
  });
});

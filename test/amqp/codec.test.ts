/**
 * The AMQP codec (lib/common/codec/amqp.ts): what the hub encodes, a client
 * decodes to the same model, through rhea's real encoder and decoder.
 */
import assert from 'node:assert/strict';
import { message as rheaMessage, types as rheaTypes, type Message } from 'rhea';
import { deliveryPayload } from '../../lib/hub/amqp/credit';
import {
  decodeDeviceDelivery,
  decodeFeedback,
  decodeServiceSend,
  encodeDeviceDelivery,
  encodeFeedback,
  encodeServiceSend,
  fromAmqpError,
  parseLinkAddress,
  toAmqpError,
  type AmqpMessage,
} from '../../lib/common/codec/amqp';
import { C2DError, errors } from '../../lib/common/errors';
import { FEEDBACK_CONTENT_TYPE, type ReceivedMessage, type ReceivedFeedbackBatch } from '../../lib/common/message';

/** Through the real wire bytes, as a peer would see it. */
function wire(m: AmqpMessage): AmqpMessage {
  return rheaMessage.decode(rheaMessage.encode(m)) as AmqpMessage;
}

const UUID = '0f8fad5b-d9cb-469f-a165-70867728950e';

describe('AMQP codec: service send on /messages/devicebound', () => {
  it('round-trips every property, with the device id URL-encoded in `to`', () => {
    const m = {
      body: Buffer.from([0, 1, 2, 255]),
      messageId: 'm-1',
      correlationId: 'c-1',
      userId: 'hub-user',
      expiryTimeUtc: Date.UTC(2026, 0, 2, 3, 4, 5, 678),
      ack: 'full' as const,
      contentType: 'application/json',
      contentEncoding: 'utf-8',
      properties: { color: 'red', n: '1' },
    };
    const encoded = wire(encodeServiceSend('dev 1/x', m));
    assert.equal(encoded.to, '/devices/dev%201%2Fx/messages/devicebound');
    assert.ok(Buffer.isBuffer(encoded.user_id), 'user-id is binary on the wire');
    assert.equal((encoded.body as { typecode: number }).typecode, 0x75, 'body is a data section');
    const { deviceId, message } = decodeServiceSend(encoded);
    assert.equal(deviceId, 'dev 1/x');
    assert.deepEqual(message, m);
    assert.equal(typeof message.expiryTimeUtc, 'number', 'expiry is epoch ms, never a Date');
  });

  it('sends canonical uuid ids as the AMQP uuid type and reads them back as the same string', () => {
    const bytes = rheaMessage.encode(encodeServiceSend('d', { body: Buffer.alloc(0), messageId: UUID, correlationId: UUID.toUpperCase() }));
    const raw = rheaMessage.decode(bytes) as AmqpMessage;
    assert.ok(Buffer.isBuffer(raw.message_id) && raw.message_id.length === 16, 'uuid type on the wire');
    assert.equal(raw.correlation_id, UUID.toUpperCase(), 'a non-canonical uuid stays a string, so it cannot change');
    const { message } = decodeServiceSend(raw);
    assert.equal(message.messageId, UUID);
    assert.equal(message.correlationId, UUID.toUpperCase());
  });

  it('reads a uuid-typed id sent by another client as its canonical string', () => {
    const raw = wire({
      to: '/devices/d/messages/devicebound',
      message_id: rheaTypes.wrap_uuid(Buffer.from(UUID.replace(/-/g, ''), 'hex')),
      body: rheaMessage.data_section(Buffer.from('x')),
    });
    assert.equal(decodeServiceSend(raw).message.messageId, UUID);
  });

  it('omits what was not set, and leaves ack out when not asked for', () => {
    const raw = wire(encodeServiceSend('d', { body: Buffer.from('hi') }));
    assert.equal(raw.message_id, undefined);
    assert.equal(raw.application_properties, undefined);
    assert.deepEqual(decodeServiceSend(raw).message, { body: Buffer.from('hi'), properties: {} });
  });

  it('a property named __proto__ cannot change what the model holds', () => {
    const evil = {
      to: '/devices/d/messages/devicebound',
      application_properties: JSON.parse('{"__proto__":{"polluted":"yes"},"a":"b"}'),
      body: rheaMessage.data_section(Buffer.from('x')),
    };
    const { properties } = decodeServiceSend(wire(evil)).message;
    assert.equal(Object.getPrototypeOf(properties), Object.prototype);
    assert.equal((properties as Record<string, unknown>).polluted, undefined);
    assert.deepEqual(properties, { a: 'b' }, 'rhea drops the key while decoding; own keys only are read');
  });

  it('refuses a `to` that names no device, a bad ack and non-text properties with 400004', () => {
    const body = rheaMessage.data_section(Buffer.from('x'));
    const code = (f: () => unknown): number => {
      try {
        f();
      } catch (e) {
        return (e as C2DError).code;
      }
      return 0;
    };
    assert.equal(
      code(() => decodeServiceSend({ to: '/devices/d/messages/events', body })),
      400004,
    );
    assert.equal(
      code(() => decodeServiceSend({ body })),
      400004,
    );
    assert.equal(
      code(() => decodeServiceSend({ to: '/devices/d/messages/devicebound', application_properties: { 'iothub-ack': 'all' }, body })),
      400004,
    );
    assert.equal(
      code(() => decodeServiceSend({ to: '/devices/d/messages/devicebound', application_properties: { a: [1] }, body })),
      400004,
    );
    assert.equal(
      code(() => decodeServiceSend({ to: '/devices/d/messages/devicebound', message_id: Buffer.from('ab'), body })),
      400004,
    );
  });
});

describe('AMQP codec: device delivery on /devices/{id}/messages/devicebound', () => {
  const received: ReceivedMessage = {
    body: Buffer.from('hello'),
    messageId: UUID,
    correlationId: 'corr',
    userId: 'u',
    to: '/devices/dev1/messages/devicebound',
    expiryTimeUtc: Date.UTC(2026, 0, 1, 1),
    ack: 'negative',
    contentType: 'text/plain',
    contentEncoding: 'utf-8',
    properties: { k: 'v' },
    deviceId: 'dev1',
    sequenceNumber: 42,
    enqueuedTimeUtc: Date.UTC(2026, 0, 1),
    deliveryCount: 3,
    lockToken: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
    lockedUntilUtc: Date.UTC(2026, 0, 1, 0, 1),
  };

  it('carries the lock token as the 16-byte delivery tag and the hub facts as annotations', () => {
    const { message, tag } = encodeDeviceDelivery(received);
    assert.equal(tag.length, 16);
    const raw = wire(message);
    assert.equal(raw.message_annotations?.['x-opt-sequence-number'], 42);
    assert.equal(raw.message_annotations?.['iothub-deliverycount'], 3);
    assert.ok(raw.message_annotations?.['iothub-enqueuedtime'] instanceof Date, 'enqueued time is an AMQP timestamp');
    assert.equal(raw.application_properties?.['iothub-ack'], 'negative');
    const { lockedUntilUtc: _omit, deviceId: _own, ...expected } = received;
    assert.deepEqual(decodeDeviceDelivery(raw, tag), expected);
  });

  // rhea keeps a delivery's tag and bytes in its session until the peer settled it and every
  // delivery ahead of it: a view into a shared slab or an encoder's buffer would keep that alive.
  it('gives rhea a tag and delivery bytes that own exactly their memory', () => {
    const { message, tag } = encodeDeviceDelivery(received);
    assert.equal(tag.buffer.byteLength, 16, "the tag is not a view into one of Node's 8 KB slabs");
    const bytes = deliveryPayload(message as Message);
    assert.equal(bytes.byteOffset, 0);
    assert.equal(bytes.buffer.byteLength, bytes.length, 'exactly the encoded size');
    assert.ok(rheaMessage.encode(message).buffer.byteLength > bytes.length, "rhea's own encoding is a view into a bigger working buffer (why the copy)");
    assert.deepEqual(rheaMessage.decode(bytes), rheaMessage.decode(rheaMessage.encode(message)));
    const other = encodeDeviceDelivery({ ...received, lockToken: 'not-a-uuid' }).tag;
    assert.equal(other.buffer.byteLength, other.length, 'a non-uuid token too');
  });
});

describe('AMQP codec: feedback batch on /messages/serviceBound/feedback', () => {
  it('is one JSON array in a data section, with the feedback content type, the hub as user-id and the enqueued time', () => {
    const batch: ReceivedFeedbackBatch = {
      records: [
        {
          originalMessageId: 'm1',
          deviceId: 'd',
          deviceGenerationId: 'g',
          enqueuedTimeUtc: '2026-01-01T00:00:00.000Z',
          statusCode: 'Success',
          description: 'Success',
        },
      ],
      enqueuedTimeUtc: Date.UTC(2026, 0, 1),
      userId: 'localhost',
      lockToken: '7c9e6679-7425-40de-944b-e07fc1f90ae7',
      lockedUntilUtc: 0,
      deliveryCount: 0,
    };
    const { message, tag } = encodeFeedback(batch);
    const raw = wire(message);
    assert.equal(raw.content_type, FEEDBACK_CONTENT_TYPE);
    assert.equal((raw.body as { typecode: number }).typecode, 0x75);
    assert.deepEqual(JSON.parse((raw.body as { content: Buffer }).content.toString()), batch.records);
    const { lockedUntilUtc: _a, deliveryCount: _b, ...expected } = batch;
    assert.deepEqual(decodeFeedback(raw, tag), expected);
  });
});

describe('AMQP link addresses', () => {
  it('match the fixed words case-insensitively, in path or absolute form, with the device id decoded', () => {
    assert.deepEqual(parseLinkAddress('$cbs'), { kind: 'cbs' });
    assert.deepEqual(parseLinkAddress('/messages/devicebound'), { kind: 'serviceDevicebound' });
    assert.deepEqual(parseLinkAddress('amqps://localhost:5671/messages/deviceBound'), { kind: 'serviceDevicebound' });
    assert.deepEqual(parseLinkAddress('/messages/serviceBound/feedback'), { kind: 'feedback' });
    assert.deepEqual(parseLinkAddress('/MESSAGES/SERVICEBOUND/FEEDBACK'), { kind: 'feedback' });
    assert.deepEqual(parseLinkAddress('/devices/Dev1/messages/devicebound'), { kind: 'deviceDevicebound', deviceId: 'Dev1' });
    assert.deepEqual(parseLinkAddress('amqps://h/devices/a%2Bb/messages/deviceBound'), { kind: 'deviceDevicebound', deviceId: 'a+b' });
    assert.deepEqual(parseLinkAddress('/devices/d/messages/events'), { kind: 'deviceEvents', deviceId: 'd' });
    // The Azure IoT C SDK's twin links: absolute, with the host it was given.
    assert.deepEqual(parseLinkAddress('amqps://127.0.0.1/devices/c%2Bd/twin'), { kind: 'deviceTwin', deviceId: 'c+d' });
  });

  it('name nothing for other paths', () => {
    for (const a of [
      '',
      '/messages',
      '/devices//messages/devicebound',
      '/devices/d/modules/m/messages/devicebound',
      '/devices/%E0%A4%A/messages/devicebound',
      42,
      undefined,
    ]) {
      assert.equal(parseLinkAddress(a), undefined, String(a));
    }
  });
});

describe('AMQP errors', () => {
  it('carry the condition the SDKs map and IoT Hub code, and come back as the same C2DError', () => {
    const a = toAmqpError(errors.queueFull('d', 50));
    assert.equal(a.condition, 'amqp:resource-limit-exceeded');
    assert.match(a.description ?? '', /403004/);
    const back = fromAmqpError(a);
    assert.equal(back.code, 403004);
    assert.equal(back.message, errors.queueFull('d', 50).message);
  });

  it('fall back to the description code, then the condition', () => {
    assert.equal(fromAmqpError({ condition: 'amqp:not-found', description: '404001 DeviceNotFound: gone' }).code, 404001);
    assert.equal(fromAmqpError({ condition: 'amqp:link:message-size-exceeded' }).code, 413001);
    assert.equal(fromAmqpError({ condition: 'x:unknown' }).code, 500001);
  });

  it('hide the text of errors that are not C2DErrors', () => {
    const a = toAmqpError(new Error('secret detail'));
    assert.equal(a.condition, 'amqp:internal-error');
    assert.doesNotMatch(a.description ?? '', /secret/);
  });
});

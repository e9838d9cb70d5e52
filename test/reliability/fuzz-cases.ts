/**
 * fast-check generators of hostile bytes for each protocol: truncated,
 * mutated and oversized MQTT packets, AMQP frames with wrong sizes, offsets,
 * types and performatives, and HTTP requests with bad paths, headers, bodies
 * and encodings. Each case is the whole byte string a client writes.
 */
import fc from 'fast-check';

/** MQTT 3.1.1 CONNECT for client id `d1`, user `localhost/d1/?api-version=2021-04-12`, password `x`. */
function mqttConnect(): Buffer {
  const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
  const body = Buffer.concat([str('MQTT'), Buffer.from([4, 0xc2, 0, 60]), str('d1'), str('localhost/d1/?api-version=2021-04-12'), str('x')]);
  return Buffer.concat([Buffer.from([0x10, body.length]), body]);
}
const CONNECT = mqttConnect();

/** An MQTT fixed header with a remaining length written as varint (up to 4 bytes, or a bad 5th). */
function varint(n: number, bad: boolean): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0 || bad) b |= 0x80;
    out.push(b);
  } while (n > 0 && out.length < 4);
  if (bad) out.push(0x80, 0x01);
  return Buffer.from(out);
}

const bytes = (max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

export const mqttCases: fc.Arbitrary<Buffer> = fc.oneof(
  bytes(300),
  // A valid CONNECT cut short.
  fc.nat({ max: CONNECT.length - 1 }).map((n) => CONNECT.subarray(0, n)),
  // A CONNECT with bytes flipped.
  fc.array(fc.tuple(fc.nat({ max: CONNECT.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }).map((flips) => {
    const b = Buffer.from(CONNECT);
    for (const [i, v] of flips) b[i] = v;
    return b;
  }),
  // Any packet type with a claimed length (small, huge, or a malformed 5-byte varint) and random content.
  fc
    .tuple(fc.integer({ min: 0, max: 255 }), fc.oneof(fc.nat({ max: 64 }), fc.integer({ min: 256 * 1024, max: 268_435_455 })), fc.boolean(), bytes(64))
    .map(([h, len, bad, rest]) => Buffer.concat([Buffer.from([h]), varint(len, bad), rest])),
  // A valid CONNECT, then a random packet (before CONNACK and authentication).
  fc.tuple(fc.integer({ min: 0, max: 255 }), bytes(80)).map(([h, rest]) => Buffer.concat([CONNECT, Buffer.from([h]), varint(rest.length, false), rest])),
);

const AMQP_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0]);
const SASL_HEADER = Buffer.from([0x41, 0x4d, 0x51, 0x50, 3, 1, 0, 0]);

/** One AMQP frame: size (maybe wrong), doff (maybe wrong), type, channel, body. */
const amqpFrame: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof(fc.constant(-1), fc.nat({ max: 7 }), fc.integer({ min: 8, max: 200 }), fc.integer({ min: 2 ** 20, max: 2 ** 32 - 1 })),
    fc.oneof(fc.constant(2), fc.nat({ max: 255 })),
    fc.oneof(fc.constant(0), fc.constant(1), fc.nat({ max: 255 })),
    fc.nat({ max: 65535 }),
    fc.oneof(
      bytes(120),
      // A described performative (0x00 0x53 <code>) with a random or empty list: known codes 0x10..0x18 and others.
      fc
        .tuple(fc.integer({ min: 0, max: 0x50 }), bytes(40))
        .map(([code, rest]) =>
          Buffer.concat([Buffer.from([0x00, 0x53, code]), rest.length ? Buffer.concat([Buffer.from([0xc0, rest.length + 1, 3]), rest]) : Buffer.from([0x45])]),
        ),
    ),
  )
  .map(([size, doff, type, channel, body]) => {
    const h = Buffer.alloc(8);
    h.writeUInt32BE(size < 0 ? 8 + body.length : size);
    h[4] = doff;
    h[5] = type;
    h.writeUInt16BE(channel, 6);
    return Buffer.concat([h, body]);
  });

export const amqpCases: fc.Arbitrary<Buffer> = fc.oneof(
  bytes(200),
  // A wrong or truncated protocol header.
  fc.tuple(bytes(8), amqpFrame).map(([h, f]) => Buffer.concat([h, f])),
  fc.nat({ max: 7 }).map((n) => AMQP_HEADER.subarray(0, n)),
  // The right header, then frames.
  fc.array(amqpFrame, { minLength: 1, maxLength: 4 }).map((fs) => Buffer.concat([AMQP_HEADER, ...fs])),
  fc.array(amqpFrame, { minLength: 1, maxLength: 3 }).map((fs) => Buffer.concat([SASL_HEADER, ...fs])),
);

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT', 'G\u00c9T', ''];
/** Placeholders the test replaces with real tokens, so cases get past authentication. */
export const OWNER_TOKEN = '@OWNER@';
export const DEVICE_TOKEN = '@DEVICE@';
const PATHS = [
  '/devices/d1/messages/devicebound',
  '/devices/d1/messages/deviceBound/abc',
  '/devices/d1/messages/devicebound/abc/abandon',
  '/messages/serviceBound/feedback',
  '/devices/d1',
  '/devices',
  '/devices/d1/messages/events',
  '/$iothub/websocket',
];
const segment = fc.oneof(
  fc.constantFrom('..', '.', '%2e%2e', '%2F', '%00', '%ff', '%', '%zz', '~', '\u00e9', '\u202e', 'a'.repeat(300), '', '/'),
  fc.string({ maxLength: 20 }),
);
const httpPath = fc.oneof(
  { arbitrary: fc.constantFrom(...PATHS), weight: 4 },
  fc.tuple(fc.constantFrom(...PATHS), segment).map(([p, s]) => `${p}/${s}`),
  fc.array(segment, { maxLength: 6 }).map((s) => `/${s.join('/')}`),
  fc.string({ maxLength: 60 }),
);
const query = fc.oneof(
  fc.constant('?api-version=2021-04-12'),
  fc.constant(''),
  fc.string({ maxLength: 40 }).map((s) => `?${s}`),
);
const header = fc.oneof(
  { arbitrary: fc.constantFrom(`Authorization: ${OWNER_TOKEN}`, `Authorization: ${DEVICE_TOKEN}`, 'Content-Type: application/json', 'If-Match: *'), weight: 6 },
  fc.constantFrom(
    'Content-Length: 5',
    'Content-Length: -1',
    'Content-Length: 99999999999',
    'Content-Length: 1\r\nContent-Length: 2',
    'Transfer-Encoding: chunked',
    'Transfer-Encoding: gzip, chunked',
    'Content-Encoding: gzip',
    'Content-Type: application/json; charset=utf-16',
    'Authorization: SharedAccessSignature sr=localhost&sig=x&se=1',
    'Authorization: ' + 'A'.repeat(20_000),
    'If-Match: "x"',
    'iothub-to: /devices/d2/messages/devicebound',
    'iothub-app-\u00e9: 1',
  ),
  fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 40 })).map(([k, v]) => `${k}: ${v}`),
);
const body = fc.oneof(
  fc.constant(Buffer.alloc(0)),
  fc.constant(Buffer.from('{"deviceId":"d9"}')),
  fc.constant(Buffer.from([0xff, 0xfe, 0xc3, 0x28])),
  fc.constant(Buffer.from('5\r\nhello\r\nzz\r\n')),
  bytes(200),
  fc.json().map((j) => Buffer.from(j)),
);

export const httpCases: fc.Arbitrary<Buffer> = fc
  .tuple(
    fc.oneof({ arbitrary: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE'), weight: 5 }, fc.constantFrom(...METHODS)),
    httpPath,
    query,
    fc.array(header, { maxLength: 5 }),
    body,
    fc.oneof({ arbitrary: fc.constant('HTTP/1.1'), weight: 8 }, fc.constantFrom('HTTP/1.0', 'HTTP/9.9', '')),
  )
  .map(([m, p, q, hs, b, v]) =>
    Buffer.concat([Buffer.from(`${m} ${p}${q} ${v}\r\nHost: localhost\r\n${hs.join('\r\n')}${hs.length ? '\r\n' : ''}Connection: close\r\n\r\n`, 'latin1'), b]),
  );

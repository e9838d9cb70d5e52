import { strict as assert } from 'node:assert';
import { C2DError } from '../../lib/common/errors';
import type { ReceivedMessage } from '../../lib/common/message';
import { decodeC2DResponse, encodeC2DHeaders, formatEtag, parseEtag, safeHeaderValue } from '../../lib/common/codec/http';
import { HttpWireError, decodeHttpError, encodeHttpError } from '../../lib/common/codec/http-errors';
import { hasRejectFlag, hubPaths, parseHubPath } from '../../lib/common/codec/http-paths';
// The SDKs' own parsers, the judges of our wire shape.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Http: ServiceHttp } = require('azure-iothub/dist/common-http/http') as {
  Http: { parseErrorBody(b: string): { code: string; message: string } | null };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RestApiClient } = require('azure-iothub/dist/common-http/rest_api_client') as {
  RestApiClient: { translateError(body: string, res: { statusCode: number }): Error & { constructor: { name: string } } };
};

const message: ReceivedMessage = {
  body: Buffer.from('hello'),
  messageId: 'm-1',
  correlationId: 'c-1',
  userId: 'svc',
  to: '/devices/dev%231/messages/devicebound',
  expiryTimeUtc: Date.UTC(2026, 0, 1, 1),
  ack: 'full',
  contentType: 'text/plain',
  contentEncoding: 'utf-8',
  properties: { color: 'blue', 'x-y': 'a b' },
  deviceId: 'dev#1',
  sequenceNumber: 7,
  enqueuedTimeUtc: Date.UTC(2026, 0, 1),
  deliveryCount: 2,
  lockToken: '3f2c9a6e-58d4-4c1b-9f0a-1b2c3d4e5f60',
  lockedUntilUtc: Date.UTC(2026, 0, 1, 0, 1),
};

describe('HTTP codec: C2D message headers (c2d-semantics §3)', () => {
  it('puts every system property in its iothub-* header and the lock token, quoted, in ETag, each name spelled as IoT Hub spells it', () => {
    const h = encodeC2DHeaders(message);
    assert.equal(h.ETag, `"${message.lockToken}"`);
    assert.equal(h['iothub-messageid'], 'm-1');
    assert.equal(h['iothub-correlationid'], 'c-1');
    assert.equal(h['iothub-userid'], 'svc');
    assert.equal(h['iothub-to'], message.to);
    assert.equal(h['iothub-expiry'], '2026-01-01T01:00:00.000Z');
    assert.equal(h['iothub-enqueuedtime'], '2026-01-01T00:00:00.000Z');
    assert.equal(h['iothub-ack'], 'full');
    assert.equal(h['iothub-sequencenumber'], '7');
    assert.equal(h['iothub-deliverycount'], '2');
    assert.equal(h['Content-Type'], 'text/plain');
    assert.equal(h['iothub-contenttype'], 'text/plain');
    assert.equal(h['iothub-contentencoding'], 'utf-8');
    assert.equal(h['Content-Encoding'], undefined, 'HTTP Content-Encoding means compression; never set from a charset');
    assert.equal(h['iothub-app-color'], 'blue');
    assert.equal(h['iothub-app-x-y'], 'a b');
  });

  it('writes iothub-ack only when the sender set one (IoT Hub leaves it out otherwise)', () => {
    assert.equal(encodeC2DHeaders({ ...message, ack: 'none' })['iothub-ack'], undefined);
    assert.equal(encodeC2DHeaders({ ...message, ack: 'none', ackSetBySender: true })['iothub-ack'], 'none');
    assert.equal(
      encodeC2DHeaders({ ...message, ack: 'positive' })['iothub-ack'],
      'positive',
      'a stored message without the flag: only a sender asks for feedback',
    );
  });

  it('decodes what it encodes (our HTTP client side)', () => {
    const h = encodeC2DHeaders(message);
    const m = decodeC2DResponse(h, message.body, { deviceId: 'dev#1', receivedAtMs: Date.UTC(2026, 0, 1) });
    assert.deepEqual(m, message);
  });

  it('never lets CR/LF or non-ASCII into a header value or name', () => {
    const h = encodeC2DHeaders({ ...message, messageId: 'a\r\nSet-Cookie: x=1', properties: { 'we\r\nird': 'v\nw', ok: 'ü' } });
    for (const [k, v] of Object.entries(h)) {
      assert.match(k, /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, k);
      assert.match(v, /^[\x20-\x7e]*$/, v);
    }
    assert.equal(h['iothub-messageid'], 'a%0D%0ASet-Cookie: x=1');
    assert.equal(safeHeaderValue('plain value'), 'plain value');
  });

  it('reads a lock token bare, quoted or weak', () => {
    assert.equal(parseEtag('abc'), 'abc');
    assert.equal(parseEtag('"abc"'), 'abc');
    assert.equal(parseEtag(' W/"abc" '), 'abc');
    assert.equal(parseEtag(formatEtag('*')), '*');
  });
});

describe('HTTP codec: IoT Hub error body (c2d-semantics §2.2, sdk-wire §5.2)', () => {
  it('is parsed by the Node SDK into the error name and text', () => {
    const e = encodeHttpError(new C2DError('DeviceNotFound', "Device 'd1' is not registered; or disabled."));
    assert.equal(e.status, 404);
    assert.equal(e.headers['iothub-errorcode'], 'DeviceNotFound');
    assert.match(e.headers['Content-Type'] ?? '', /application\/json/);
    const parsed = ServiceHttp.parseErrorBody(e.body);
    assert.deepEqual(parsed, { code: 'DeviceNotFound', message: "Device 'd1' is not registered, or disabled." });
    const sdkError = RestApiClient.translateError(e.body, { statusCode: 404 });
    assert.equal(sdkError.constructor.name, 'DeviceNotFoundError');
  });

  it('carries the 6-digit code in ExceptionMessage and names it in a form the C# parser maps to that code', () => {
    const e = encodeHttpError(new C2DError('DeviceMessageLockLost', 'lost'));
    const body = JSON.parse(e.body) as { Message: string; ExceptionMessage: string };
    assert.equal(body.Message, 'ErrorCode:DeviceMessageLockLost;lost');
    assert.match(body.ExceptionMessage, /^412002 DeviceMessageLockLost: lost$/);
    // C# falls back to splitting Message on ';' then ':' and parses the name into its ErrorCode enum.
    assert.equal(body.Message.split(';')[0]?.split(':')[1], e.headers['iothub-errorcode']);
  });

  it('hides the text of unexpected errors behind a 500 ServerError', () => {
    const e = encodeHttpError(new Error('SQLITE_BUSY at /secret/path'));
    assert.equal(e.status, 500);
    assert.doesNotMatch(e.body, /secret/);
    assert.equal(e.headers['iothub-errorcode'], 'ServerError');
  });

  it('decodes back to the same C2DError, and maps unknown names by status', () => {
    for (const err of [new C2DError('PreconditionFailed', 'etag'), new C2DError('IotHubUnauthorized', 'no')]) {
      const e = encodeHttpError(err);
      const back = decodeHttpError(e.status, e.headers, e.body);
      assert.equal(back.name, err.name);
      assert.equal(back.code, err.code);
      assert.equal(back.message, err.message);
    }
    const wire = encodeHttpError(new HttpWireError('GenericNotFound', 'nothing here'));
    assert.equal(wire.status, 404);
    assert.equal(decodeHttpError(wire.status, wire.headers, wire.body).name, 'DeviceNotFound');
    assert.equal(decodeHttpError(503, {}, 'busy').name, 'ServiceUnavailable');
  });
});

describe('HTTP codec: REST paths (c2d-semantics §5.3)', () => {
  it('decodes the device id and matches devicebound in any case', () => {
    assert.deepEqual(parseHubPath('/devices/dev%231/messages/devicebound'), { kind: 'deviceBound', deviceId: 'dev#1' });
    assert.deepEqual(parseHubPath('/devices/d/messages/deviceBound/'), { kind: 'deviceBound', deviceId: 'd' });
    assert.deepEqual(parseHubPath('/devices/d/messages/DEVICEBOUND/tok'), { kind: 'deviceBoundLock', deviceId: 'd', lockToken: 'tok' });
    assert.deepEqual(parseHubPath('/devices/d/messages/devicebound/tok/abandon'), { kind: 'deviceBoundAbandon', deviceId: 'd', lockToken: 'tok' });
    assert.deepEqual(parseHubPath('/devices/d/messages/events'), { kind: 'deviceEvents', deviceId: 'd' });
    assert.deepEqual(parseHubPath('/devices/d/commands'), { kind: 'deviceCommands', deviceId: 'd' });
    assert.deepEqual(parseHubPath('/devices'), { kind: 'devices' });
    assert.deepEqual(parseHubPath('/messages/serviceBound/feedback'), { kind: 'feedback' });
    assert.deepEqual(parseHubPath('/messages/servicebound/feedback/t/abandon'), { kind: 'feedbackAbandon', lockToken: 't' });
  });

  it('serves nothing else', () => {
    for (const p of ['/', '', '/devices//messages/devicebound', '/devices/d/messages', '/devices/d/messages/devicebound/t/x', '/twins/d', 'devices/d']) {
      assert.equal(parseHubPath(p), undefined, p);
    }
    assert.throws(
      () => parseHubPath('/devices/%E0%A4%A/x'),
      (e: unknown) => e instanceof C2DError && e.code === 400004,
    );
  });

  it('builds the paths it parses, with api-version', () => {
    const p = hubPaths.deviceBoundLock('a b/c', 'tok', true);
    assert.match(p, /\?api-version=\d{4}-\d{2}-\d{2}&reject$/);
    assert.deepEqual(parseHubPath(p.split('?')[0] ?? ''), { kind: 'deviceBoundLock', deviceId: 'a b/c', lockToken: 'tok' });
  });

  it('reads the reject flag bare or =true', () => {
    assert.equal(hasRejectFlag(new URLSearchParams('api-version=x&reject')), true);
    assert.equal(hasRejectFlag(new URLSearchParams('reject=true')), true);
    assert.equal(hasRejectFlag(new URLSearchParams('reject=false')), false);
    assert.equal(hasRejectFlag(new URLSearchParams('api-version=x')), false);
  });
});

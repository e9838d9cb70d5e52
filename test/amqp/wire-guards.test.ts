/**
 * The pure parts of the AMQP server: frame bounds, SASL PLAIN user names,
 * CBS audience forms.
 */
import assert from 'node:assert/strict';
import { FrameScanner } from '../../lib/hub/amqp/frame-guard';
import { assertPlainUser } from '../../lib/hub/amqp/sasl';
import { normalizeAudience } from '../../lib/hub/amqp/cbs';
import type { Principal } from '../../lib/hub/api';

const header = (id: number): Buffer => Buffer.from([0x41, 0x4d, 0x51, 0x50, id, 1, 0, 0]);
const frame = (size: number): Buffer => {
  const b = Buffer.alloc(size);
  b.writeUInt32BE(size, 0);
  b[4] = 2;
  return b;
};

describe('AMQP frame bounds', () => {
  it('lets headers (SASL then AMQP) and frames within the bound through, however the bytes are split', () => {
    const stream = Buffer.concat([header(3), frame(30), header(0), frame(8), frame(1024)]);
    for (const step of [1, 3, 7, stream.length]) {
      const s = new FrameScanner(1024);
      for (let i = 0; i < stream.length; i += step) assert.equal(s.push(stream.subarray(i, i + step)), undefined, `step ${step}`);
    }
  });

  it('stops at a frame larger than the bound, before its body arrives', () => {
    const s = new FrameScanner(1024);
    assert.equal(s.push(header(0)), undefined);
    assert.match(s.push(Buffer.from([0, 1, 0, 0])) ?? '', /frame of 65536 bytes exceeds the maximum of 1024/);
  });

  it('stops at a frame size below the AMQP minimum of 8', () => {
    const s = new FrameScanner(1024);
    assert.match(s.push(Buffer.concat([header(0), Buffer.from([0, 0, 0, 2])])) ?? '', /below the minimum/);
  });
});

describe('SASL PLAIN user names (c2d-semantics.md §5.1)', () => {
  const device: Principal = { kind: 'device', deviceId: 'dev1', via: 'sas' };
  const policy: Principal = { kind: 'service', keyName: 'iothubowner', rights: new Set(['ServiceConnect']) };

  it('accept {deviceId}@sas.{hub} for a device token and {policy}@sas.root.{hub} for a policy token', () => {
    assertPlainUser('dev1@sas.localhost', device);
    assertPlainUser('iothubowner@sas.root.localhost', policy);
  });

  it('refuse a name that does not match the token with 401003', () => {
    for (const [user, p] of [
      ['dev2@sas.localhost', device],
      ['iothubowner@sas.root.localhost', device],
      ['service@sas.root.h', policy],
      ['dev1', device],
    ] as const) {
      assert.throws(
        () => assertPlainUser(user, p),
        (e: { code?: number }) => e.code === 401003,
        user,
      );
    }
  });
});

describe('CBS audiences as the SDKs send them', () => {
  it('are decoded to host/path; scheme and port are left for the token check to ignore', () => {
    assert.equal(normalizeAudience('localhost%2Fdevices%2Fdev1'), 'localhost/devices/dev1');
    assert.equal(normalizeAudience('localhost'), 'localhost');
    assert.equal(normalizeAudience('amqps://localhost:5671/'), 'amqps://localhost:5671/');
    assert.equal(normalizeAudience('localhost/devices/a%2Bb'), 'localhost/devices/a+b');
    assert.equal(normalizeAudience('%E0%A4%A'), '%E0%A4%A');
  });
});

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createSas, parseSas, sasSignedWith, sasExpired, sasCovers, generateKey } from '../../lib/common/sas';
import { C2DError } from '../../lib/common/errors';

describe('SAS tokens', () => {
  const key = generateKey();
  const other = generateKey();

  it('signs sr as written (URL-encoded) and verifies with the same key only', () => {
    const t = createSas('myhub.azure-devices.net/devices/dev 1', key, 2_000_000_000);
    const p = parseSas(t);
    assert.equal(p.rawResource, 'myhub.azure-devices.net%2Fdevices%2Fdev%201');
    assert.equal(p.resource, 'myhub.azure-devices.net/devices/dev 1');
    assert.equal(p.expiry, 2_000_000_000);
    assert.equal(p.keyName, undefined);
    assert.equal(sasSignedWith(p, [key]), true);
    assert.equal(sasSignedWith(p, [other]), false);
    assert.equal(sasSignedWith(p, [other, key]), true, 'secondary key accepted');
  });

  it('carries skn for policy tokens', () => {
    const p = parseSas(createSas('localhost', key, 1, 'iothubowner'));
    assert.equal(p.keyName, 'iothubowner');
  });

  it('reads an empty skn (every HTTPS token of the Azure IoT C SDK ends in &skn=) as no policy name', () => {
    const t = createSas('localhost/devices/a', key, 2_000_000_000);
    const p = parseSas(`${t}&skn=`);
    assert.equal(p.keyName, undefined);
    assert.equal(sasSignedWith(p, [key]), true);
    assert.throws(
      () => parseSas(`${t}&skn=&skn=`),
      (e: unknown) => e instanceof C2DError && e.code === 401003,
      'twice is still refused',
    );
  });

  it('detects a tampered signature, resource or expiry', () => {
    const t = createSas('localhost/devices/a', key, 2_000_000_000);
    const widened = t.replace('sr=localhost%2Fdevices%2Fa', 'sr=localhost');
    assert.equal(sasSignedWith(parseSas(widened), [key]), false);
    const later = t.replace('se=2000000000', 'se=2000000001');
    assert.equal(sasSignedWith(parseSas(later), [key]), false);
    const sigTampered = t.replace(/sig=([^&])/, (_m, c: string) => `sig=${c === 'A' ? 'B' : 'A'}`);
    assert.equal(sasSignedWith(parseSas(sigTampered), [key]), false);
  });

  it('accepts a signature over upper- or lower-case percent escapes as written', () => {
    const sr = 'localhost%2fdevices%2fd';
    const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n99`).digest('base64');
    const p = parseSas(`SharedAccessSignature sr=${sr}&sig=${encodeURIComponent(sig)}&se=99`);
    assert.equal(sasSignedWith(p, [key]), true);
  });

  it('expires at se plus five minutes of clock skew', () => {
    const p = parseSas(createSas('localhost', key, 1000));
    assert.equal(sasExpired(p, 1000 * 1000 + 5 * 60 * 1000), false);
    assert.equal(sasExpired(p, 1000 * 1000 + 5 * 60 * 1000 + 1), true);
  });

  it('matches resources by host (case-insensitive, port ignored) and whole path segments', () => {
    assert.equal(sasCovers('localhost', 'localhost/devices/a'), true);
    assert.equal(sasCovers('LocalHost:5671', 'localhost/devices/a'), true);
    assert.equal(sasCovers('localhost/devices/a', 'localhost/devices/a'), true);
    assert.equal(sasCovers('localhost/devices/a', 'localhost/devices/ab'), false);
    assert.equal(sasCovers('localhost/devices/a', 'localhost/devices'), false);
    assert.equal(sasCovers('otherhost', 'localhost/devices/a'), false);
    assert.equal(sasCovers('amqps://localhost:5671/', 'localhost'), true);
  });

  for (const bad of [
    '',
    'sr=a&sig=b&se=1',
    'SharedAccessSignature sr=a&sig=b',
    'SharedAccessSignature sr=a&sig=b&se=x',
    'SharedAccessSignature sr=a&sr=a&sig=b&se=1',
    'SharedAccessSignature sr=%E0%A4%A&sig=b&se=1',
  ]) {
    it(`refuses malformed token ${JSON.stringify(bad)} with 401003`, () => {
      assert.throws(
        () => parseSas(bad),
        (e: unknown) => e instanceof C2DError && e.code === 401003,
      );
    });
  }
});

/**
 * A device's X.509 credential is loaded as TLS will load it when the client
 * is made, so a wrong pass phrase, a key that is not the certificate's, a
 * bundle in the wrong order or a damaged PFX fail at once with 400004 and
 * words, never with an OpenSSL code at connect time. Nothing secret is echoed.
 */
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { DeviceCredentials, type X509Credential } from '../../lib/client/credentials';
import { C2DError } from '../../lib/common/errors';
import { bundle, deviceOf, makePki, pfxOf, skipWithoutOpenssl, type Issued, type Pki } from './pki';

describe('X.509 CA: the device credential (DeviceClient x509: PEM chain or PFX)', function () {
  this.timeout(20_000);
  let pki: Pki;
  let dev: Issued & { chain: string };
  before(async () => {
    pki = await makePki('Contoso');
    dev = await deviceOf(pki, 'cred-dev');
  });

  const make = (x509: unknown): DeviceCredentials => new DeviceCredentials({ hostName: 'localhost', deviceId: 'cred-dev', x509: x509 as X509Credential });
  const invalid = (pattern: RegExp) => (e: unknown) => {
    assert.ok(e instanceof C2DError, String(e));
    assert.equal(e.code, 400004);
    assert.match(e.message, pattern);
    return true;
  };

  it('takes a PEM bundle (device certificate first, then its intermediates) with its key, and an encrypted key with its pass phrase', () => {
    assert.deepEqual(make({ cert: dev.chain, key: dev.key }).auth, { kind: 'x509', cert: dev.chain, key: dev.key });
    const encrypted = createPrivateKey(dev.key).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'key pass' }) as string;
    assert.equal(make({ cert: dev.chain, key: encrypted, passphrase: 'key pass' }).auth.kind, 'x509');
    assert.throws(
      () => make({ cert: dev.chain, key: encrypted, passphrase: 'not it' }),
      invalid(/cannot be read: not PEM, or an encrypted key with a wrong or missing pass phrase/),
    );
  });

  it('refuses a bundle that does not start with the device certificate, and a key that is not its', async () => {
    assert.throws(
      () => make({ cert: bundle(pki.intermediate2, dev), key: dev.key }),
      invalid(/the private key does not belong to the certificate \(a bundle must start with the device certificate/),
    );
    const stranger = await deviceOf(pki, 'stranger');
    assert.throws(() => make({ cert: dev.chain, key: stranger.key }), invalid(/does not belong to the certificate/));
  });

  it('needs a certificate with its key, or a PFX as bytes, not both', () => {
    assert.throws(() => make({ cert: dev.chain }), invalid(/needs its private key/));
    assert.throws(() => make({ cert: dev.chain, key: dev.key, pfx: Buffer.alloc(4) }), invalid(/not both/));
    assert.throws(() => make({}), invalid(/not both/));
    assert.throws(() => make({ pfx: 'base64 text' }), invalid(/pfx must be a Buffer/));
  });

  it('takes a PFX with its pass phrase; a wrong pass phrase or a damaged file is named, the pass phrase is not', function () {
    skipWithoutOpenssl(this);
    const pfx = pfxOf(dev, [pki.intermediate2, pki.intermediate1], 'pfx-PP-7');
    assert.equal(make({ pfx, passphrase: 'pfx-PP-7' }).auth.kind, 'x509');
    for (const bad of [{ pfx, passphrase: 'other-PP-9' }, { pfx }, { pfx: pfx.subarray(0, 100), passphrase: 'pfx-PP-7' }]) {
      assert.throws(
        () => make(bad),
        (e: unknown) => invalid(/the PFX cannot be opened: a wrong or missing pass phrase, or not a PKCS#12 file/)(e) && !/PP-/.test((e as Error).message),
      );
    }
  });
});

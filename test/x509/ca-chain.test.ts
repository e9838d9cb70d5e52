/**
 * IoT Hub's X.509 CA model in the engine (c2d-semantics.md §6.5): a
 * certificateAuthority device authenticates with a certificate whose CN is
 * its device id and whose chain leads to a CA certificate given to the hub;
 * every other case is 401003 with the reason. The wire tests
 * (transports.test.ts) show the same over every protocol.
 */
import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import { ManualClock } from '../../lib/common/clock';
import { C2DError } from '../../lib/common/errors';
import type { ClientCertificateInfo } from '../../lib/hub/api';
import { Hub } from '../../lib/hub/index';
import { MAX_CHAIN_DEPTH, TrustedCas } from '../../lib/hub/engine/x509-ca';
import { bundle, deviceOf, issue, makePki, type Issued, type Pki } from './pki';

/** What the TLS layer hands the engine when a device sends these certificates. */
function presented(...certs: (Issued | X509Certificate)[]): ClientCertificateInfo {
  const xs = certs.map((c) => ('x' in c ? c.x : c));
  const leaf = xs[0] as X509Certificate;
  return { sha1Thumbprint: leaf.fingerprint.replace(/:/g, ''), sha256Thumbprint: leaf.fingerprint256.replace(/:/g, ''), chain: xs };
}

function refused(pattern: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof C2DError, String(e));
    assert.equal(e.code, 401003);
    assert.match(e.message, pattern);
    return true;
  };
}

const HOUR = 3600_000;

describe('X.509 CA: certificateAuthority devices in the engine', function () {
  this.timeout(20_000);
  let pki: Pki;
  let other: Pki;
  let hub: Hub;
  let clock: ManualClock;

  before(async () => {
    pki = await makePki('Contoso');
    other = await makePki('Fabrikam');
  });

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    hub = await Hub.open({ clock, trustedCaCertificates: [pki.root.cert] });
    for (const id of ['dev1', 'dev2']) await hub.registry.createDevice({ deviceId: id, authentication: { type: 'certificateAuthority' } });
  });

  afterEach(async () => {
    await hub.close();
  });

  describe('a chain up to a registered CA', () => {
    it('authenticates the device named by the certificate CN: device -> intermediate2 -> intermediate1 -> registered root', async () => {
      const dev = await deviceOf(pki, 'dev1');
      const p = hub.auth.authenticateX509('dev1', presented(dev, pki.intermediate2, pki.intermediate1));
      assert.deepEqual(p, { kind: 'device', deviceId: 'dev1', via: 'x509' });
    });

    it('accepts the intermediates in any order, and the root sent along', async () => {
      const dev = await deviceOf(pki, 'dev1');
      hub.auth.authenticateX509('dev1', presented(dev, pki.root, pki.intermediate1, pki.intermediate2));
    });

    it('takes a registered intermediate as the anchor, the root not registered (IoT Hub registers roots or intermediates)', async () => {
      const h = await Hub.open({ trustedCaCertificates: [pki.intermediate1.cert] });
      try {
        await h.registry.createDevice({ deviceId: 'dev1', authentication: { type: 'certificateAuthority' } });
        const dev = await deviceOf(pki, 'dev1');
        h.auth.authenticateX509('dev1', presented(dev, pki.intermediate2));
      } finally {
        await h.close();
      }
    });

    it('is registered as IoT Hub registers it: several CAs, PEM bundles and DER, each once', async () => {
      const cas = new TrustedCas([bundle(pki.root, other.root), other.intermediate1.x.raw, pki.root.cert]);
      assert.deepEqual(
        cas.list().map((c) => c.subject),
        ['CN=Contoso Root CA', 'CN=Fabrikam Root CA', 'CN=Fabrikam Intermediate 1'],
      );
    });
  });

  describe('refusals (401003, saying why)', () => {
    it('a certificate whose CN is another device', async () => {
      const dev = await deviceOf(pki, 'dev2');
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(dev, pki.intermediate2, pki.intermediate1)),
        refused(/subject is CN=dev2, but a certificateAuthority device must present a certificate with CN=dev1/),
      );
    });

    it('a chain that leads to a CA not registered on the hub (a root the device sends along is no anchor)', async () => {
      const dev = await deviceOf(other, 'dev1');
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(dev, other.intermediate2, other.intermediate1, other.root)),
        refused(/ends at 'CN=Fabrikam Root CA', which is not a CA certificate registered on this hub/),
      );
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(dev, other.intermediate2, other.intermediate1)),
        refused(/No certificate sent or registered issued 'CN=Fabrikam Intermediate 1'/),
      );
    });

    it('a device certificate sent without its intermediates', async () => {
      const dev = await deviceOf(pki, 'dev1');
      assert.throws(() => hub.auth.authenticateX509('dev1', presented(dev)), refused(/issued 'CN=dev1'.*send the intermediate certificates/));
      assert.throws(() => hub.auth.authenticateX509('dev1', presented(dev, pki.intermediate2)), refused(/issued 'CN=Contoso Intermediate 2'/));
    });

    it('an expired device certificate, and one not yet valid (by the hub clock)', async () => {
      const dev = await deviceOf(pki, 'dev1', { notBefore: new Date(clock.now() + HOUR), notAfter: new Date(clock.now() + 2 * HOUR) });
      const chain = presented(dev, pki.intermediate2, pki.intermediate1);
      assert.throws(() => hub.auth.authenticateX509('dev1', chain), refused(/The device certificate is not valid before /));
      clock.advance(HOUR + 1000);
      hub.auth.authenticateX509('dev1', chain);
      clock.advance(HOUR);
      assert.throws(() => hub.auth.authenticateX509('dev1', chain), refused(/The device certificate expired at /));
    });

    it('an expired intermediate', async () => {
      const shortLived = await issue('Contoso Intermediate 2', { ca: true, issuer: pki.intermediate1, notAfter: new Date(clock.now() + HOUR) });
      const dev = await issue('dev1', { issuer: shortLived });
      const chain = presented(dev, shortLived, pki.intermediate1);
      hub.auth.authenticateX509('dev1', chain);
      clock.advance(2 * HOUR);
      assert.throws(() => hub.auth.authenticateX509('dev1', chain), refused(/The certificate 'CN=Contoso Intermediate 2' in the chain expired at /));
    });

    it('a registered CA that has expired', async () => {
      const root = await issue('Short Root', { ca: true, notAfter: new Date(clock.now() + HOUR) });
      const dev = await issue('dev1', { issuer: root });
      const h = await Hub.open({ clock, trustedCaCertificates: [root.cert] });
      try {
        await h.registry.createDevice({ deviceId: 'dev1', authentication: { type: 'certificateAuthority' } });
        h.auth.authenticateX509('dev1', presented(dev));
        clock.advance(2 * HOUR);
        assert.throws(() => h.auth.authenticateX509('dev1', presented(dev)), refused(/The registered CA certificate 'CN=Short Root' expired at /));
      } finally {
        await h.close();
      }
    });

    it('a certificate signed by one that is not a CA (with a key usage without keyCertSign, or none)', async () => {
      const device = await issue('Contoso Intermediate 3', { issuer: pki.intermediate2 });
      const dev = await issue('dev1', { issuer: device });
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(dev, device, pki.intermediate2, pki.intermediate1)),
        refused(/'CN=Contoso Intermediate 3' has the name of the issuer of 'CN=dev1' but may not have issued it/),
      );
      const bare = await issue('Contoso Intermediate 3', { issuer: pki.intermediate2, bare: true });
      const dev2 = await issue('dev1', { issuer: bare });
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(dev2, bare, pki.intermediate2, pki.intermediate1)),
        refused(/'CN=Contoso Intermediate 3' signed 'CN=dev1' but is not a CA certificate/),
      );
    });

    it('an intermediate forged with the right name but another key', async () => {
      const forged = await issue('Contoso Intermediate 2', { ca: true, issuer: pki.intermediate1 });
      const dev = await deviceOf(pki, 'dev1');
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(dev, forged, pki.intermediate1)),
        refused(/'CN=dev1' names 'CN=Contoso Intermediate 2' as its issuer, but that certificate's key did not sign it/),
      );
    });

    it('a self-signed certificate (even with CN = the device id): a certificateAuthority device has no thumbprint', async () => {
      const self = await issue('dev1');
      await hub.registry.updateDevice({
        deviceId: 'dev1',
        authentication: { type: 'certificateAuthority', x509Thumbprint: { primaryThumbprint: self.x.fingerprint.replace(/:/g, '') } },
      });
      assert.throws(() => hub.auth.authenticateX509('dev1', presented(self)), refused(/ends at 'CN=dev1', which is not a CA certificate registered/));
    });

    it('a disabled device, an unknown device, and a SAS device', async () => {
      const dev = await deviceOf(pki, 'dev1');
      const chain = presented(dev, pki.intermediate2, pki.intermediate1);
      assert.throws(() => hub.auth.authenticateX509('nobody', chain), refused(/Device 'nobody' is not registered/));
      await hub.registry.createDevice({ deviceId: 'sasdev' });
      assert.throws(() => hub.auth.authenticateX509('sasdev', chain), refused(/authenticates with sas, not with an X.509 certificate/));
      await hub.registry.updateDevice({ deviceId: 'dev1', status: 'disabled' });
      assert.throws(() => hub.auth.authenticateX509('dev1', chain), refused(/disabled/));
    });

    it(`a chain longer than ${MAX_CHAIN_DEPTH} certificates (a bound on what a peer can make the hub check)`, async () => {
      const intermediates = [pki.intermediate2];
      for (let i = 3; i <= MAX_CHAIN_DEPTH + 1; i++) intermediates.unshift(await issue(`Contoso Intermediate ${i}`, { ca: true, issuer: intermediates[0] }));
      // intermediates = [9, 8, ..., 3, 2]. The device, then 8..2 and 1 below the registered root: nine certificates.
      const long = await issue('dev1', { issuer: intermediates[1] });
      assert.throws(
        () => hub.auth.authenticateX509('dev1', presented(long, ...intermediates.slice(1), pki.intermediate1)),
        refused(/longer than 8 certificates/),
      );
      // The device, then 7..2 and 1: eight.
      const fits = await issue('dev1', { issuer: intermediates[2] });
      hub.auth.authenticateX509('dev1', presented(fits, ...intermediates.slice(2), pki.intermediate1));
    });

    it('any chain when no CA is registered on the hub', async () => {
      const h = await Hub.open();
      try {
        await h.registry.createDevice({ deviceId: 'dev1', authentication: { type: 'certificateAuthority' } });
        const dev = await deviceOf(pki, 'dev1');
        assert.throws(
          () => h.auth.authenticateX509('dev1', presented(dev, pki.intermediate2, pki.intermediate1, pki.root)),
          refused(/No CA certificate is registered on this hub/),
        );
      } finally {
        await h.close();
      }
    });
  });

  describe('selfSigned devices next to CA ones', () => {
    it('a selfSigned device still authenticates by thumbprint, and a CA-signed certificate with its CN does not get it in', async () => {
      const self = await issue('selfdev');
      await hub.registry.createDevice({
        deviceId: 'selfdev',
        authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: self.x.fingerprint256.replace(/:/g, '') } },
      });
      hub.auth.authenticateX509('selfdev', presented(self));
      const signed = await deviceOf(pki, 'selfdev');
      assert.throws(
        () => hub.auth.authenticateX509('selfdev', presented(signed, pki.intermediate2, pki.intermediate1)),
        refused(/does not match the device thumbprint/),
      );
    });
  });

  describe('registering CA certificates (400004 for what is not one)', () => {
    it('refuses a device certificate, text that holds no certificate, and a damaged one', async () => {
      const dev = await deviceOf(pki, 'dev1');
      const invalid = (pattern: RegExp) => (e: unknown) => e instanceof C2DError && e.code === 400004 && pattern.test(e.message);
      await assert.rejects(Hub.open({ trustedCaCertificates: [dev.cert] }), invalid(/'CN=dev1' is not a CA certificate \(basicConstraints CA:TRUE\)/));
      await assert.rejects(Hub.open({ trustedCaCertificates: ['/etc/ca.pem'] }), invalid(/Trusted CA certificate 1 holds no PEM certificate/));
      const damaged = pki.root.cert.replace(/(-----BEGIN CERTIFICATE-----\n)..../, '$1AAAA');
      await assert.rejects(Hub.open({ trustedCaCertificates: [pki.root.cert, damaged] }), invalid(/Trusted CA certificate 2: certificate 1 cannot be read/));
    });
  });
});

import { strict as assert } from 'node:assert';
import { X509Certificate } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureTlsMaterial } from '../../lib/hub/tls';

describe('TLS material: a self-signed localhost certificate generated once', () => {
  let dir: string;
  before(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'c2d-tls-'));
  });
  after(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('generates cert.pem and a 0600 key.pem in <dataDir>/tls, for localhost, 127.0.0.1 and ::1, CA-capable', async () => {
    const m = await ensureTlsMaterial(dir);
    assert.equal(m.generated, true);
    assert.equal(m.certPath, path.join(dir, 'tls', 'cert.pem'));
    assert.equal(m.caPath, m.certPath);
    assert.equal((await fs.stat(m.keyPath ?? '')).mode & 0o777, 0o600);
    const x = new X509Certificate(await fs.readFile(m.certPath ?? ''));
    assert.equal(x.fingerprint256, m.fingerprint256);
    assert.match(x.subject, /CN=localhost/);
    assert.equal(x.ca, true);
    assert.equal(x.checkHost('localhost'), 'localhost');
    assert.equal(x.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(x.checkIP('::1'), '::1');
    assert.ok(Date.parse(x.validTo) - Date.now() > 9 * 365 * 24 * 3600 * 1000, 'valid for about ten years');
    assert.equal(x.publicKey.asymmetricKeyDetails?.modulusLength, 2048);
  });

  it('reuses the same certificate on the next start (same fingerprint), and narrows a widened key mode', async () => {
    const first = await ensureTlsMaterial(dir);
    await fs.chmod(first.keyPath ?? '', 0o644);
    const second = await ensureTlsMaterial(dir);
    assert.equal(second.generated, false);
    assert.equal(second.fingerprint256, first.fingerprint256);
    assert.equal((await fs.stat(second.keyPath ?? '')).mode & 0o777, 0o600);
  });

  it('replaces a damaged pair instead of serving it', async () => {
    const before = await ensureTlsMaterial(dir);
    await fs.writeFile(before.certPath ?? '', 'garbage');
    const after = await ensureTlsMaterial(dir);
    assert.equal(after.generated, true);
    assert.notEqual(after.fingerprint256, before.fingerprint256);
  });

  it("uses the user's cert and key (PEM or path) as given, and refuses a key of another certificate", async () => {
    const own = await ensureTlsMaterial(dir);
    const other = await ensureTlsMaterial(undefined);
    const byPath = await ensureTlsMaterial(undefined, { cert: own.certPath, key: own.keyPath });
    assert.equal(byPath.generated, false);
    assert.equal(byPath.fingerprint256, own.fingerprint256);
    assert.equal(byPath.caPath, own.certPath);
    const byPem = await ensureTlsMaterial(undefined, { cert: own.cert, key: own.key });
    assert.equal(byPem.fingerprint256, own.fingerprint256);
    await assert.rejects(ensureTlsMaterial(undefined, { cert: own.cert, key: other.key }), /does not belong/);
    await assert.rejects(ensureTlsMaterial(undefined, { cert: own.cert }), /both/);
  });
});

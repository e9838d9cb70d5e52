/**
 * The hub's TLS material. A user-given cert+key is used as is; otherwise a
 * self-signed certificate for `localhost` is generated ONCE (through the
 * `selfsigned` library) and kept in `<dataDir>/tls/`, so clients that trust
 * it (NODE_EXTRA_CA_CERTS) keep trusting it across restarts.
 *
 * The certificate is CA-capable (basicConstraints CA:TRUE) so that the same
 * file serves as the server certificate and as the trust anchor a client
 * adds, as openssl's `req -x509` makes it (sdk-wire.md §1.3). SANs cover
 * DNS:localhost, IP:127.0.0.1 and IP:::1: clients check the name they
 * connected to, and mqtt.js sends no SNI for an IP host.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export interface TlsInput {
  /** PEM text or a path to a PEM file. Give both `cert` and `key`, or neither. */
  cert?: string;
  key?: string;
  /** Extra CA certificate(s) clients need (a chain), PEM text or path. */
  ca?: string;
}

export interface TlsMaterial {
  cert: string;
  key: string;
  ca?: string;
  /** Files, when the material lives on disk (absent for an in-memory hub's generated cert). */
  certPath?: string;
  keyPath?: string;
  /** The file to give clients as NODE_EXTRA_CA_CERTS. */
  caPath?: string;
  /** SHA-256 fingerprint of the server certificate, `AA:BB:...`. */
  fingerprint256: string;
  /** True when this call generated a new certificate. */
  generated: boolean;
}

const TEN_YEARS_MS = 10 * 365 * 24 * 3600 * 1000;
/** Regenerate a generated certificate this long before it expires. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

const isPem = (v: string): boolean => v.includes('-----BEGIN');

async function pemOrFile(v: string): Promise<{ pem: string; file?: string }> {
  if (isPem(v)) return { pem: v };
  return { pem: await fs.readFile(v, 'utf8'), file: path.resolve(v) };
}

/** Throws unless `key` is the private key of `cert`; returns the parsed certificate. */
function checkPair(cert: string, key: string): X509Certificate {
  const x = new X509Certificate(cert);
  if (!x.checkPrivateKey(createPrivateKey(key))) throw new Error('The TLS key does not belong to the TLS certificate.');
  return x;
}

async function generatePair(): Promise<{ cert: string; key: string }> {
  const notBeforeDate = new Date(Date.now() - 60_000); // a minute back, for clients whose clock runs slow
  // Loaded only when a certificate is generated (first start): it slows every start-up otherwise.
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: new Date(notBeforeDate.getTime() + TEN_YEARS_MS),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

/** Writes through a temporary file and a rename, so a crash never leaves half a key. */
async function writeAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, data, { mode });
  await fs.chmod(tmp, mode); // the umask may have narrowed or the file pre-existed
  await fs.rename(tmp, file);
}

async function readReusable(certPath: string, keyPath: string): Promise<{ cert: string; key: string; x: X509Certificate } | undefined> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([fs.readFile(certPath, 'utf8'), fs.readFile(keyPath, 'utf8')]);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const x = checkPair(cert, key);
    if (Date.parse(x.validTo) - Date.now() < RENEW_BEFORE_MS) return undefined;
    return { cert, key, x };
  } catch {
    return undefined; // unreadable or mismatched: replace it
  }
}

/**
 * The TLS material for the hub's servers. `dataDir` absent (an in-memory hub)
 * with no user certificate: a certificate is generated in memory for this run.
 */
export async function ensureTlsMaterial(dataDir: string | undefined, input: TlsInput = {}): Promise<TlsMaterial> {
  if ((input.cert === undefined) !== (input.key === undefined)) throw new Error('Give both a TLS cert and key, or neither.');
  const ca = input.ca !== undefined ? await pemOrFile(input.ca) : undefined;
  if (input.cert !== undefined && input.key !== undefined) {
    const cert = await pemOrFile(input.cert);
    const key = await pemOrFile(input.key);
    const x = checkPair(cert.pem, key.pem);
    return {
      cert: cert.pem,
      key: key.pem,
      ...(ca ? { ca: ca.pem } : {}),
      ...(cert.file ? { certPath: cert.file } : {}),
      ...(key.file ? { keyPath: key.file } : {}),
      ...((ca?.file ?? cert.file) ? { caPath: ca?.file ?? cert.file } : {}),
      fingerprint256: x.fingerprint256,
      generated: false,
    };
  }
  if (dataDir === undefined) {
    const pair = await generatePair();
    return { ...pair, fingerprint256: new X509Certificate(pair.cert).fingerprint256, generated: true };
  }
  const dir = path.join(dataDir, 'tls');
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const existing = await readReusable(certPath, keyPath);
  if (existing) {
    await fs.chmod(keyPath, 0o600);
    return { cert: existing.cert, key: existing.key, certPath, keyPath, caPath: certPath, fingerprint256: existing.x.fingerprint256, generated: false };
  }
  const pair = await generatePair();
  // Key first: a cert.pem on disk always has its key beside it.
  await writeAtomic(keyPath, pair.key, 0o600);
  await writeAtomic(certPath, pair.cert, 0o644);
  return { ...pair, certPath, keyPath, caPath: certPath, fingerprint256: new X509Certificate(pair.cert).fingerprint256, generated: true };
}

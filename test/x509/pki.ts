/**
 * A small PKI made in the test, as the seed's .NET example has it: root ->
 * intermediate1 -> intermediate2 -> device. Certificates come from the
 * `selfsigned` library (it signs with a given CA); EC P-256 keys keep it fast.
 * A PFX is made by the openssl command, when the machine has one.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { generate } from 'selfsigned';

export interface Issued {
  cert: string;
  key: string;
  x: X509Certificate;
}

const HOUR = 3600_000;
const YEAR = 365 * 24 * HOUR;

export interface IssueOptions {
  /** The CA that signs it; absent: self-signed. */
  issuer?: Issued;
  /** basicConstraints CA:TRUE with keyCertSign (a root or an intermediate). */
  ca?: boolean;
  notBefore?: Date;
  notAfter?: Date;
  /** Only basicConstraints CA:FALSE, no key usage (a certificate no CA policy would sign with). */
  bare?: boolean;
}

/** One certificate with its key (PEM). Valid from an hour ago for a year unless told otherwise. */
export async function issue(commonName: string, o: IssueOptions = {}): Promise<Issued> {
  const notBeforeDate = o.notBefore ?? new Date(Date.now() - HOUR);
  const pems = await generate([{ name: 'commonName', value: commonName }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate: o.notAfter ?? new Date(notBeforeDate.getTime() + YEAR),
    extensions: o.bare
      ? [{ name: 'basicConstraints', cA: false }]
      : o.ca
        ? [
            { name: 'basicConstraints', cA: true, critical: true },
            { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
          ]
        : [
            { name: 'basicConstraints', cA: false },
            { name: 'keyUsage', digitalSignature: true, critical: true },
            { name: 'extKeyUsage', clientAuth: true },
          ],
    ...(o.issuer ? { ca: { cert: o.issuer.cert, key: o.issuer.key } } : {}),
  });
  return { cert: pems.cert, key: pems.private, x: new X509Certificate(pems.cert) };
}

/** PEM certificates one after the other, as a bundle file holds them. */
export function bundle(...certs: Issued[]): string {
  return certs.map((c) => c.cert.trim()).join('\n') + '\n';
}

export interface Pki {
  root: Issued;
  intermediate1: Issued;
  intermediate2: Issued;
}

/** root -> intermediate1 -> intermediate2. */
export async function makePki(name = 'Test'): Promise<Pki> {
  const root = await issue(`${name} Root CA`, { ca: true });
  const intermediate1 = await issue(`${name} Intermediate 1`, { ca: true, issuer: root });
  const intermediate2 = await issue(`${name} Intermediate 2`, { ca: true, issuer: intermediate1 });
  return { root, intermediate1, intermediate2 };
}

/** A device certificate signed by intermediate2, and its chain as the device sends it (device, intermediate2, intermediate1). */
export async function deviceOf(pki: Pki, deviceId: string, o: Omit<IssueOptions, 'issuer' | 'ca'> = {}): Promise<Issued & { chain: string }> {
  const device = await issue(deviceId, { ...o, issuer: pki.intermediate2 });
  return { ...device, chain: bundle(device, pki.intermediate2, pki.intermediate1) };
}

/** Whether an `openssl` command is on PATH (the PFX and README tests need it; CI installs it). */
let opensslFound: boolean | undefined;
export function hasOpenssl(): boolean {
  if (opensslFound === undefined) {
    try {
      execFileSync('openssl', ['version'], { stdio: 'ignore' });
      opensslFound = true;
    } catch {
      opensslFound = false;
    }
  }
  return opensslFound;
}

let saidWhy = false;
/** Skips a test that makes a PFX where there is no openssl command, saying why once. */
export function skipWithoutOpenssl(ctx: Mocha.Context): void {
  if (hasOpenssl()) return;
  if (!saidWhy) console.log('      skipped: PFX tests need the openssl command on PATH to make the PFX (CI installs it)');
  saidWhy = true;
  ctx.skip();
}

/** A PKCS#12 file with the device certificate, its key and its intermediates, protected by `passphrase` (openssl's defaults: AES-256, PBKDF2). */
export function pfxOf(device: Issued, intermediates: Issued[], passphrase: string): Buffer {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'c2d-pfx-'));
  try {
    fs.writeFileSync(path.join(dir, 'key.pem'), device.key, { mode: 0o600 });
    fs.writeFileSync(path.join(dir, 'cert.pem'), device.cert);
    fs.writeFileSync(path.join(dir, 'chain.pem'), bundle(...intermediates));
    execFileSync(
      'openssl',
      ['pkcs12', '-export', '-inkey', 'key.pem', '-in', 'cert.pem', '-certfile', 'chain.pem', '-passout', `pass:${passphrase}`, '-out', 'device.pfx'],
      { cwd: dir, stdio: 'pipe' },
    );
    return fs.readFileSync(path.join(dir, 'device.pfx'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

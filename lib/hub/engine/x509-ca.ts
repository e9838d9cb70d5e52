/**
 * IoT Hub's X.509 CA model (c2d-semantics.md §6.5): CA certificates given to
 * the hub explicitly are the only trust anchors for `certificateAuthority`
 * devices. A device presents its certificate and the intermediates in the TLS
 * handshake; the hub builds the path from the device certificate up to a
 * registered CA (root or intermediate), checking each link's signature, that
 * each issuer is a CA, and every validity period against the hub's clock, and
 * requires the device certificate's CN to be the device id. IoT Hub checks no
 * CRLs: a device is blocked by disabling it.
 *
 * Why here and not in OpenSSL (the listeners' `ca` option): OpenSSL's verdict
 * needs the chain to end at a self-signed root (a registered intermediate
 * fails without partial-chain support), reads the system clock instead of the
 * hub's, and the `ca` option would also put the CAs' names in the TLS
 * CertificateRequest, which some client stacks use to decide not to send a
 * self-signed (thumbprint) certificate. Every check below uses node:crypto's
 * X509Certificate (checkIssued, verify, ca, validity); nothing parses ASN.1.
 */
import { X509Certificate } from 'node:crypto';
import { C2DError, errors } from '../../common/errors';

/** Longest path accepted from the device certificate to a registered CA (device, intermediates). */
export const MAX_CHAIN_DEPTH = 8;

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const unauthorized = (why: string): C2DError => errors.unauthorized(why);

/** `CN=name` of a certificate's subject (one line of X509Certificate.subject), or undefined. */
export function commonNameOf(x: X509Certificate): string | undefined {
  return /(?:^|\n)CN=([^\n]*)/.exec(x.subject)?.[1];
}

/** A short name for messages: the subject's CN, else the whole subject on one line. */
function nameOf(x: X509Certificate): string {
  const cn = commonNameOf(x);
  return cn !== undefined ? `CN=${cn}` : x.subject.replace(/\n/g, ', ');
}

/** Each certificate of PEM text (one or more blocks) or of a DER buffer. 400004 when there is none or one does not parse. */
export function parseCertificates(input: string | Buffer, what: string): X509Certificate[] {
  const text = Buffer.isBuffer(input) ? (input.includes('-----BEGIN') ? input.toString('utf8') : undefined) : input;
  const blocks = text === undefined ? [input as Buffer] : (text.match(PEM_BLOCK) ?? []);
  if (blocks.length === 0) throw errors.invalid(`${what} holds no PEM certificate (-----BEGIN CERTIFICATE-----).`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw errors.invalid(`${what}: certificate ${i + 1} cannot be read (${(e as Error).message}).`);
    }
  });
}

/** What one registered CA looks like to an operator (no secret in a certificate). */
export interface TrustedCaInfo {
  subject: string;
  fingerprint256: string;
  validTo: string;
}

export class TrustedCas {
  private readonly cas: X509Certificate[] = [];

  /**
   * Registers CA certificates, each entry PEM text (one or more certificates)
   * or DER. 400004 for anything that is not a certificate or not a CA
   * (basicConstraints CA:TRUE): a device certificate given by mistake would
   * otherwise let whoever holds its key mint devices.
   */
  constructor(inputs: readonly (string | Buffer)[] = []) {
    const seen = new Set<string>();
    for (const [i, input] of inputs.entries()) {
      for (const x of parseCertificates(input, `Trusted CA certificate ${i + 1}`)) {
        if (!x.ca)
          throw errors.invalid(`The certificate '${nameOf(x)}' is not a CA certificate (basicConstraints CA:TRUE), so it cannot be registered as a device CA.`);
        if (seen.has(x.fingerprint256)) continue;
        seen.add(x.fingerprint256);
        this.cas.push(x);
      }
    }
  }

  get size(): number {
    return this.cas.length;
  }

  list(): TrustedCaInfo[] {
    return this.cas.map((x) => ({ subject: nameOf(x), fingerprint256: x.fingerprint256, validTo: new Date(Date.parse(x.validTo)).toISOString() }));
  }

  /**
   * Throws 401003 with the reason unless `chain` (the device certificate
   * first, then what else the device sent, in any order) leads from a
   * certificate with CN=`deviceId` to a registered CA, every certificate on
   * the way valid at `nowMs`.
   */
  verifyDevice(deviceId: string, chain: readonly X509Certificate[], nowMs: number): void {
    const leaf = chain[0];
    if (!leaf) throw unauthorized('The device sent no client certificate.');
    const cn = commonNameOf(leaf);
    if (cn !== deviceId) {
      throw unauthorized(
        `The device certificate's subject is CN=${cn ?? '(none)'}, but a certificateAuthority device must present a certificate with CN=${deviceId}.`,
      );
    }
    if (this.cas.length === 0) throw unauthorized('No CA certificate is registered on this hub, so no certificateAuthority device can authenticate.');
    checkValidity(leaf, 'The device certificate', nowMs);
    const candidates = chain.slice(1);
    const used = new Set<X509Certificate>([leaf]);
    let current = leaf;
    for (let depth = 1; depth <= MAX_CHAIN_DEPTH; depth++) {
      const anchor = this.cas.find((ca) => issued(ca, current));
      if (anchor) {
        checkValidity(anchor, `The registered CA certificate '${nameOf(anchor)}'`, nowMs);
        return;
      }
      const next = candidates.find((c) => !used.has(c) && issued(c, current));
      if (!next) throw unauthorized(noIssuer(current, candidates, this.cas));
      if (!next.ca) throw unauthorized(`The certificate '${nameOf(next)}' signed '${nameOf(current)}' but is not a CA certificate (basicConstraints CA:TRUE).`);
      checkValidity(next, `The certificate '${nameOf(next)}' in the chain`, nowMs);
      used.add(next);
      current = next;
    }
    throw unauthorized(`The certificate chain is longer than ${MAX_CHAIN_DEPTH} certificates without reaching a registered CA.`);
  }
}

/** `issuer` names `child`'s issuer (names, key identifiers, key usage: OpenSSL's check_issued) and its key signed it. */
function issued(issuer: X509Certificate, child: X509Certificate): boolean {
  return child.checkIssued(issuer) && child.verify(issuer.publicKey);
}

function checkValidity(x: X509Certificate, what: string, nowMs: number): void {
  const from = Date.parse(x.validFrom);
  const to = Date.parse(x.validTo);
  if (!(nowMs >= from)) throw unauthorized(`${what} is not valid before ${new Date(from).toISOString()}.`);
  if (!(nowMs <= to)) throw unauthorized(`${what} expired at ${new Date(to).toISOString()}.`);
}

/** Why no issuer of `x` was found: says what the device should send or register. */
function noIssuer(x: X509Certificate, candidates: readonly X509Certificate[], cas: readonly X509Certificate[]): string {
  if (x.subject === x.issuer && x.verify(x.publicKey)) return `The chain ends at '${nameOf(x)}', which is not a CA certificate registered on this hub.`;
  const named = [...candidates, ...cas].find((c) => c !== x && c.subject === x.issuer);
  if (named && x.checkIssued(named))
    return `The certificate '${nameOf(x)}' names '${nameOf(named)}' as its issuer, but that certificate's key did not sign it.`;
  if (named)
    return `The certificate '${nameOf(named)}' has the name of the issuer of '${nameOf(x)}' but may not have issued it (it is not a CA with key usage keyCertSign, or its key identifier differs).`;
  return `No certificate sent or registered issued '${nameOf(x)}' (its issuer is ${x.issuer.replace(/\n/g, ', ')}): register that CA on the hub, or send the intermediate certificates with the device certificate.`;
}

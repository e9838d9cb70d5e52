/**
 * The facts of a TLS client certificate that X.509 device auth needs,
 * taken from a socket. Every protocol server uses this one function.
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { ClientCertificateInfo } from './api';
import { commonNameOf, MAX_CHAIN_DEPTH } from './engine/x509-ca';

/**
 * The certificates the peer sent after its own: Node links them leaf-first
 * through `issuerCertificate` (the last may be a CA of the server's own
 * store; the hub trusts none of them, only its registered CAs).
 */
function sentChain(tlsSocket: Partial<TLSSocket>, leaf: X509Certificate): X509Certificate[] {
  const chain = [leaf];
  if (typeof tlsSocket.getPeerCertificate !== 'function') return chain;
  const seen = new Set([leaf.fingerprint256]);
  let c: DetailedPeerCertificate | undefined = tlsSocket.getPeerCertificate(true)?.issuerCertificate;
  while (c?.raw && chain.length <= MAX_CHAIN_DEPTH) {
    const x = new X509Certificate(c.raw);
    if (seen.has(x.fingerprint256)) break; // a self-signed certificate is its own issuer
    seen.add(x.fingerprint256);
    chain.push(x);
    c = c.issuerCertificate;
  }
  return chain;
}

/** Hex thumbprints (upper case, no colons), the subject CN and the chain sent, or undefined when the peer sent no certificate. */
export function clientCertificateOf(socket: unknown): ClientCertificateInfo | undefined {
  const tlsSocket = socket as Partial<TLSSocket> | undefined;
  if (!tlsSocket || typeof tlsSocket.getPeerX509Certificate !== 'function') return undefined;
  const cert = tlsSocket.getPeerX509Certificate();
  if (!cert) return undefined;
  const cn = commonNameOf(cert);
  return {
    sha1Thumbprint: cert.fingerprint.replace(/:/g, '').toUpperCase(),
    sha256Thumbprint: cert.fingerprint256.replace(/:/g, '').toUpperCase(),
    ...(cn !== undefined ? { subjectCN: cn } : {}),
    chain: sentChain(tlsSocket, cert),
  };
}

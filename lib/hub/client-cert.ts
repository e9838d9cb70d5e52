/**
 * The facts of a TLS client certificate that X.509 device auth needs,
 * taken from a socket. Every protocol server uses this one function.
 *
 * Read through getPeerCertificate(true) only: on Node 20, once
 * getPeerX509Certificate() has been called on a server-side socket, the
 * detailed certificate no longer links to the intermediates the peer sent
 * (test/x509/transports.test.ts fails if this module reads them another way).
 */
import { X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import type { ClientCertificateInfo } from './api';
import { commonNameOf, MAX_CHAIN_DEPTH } from './engine/x509-ca';

/**
 * The peer's certificate, then the others it sent: Node links them leaf-first
 * through `issuerCertificate` (the last may come from the server's own CA
 * store; the hub trusts none of them, only its registered CAs).
 */
function peerChain(tlsSocket: Partial<TLSSocket>): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let c: DetailedPeerCertificate | undefined = tlsSocket.getPeerCertificate?.(true);
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
  if (!tlsSocket || typeof tlsSocket.getPeerCertificate !== 'function') return undefined;
  const chain = peerChain(tlsSocket);
  const cert = chain[0];
  if (!cert) return undefined;
  const cn = commonNameOf(cert);
  return {
    sha1Thumbprint: cert.fingerprint.replace(/:/g, '').toUpperCase(),
    sha256Thumbprint: cert.fingerprint256.replace(/:/g, '').toUpperCase(),
    ...(cn !== undefined ? { subjectCN: cn } : {}),
    chain,
  };
}

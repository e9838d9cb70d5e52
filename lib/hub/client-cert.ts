/**
 * The facts of a TLS client certificate that X.509 device auth needs,
 * taken from a socket. Every protocol server uses this one function.
 */
import type { TLSSocket } from 'node:tls';
import type { ClientCertificateInfo } from './api';

/** Hex thumbprints (upper case, no colons) and the subject CN, or undefined when the peer sent no certificate. */
export function clientCertificateOf(socket: unknown): ClientCertificateInfo | undefined {
  const tlsSocket = socket as Partial<TLSSocket> | undefined;
  if (!tlsSocket || typeof tlsSocket.getPeerX509Certificate !== 'function') return undefined;
  const cert = tlsSocket.getPeerX509Certificate();
  if (!cert) return undefined;
  const cn = /(?:^|\n)CN=([^\n]*)/.exec(cert.subject)?.[1];
  return {
    sha1Thumbprint: cert.fingerprint.replace(/:/g, '').toUpperCase(),
    sha256Thumbprint: cert.fingerprint256.replace(/:/g, '').toUpperCase(),
    ...(cn !== undefined ? { subjectCN: cn } : {}),
  };
}

import { isIP } from 'node:net';

/**
 * The TLS server name (SNI) to send for `host`: the host itself, or none for
 * an IP literal (RFC 6066 forbids IPs in SNI and Node warns; the certificate
 * is still checked against the IP). An empty string rather than an absent
 * field, because rhea fills an absent servername in from the host.
 */
export function tlsServerName(host: string): { servername: string } {
  return { servername: isIP(host) ? '' : host };
}

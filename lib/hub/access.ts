/**
 * Access decisions: what the hub's servers tell one observer (the
 * EmbeddedHub's `onAccess`) about connections they refuse and credentials
 * they accept or refuse. Logs and metrics are made from these events only,
 * so no server logs by itself. An event never carries a key, a token or a
 * signature: identities are device ids and policy names, reasons are the
 * hub's own words (which never echo a credential).
 */
import { C2DError, errors } from '../common/errors';

/** The client-side transport names (the servers' protocol names mapped by transportOf). */
export type AccessTransport = 'amqp' | 'amqp-ws' | 'mqtt' | 'mqtt-ws' | 'http';

/** Why a connection was refused before any credential was looked at. */
export type RefusalReason = 'max_connections' | 'tls_handshake';

/**
 * Why a credential was refused: a bounded set, so it can be a metric label.
 * `unauthorized` is anything the classifier does not name more precisely.
 */
export type AuthFailureReason =
  | 'expired_token'
  | 'bad_signature'
  | 'unknown_identity'
  | 'device_disabled'
  | 'wrong_resource'
  | 'not_permitted'
  | 'missing_credential'
  | 'malformed'
  | 'timeout'
  | 'unsupported'
  | 'unauthorized';

export type AuthMethod = 'sas' | 'x509' | 'bearer';

export type AccessEvent =
  | { type: 'connection-refused'; transport: AccessTransport; reason: RefusalReason; detail: string; remote?: string }
  | { type: 'auth-accepted'; transport: AccessTransport; method: AuthMethod; identity: string; kind: 'device' | 'service'; remote?: string }
  | { type: 'auth-refused'; transport: AccessTransport; reason: AuthFailureReason; code: number; detail: string; identity?: string; remote?: string };

export type AccessObserver = (event: AccessEvent) => void;

/** The servers' protocol names ('amqpws', 'https', listener names) as transports. */
export function transportOf(protocol: string): AccessTransport {
  switch (protocol) {
    case 'amqp':
    case 'amqps':
      return 'amqp';
    case 'amqpws':
    case 'amqp-ws':
      return 'amqp-ws';
    case 'mqtt':
    case 'mqtts':
      return 'mqtt';
    case 'mqtt-ws':
    case 'mqttws':
      return 'mqtt-ws';
    default:
      return 'http';
  }
}

/**
 * The reason label of a refused credential, from the hub's error. The
 * authenticator (engine/auth.ts) and the protocol checks say why in words;
 * these patterns sort those words, and test/hub/access.test.ts pins each one.
 */
const REASONS: ReadonlyArray<[RegExp, AuthFailureReason]> = [
  [/expired/i, 'expired_token'],
  [/signature does not match|does not match the device thumbprint|does not match the token/i, 'bad_signature'],
  [/disabled/i, 'device_disabled'],
  [/unknown device|not registered|no policy|unknown connection/i, 'unknown_identity'],
  [/does not cover|must name \{host\}\/devices/i, 'wrong_resource'],
  [/lacks|may not act for|cannot use|no token for/i, 'not_permitted'],
  [/missing|neither|no authorization header|no client certificate/i, 'missing_credential'],
  [/within \d+ ms/i, 'timeout'],
  [/module identit|does not accept bearer|unsupported/i, 'unsupported'],
  [/malformed|invalid|must be|must start|needs sr|appears twice|bad url encoding|client id|username/i, 'malformed'],
];

export function authFailureReason(message: string): AuthFailureReason {
  for (const [re, reason] of REASONS) if (re.test(message)) return reason;
  return 'unauthorized';
}

/** An auth-refused event from a thrown error (anything not a C2DError counts as 401003). */
export function refusal(transport: AccessTransport, err: unknown, extra: { identity?: string; remote?: string } = {}): AccessEvent {
  const e = err instanceof C2DError ? err : errors.unauthorized(err instanceof Error ? err.message : 'Authentication failed.');
  return { type: 'auth-refused', transport, reason: authFailureReason(e.message), code: e.code, detail: e.message, ...extra };
}

/** `address:port` of a socket-like object, when it has one. */
export function remoteOf(socket: unknown): string | undefined {
  const s = socket as { remoteAddress?: string; remotePort?: number } | undefined;
  if (!s?.remoteAddress) return undefined;
  return s.remoteAddress.includes(':') ? `[${s.remoteAddress}]:${s.remotePort}` : `${s.remoteAddress}:${s.remotePort}`;
}

/**
 * Where a client connects and how it proves who it is. A device has a SAS
 * key (tokens are minted and renewed here), a fixed SAS token (used until it
 * expires, never renewed), or an X.509 certificate (TLS client auth, no token).
 * A service has a policy key or an @azure/identity TokenCredential.
 * Secrets stay in this object; nothing here is ever logged.
 */
import * as tls from 'node:tls';
import { createSas, parseSas } from '../common/sas';
import { parseDeviceConnectionString, parseServiceConnectionString, splitHostPort } from '../common/connection-string';
import { errors } from '../common/errors';

/** Lifetime of minted SAS tokens: one hour, as the SDKs. */
export const DEFAULT_TOKEN_LIFETIME_MS = 60 * 60 * 1000;
/** Renew this long before expiry (the device SDK: 900 s of 3600 s). Capped at half the lifetime. */
export const DEFAULT_TOKEN_RENEWAL_MARGIN_MS = 15 * 60 * 1000;
/** Scope asked of a TokenCredential for IoT Hub data-plane access. */
export const IOTHUB_TOKEN_SCOPE = 'https://iothubs.azure.net/.default';

/**
 * A device's X.509 credential, as the TLS client certificate: a PEM `cert`
 * with its `key` (`cert` may be a bundle: the device certificate first, then
 * its intermediates, as a CA-signed device sends them), or a PKCS#12 `pfx`
 * file (the device certificate, its key and its intermediates). A `passphrase`
 * opens an encrypted key or the PFX.
 */
export type X509Credential =
  | { cert: string | Buffer; key: string | Buffer; passphrase?: string; pfx?: undefined }
  | { pfx: Buffer; passphrase?: string; cert?: undefined; key?: undefined };

/** What tls.connect takes for client authentication. */
export interface TlsClientAuth {
  cert?: string | Buffer;
  key?: string | Buffer;
  pfx?: Buffer;
  passphrase?: string;
}

export type DeviceAuth = { kind: 'sas-key'; key: string; keyName?: string } | { kind: 'sas-token'; token: string } | ({ kind: 'x509' } & X509Credential);

/** The tls.connect options of an X.509 credential (every transport passes these). */
export function tlsClientAuth(x: X509Credential | TlsClientAuth): TlsClientAuth {
  if (x.pfx !== undefined) return { pfx: x.pfx, ...(x.passphrase ? { passphrase: x.passphrase } : {}) };
  return { cert: x.cert, key: x.key, ...(x.passphrase ? { passphrase: x.passphrase } : {}) };
}

/**
 * Loads the credential as TLS will, so a wrong pass phrase, a key that is not
 * the certificate's, or a damaged PFX fails here with words, not at connect.
 */
function checkX509(x: unknown): X509Credential {
  const v = (x ?? {}) as Partial<TlsClientAuth>;
  const pem = v.cert !== undefined || v.key !== undefined;
  if (pem === (v.pfx !== undefined))
    throw errors.invalid('An X.509 credential is a certificate with its private key (cert, key) or a PFX file (pfx), not both.');
  if (pem && (v.cert === undefined || v.key === undefined)) throw errors.invalid('An X.509 certificate needs its private key (give both cert and key).');
  if (v.pfx !== undefined && !Buffer.isBuffer(v.pfx)) throw errors.invalid('pfx must be a Buffer with the bytes of the PKCS#12 file.');
  const opts = tlsClientAuth(v);
  try {
    tls.createSecureContext(opts);
  } catch (e) {
    const reason = (e as Error).message.replace(/^error:[0-9A-F]+:/i, '');
    const hint =
      v.pfx !== undefined
        ? 'the PFX cannot be opened: a wrong or missing pass phrase, or not a PKCS#12 file'
        : /mismatch/i.test(reason)
          ? 'the private key does not belong to the certificate (a bundle must start with the device certificate, then its intermediates)'
          : 'the certificate or key cannot be read: not PEM, or an encrypted key with a wrong or missing pass phrase';
    throw errors.invalid(`The X.509 credential cannot be used: ${hint} (${reason}).`);
  }
  return opts as X509Credential;
}

export interface DeviceParts {
  /** `host` or `host:port` (a port works on every transport here). */
  hostName: string;
  deviceId: string;
  /** Connect here instead of HostName (IoT Edge gateway). */
  gatewayHostName?: string;
  sharedAccessKey?: string;
  sharedAccessKeyName?: string;
  sharedAccessSignature?: string;
  x509?: X509Credential;
}

export interface IssuedToken {
  token: string;
  /** Epoch ms at which the hub stops accepting it. */
  expiresAtMs: number;
}

/** Minimal shape of @azure/identity's TokenCredential (so the core does not import it). */
export interface TokenCredential {
  getToken(scopes: string | string[], options?: unknown): Promise<{ token: string; expiresOnTimestamp: number } | null>;
}

export interface TokenTiming {
  tokenLifetimeMs?: number;
  tokenRenewalMarginMs?: number;
  /** Wall-clock source for token expiry (default Date.now). */
  now?: () => number;
}

/** When to renew a token issued now that expires at `expiresAtMs`. */
export function renewalDelayMs(issuedAtMs: number, expiresAtMs: number, marginMs: number): number {
  const life = Math.max(0, expiresAtMs - issuedAtMs);
  return Math.max(1000, life - Math.min(marginMs, life / 2));
}

export class DeviceCredentials {
  readonly host: string;
  readonly port: number | undefined;
  readonly deviceId: string;
  readonly auth: DeviceAuth;
  readonly tokenLifetimeMs: number;
  readonly tokenRenewalMarginMs: number;
  private readonly now: () => number;

  constructor(parts: DeviceParts, timing: TokenTiming = {}) {
    const target = splitHostPort(parts.gatewayHostName ?? parts.hostName);
    this.host = target.host;
    this.port = target.port;
    this.deviceId = parts.deviceId;
    if (!parts.deviceId) throw errors.invalid('A device id is required.');
    const given = [parts.sharedAccessKey, parts.sharedAccessSignature, parts.x509].filter((v) => v !== undefined).length;
    if (given !== 1) throw errors.invalid('Give exactly one of a SAS key, a SAS token or an X.509 certificate.');
    if (parts.sharedAccessKey !== undefined)
      this.auth = { kind: 'sas-key', key: parts.sharedAccessKey, ...(parts.sharedAccessKeyName ? { keyName: parts.sharedAccessKeyName } : {}) };
    else if (parts.sharedAccessSignature !== undefined) this.auth = { kind: 'sas-token', token: parts.sharedAccessSignature };
    else this.auth = { kind: 'x509', ...checkX509(parts.x509) };
    this.tokenLifetimeMs = timing.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
    this.tokenRenewalMarginMs = timing.tokenRenewalMarginMs ?? DEFAULT_TOKEN_RENEWAL_MARGIN_MS;
    this.now = timing.now ?? Date.now;
    // The token's own hub name goes in `sr` (no port: the hub compares host names).
    this.hubHostForToken = splitHostPort(parts.hostName).host;
  }

  private readonly hubHostForToken: string;

  static fromConnectionString(cs: string, timing?: TokenTiming, x509?: DeviceParts['x509']): DeviceCredentials {
    const p = parseDeviceConnectionString(cs);
    if (p.x509 && !x509) throw errors.invalid('x509=true: give the certificate and key (or a PFX) in options.x509.');
    return new DeviceCredentials(
      {
        hostName: p.HostName,
        deviceId: p.DeviceId,
        ...(p.GatewayHostName ? { gatewayHostName: p.GatewayHostName } : {}),
        ...(p.SharedAccessKey ? { sharedAccessKey: p.SharedAccessKey } : {}),
        ...(p.SharedAccessKeyName ? { sharedAccessKeyName: p.SharedAccessKeyName } : {}),
        ...(p.SharedAccessSignature ? { sharedAccessSignature: p.SharedAccessSignature } : {}),
        ...(p.x509 ? { x509 } : {}),
      },
      timing,
    );
  }

  /** The `sr` of device tokens, unencoded: `{host}/devices/{deviceId}` (sdk-wire.md §2.2). */
  get resource(): string {
    return `${this.hubHostForToken}/devices/${this.deviceId}`;
  }

  /** The hub's host name as written in tokens and MQTT usernames. */
  get hubHostName(): string {
    return this.hubHostForToken;
  }

  get usesToken(): boolean {
    return this.auth.kind !== 'x509';
  }

  /** Whether a fresh token can be made (a key); a given token cannot be renewed. */
  get canRenew(): boolean {
    return this.auth.kind === 'sas-key';
  }

  /** A token valid from now: minted from the key, or the given one. */
  issueToken(): IssuedToken {
    if (this.auth.kind === 'sas-key') {
      const expiry = Math.floor((this.now() + this.tokenLifetimeMs) / 1000);
      return { token: createSas(this.resource, this.auth.key, expiry, this.auth.keyName), expiresAtMs: expiry * 1000 };
    }
    if (this.auth.kind === 'sas-token') return { token: this.auth.token, expiresAtMs: parseSas(this.auth.token).expiry * 1000 };
    throw errors.invalid('An X.509 device has no token.');
  }

  nowMs(): number {
    return this.now();
  }

  renewalDelay(t: IssuedToken): number | undefined {
    if (!this.canRenew) return undefined;
    return renewalDelayMs(this.now(), t.expiresAtMs, this.tokenRenewalMarginMs);
  }
}

export type ServiceAuth =
  { kind: 'sas-key'; keyName: string; key: string } | { kind: 'sas-token'; token: string } | { kind: 'entra'; credential: TokenCredential };

export class ServiceCredentials {
  /** Where to connect. */
  readonly host: string;
  /** The hub's host name as tokens name it (`sr`). */
  readonly tokenHost: string;
  readonly port: number | undefined;
  readonly hostName: string;
  readonly tokenLifetimeMs: number;
  readonly tokenRenewalMarginMs: number;
  private readonly now: () => number;

  /**
   * `gatewayHostName`: connect there (`host` or `host:port`) instead of
   * `hostName`, which still names the hub in tokens (as a device's GatewayHostName).
   */
  constructor(
    hostName: string,
    readonly auth: ServiceAuth,
    timing: TokenTiming = {},
    gatewayHostName?: string,
  ) {
    const hp = splitHostPort(gatewayHostName ?? hostName);
    this.hostName = hostName;
    this.host = hp.host;
    this.port = hp.port;
    this.tokenHost = splitHostPort(hostName).host;
    this.tokenLifetimeMs = timing.tokenLifetimeMs ?? DEFAULT_TOKEN_LIFETIME_MS;
    this.tokenRenewalMarginMs = timing.tokenRenewalMarginMs ?? DEFAULT_TOKEN_RENEWAL_MARGIN_MS;
    this.now = timing.now ?? Date.now;
  }

  static fromConnectionString(cs: string, timing?: TokenTiming): ServiceCredentials {
    const p = parseServiceConnectionString(cs);
    const auth: ServiceAuth = p.SharedAccessSignature
      ? { kind: 'sas-token', token: p.SharedAccessSignature }
      : { kind: 'sas-key', keyName: p.SharedAccessKeyName as string, key: p.SharedAccessKey as string };
    return new ServiceCredentials(p.HostName, auth, timing);
  }

  /**
   * The token to put: a policy SAS with `sr` = the raw host (sdk-wire.md §5.1),
   * or `Bearer <jwt>` from the TokenCredential with scope iothubs.azure.net.
   */
  async issueToken(): Promise<IssuedToken & { type: 'sas' | 'jwt' }> {
    if (this.auth.kind === 'sas-key') {
      const expiry = Math.floor((this.now() + this.tokenLifetimeMs) / 1000);
      return { type: 'sas', token: createSas(this.tokenHost, this.auth.key, expiry, this.auth.keyName), expiresAtMs: expiry * 1000 };
    }
    if (this.auth.kind === 'sas-token') return { type: 'sas', token: this.auth.token, expiresAtMs: parseSas(this.auth.token).expiry * 1000 };
    const t = await this.auth.credential.getToken(IOTHUB_TOKEN_SCOPE);
    if (!t) throw errors.unauthorized('The TokenCredential returned no token.');
    return { type: 'jwt', token: `Bearer ${t.token}`, expiresAtMs: t.expiresOnTimestamp };
  }

  nowMs(): number {
    return this.now();
  }

  get canRenew(): boolean {
    return this.auth.kind !== 'sas-token';
  }

  renewalDelay(t: IssuedToken): number | undefined {
    if (!this.canRenew) return undefined;
    return renewalDelayMs(this.now(), t.expiresAtMs, this.tokenRenewalMarginMs);
  }
}

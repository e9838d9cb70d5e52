/**
 * Shared access signatures (c2d-semantics.md §6.1):
 *   SharedAccessSignature sr={url-encoded resource}&sig={url-encoded sig}&se={expiry}[&skn={policy}]
 * sig = base64(HMAC-SHA256(base64decode(key), sr-as-written + "\n" + se)).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { errors } from './errors';

export const SAS_PREFIX = 'SharedAccessSignature';
/** Tokens are accepted up to this long past `se` (clock skew, as the IoT SDKs' token class). */
export const SAS_CLOCK_SKEW_MS = 5 * 60 * 1000;

/** Hub policy rights, as IoT Hub names them (wire enum: RegistryRead=1, RegistryWrite=3, ServiceConnect=4, DeviceConnect=8). */
export type Right = 'RegistryRead' | 'RegistryWrite' | 'ServiceConnect' | 'DeviceConnect';
export const RIGHTS: readonly Right[] = ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'];

export interface ParsedSas {
  /** `sr` exactly as written in the token (still URL-encoded): what was signed. */
  rawResource: string;
  /** `sr` URL-decoded. */
  resource: string;
  signature: string;
  /** Expiry, seconds since the epoch. */
  expiry: number;
  keyName?: string;
}

function sign(rawResource: string, expiry: number, base64Key: string): string {
  return createHmac('sha256', Buffer.from(base64Key, 'base64')).update(`${rawResource}\n${expiry}`).digest('base64');
}

/**
 * Creates a token for `resource` (e.g. `myhub.azure-devices.net/devices/dev1`,
 * not yet encoded) valid until `expiry` seconds since the epoch.
 */
export function createSas(resource: string, base64Key: string, expiry: number, keyName?: string): string {
  const sr = encodeURIComponent(resource);
  const sig = encodeURIComponent(sign(sr, expiry, base64Key));
  return `${SAS_PREFIX} sr=${sr}&sig=${sig}&se=${expiry}${keyName ? `&skn=${encodeURIComponent(keyName)}` : ''}`;
}

/** Parses a token; throws 401003 naming what is wrong. Does not check the signature. */
export function parseSas(token: string): ParsedSas {
  if (typeof token !== 'string' || token.length > 4096) throw errors.unauthorized('Malformed SAS token.');
  const t = token.trim();
  if (!t.startsWith(`${SAS_PREFIX} `)) throw errors.unauthorized(`A SAS token must start with '${SAS_PREFIX} '.`);
  const fields = new Map<string, string>();
  for (const part of t.slice(SAS_PREFIX.length + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw errors.unauthorized('Malformed SAS token field.');
    const name = part.slice(0, eq).toLowerCase();
    if (fields.has(name)) throw errors.unauthorized(`SAS token field '${name}' appears twice.`);
    fields.set(name, part.slice(eq + 1));
  }
  const rawResource = fields.get('sr');
  const sig = fields.get('sig');
  const se = fields.get('se');
  if (!rawResource || !sig || !se) throw errors.unauthorized('A SAS token needs sr, sig and se.');
  if (!/^\d{1,12}$/.test(se)) throw errors.unauthorized('SAS token expiry (se) must be whole seconds since the epoch.');
  let resource: string;
  let signature: string;
  let keyName: string | undefined;
  try {
    resource = decodeURIComponent(rawResource);
    signature = decodeURIComponent(sig);
    // `skn=` with nothing after it is no policy name: the Azure IoT C SDK ends every device token it makes for HTTPS so.
    const skn = fields.get('skn');
    keyName = skn === undefined || skn === '' ? undefined : decodeURIComponent(skn);
  } catch {
    throw errors.unauthorized('SAS token has a bad URL encoding.');
  }
  return { rawResource, resource, signature, expiry: Number(se), keyName };
}

/** Whether the token's signature was made with one of `base64Keys`, compared in constant time. */
export function sasSignedWith(parsed: ParsedSas, base64Keys: readonly (string | undefined)[]): boolean {
  const given = Buffer.from(parsed.signature, 'base64');
  let ok = false;
  for (const key of base64Keys) {
    if (!key) continue;
    const expected = Buffer.from(sign(parsed.rawResource, parsed.expiry, key), 'base64');
    // Compare every key (no early exit) so timing does not tell which one matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}

export function sasExpired(parsed: ParsedSas, nowMs: number, skewMs = SAS_CLOCK_SKEW_MS): boolean {
  return parsed.expiry * 1000 + skewMs < nowMs;
}

/**
 * Whether `resource` (decoded sr) covers `target` (host plus path, decoded):
 * host compared case-insensitively, path by whole segments (`/a/b` covers
 * `/a/b/c`, not `/a/bc`). A port on either host is ignored.
 */
export function sasCovers(resource: string, target: string): boolean {
  const split = (s: string): [string, string[]] => {
    const noScheme = s.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
    const [host = '', ...path] = noScheme.split('/');
    return [host.replace(/:\d+$/, '').toLowerCase(), path.filter((p) => p !== '')];
  };
  const [rh, rp] = split(resource);
  const [th, tp] = split(target);
  if (rh !== th) return false;
  if (rp.length > tp.length) return false;
  return rp.every((seg, i) => seg === tp[i]);
}

/** A fresh random key, base64 of 32 bytes, as IoT Hub generates. */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

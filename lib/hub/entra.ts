/**
 * Microsoft Entra (Azure AD) bearer tokens for the embedded hub: the
 * `verifyBearerToken` hook of the AMQP server (`Bearer <jwt>` on $cbs, type
 * `jwt`, from ServiceClient.fromTokenCredential) and of the HTTPS service
 * routes (`Authorization: Bearer <jwt>`: registry, purge, feedback). It
 * checks the JWT's signature against a configured public key, a JWKS (a
 * JSON Web Key Set, e.g. from a file: `c2d-hub --trust-jwks`) or a JWKS URL, its audience
 * (`https://iothubs.azure.net`, what the scope `.../.default` yields) and
 * expiry, and maps its `roles` claim to hub rights.
 *
 * Role mapping (Azure's built-in IoT Hub data-plane roles; both the display
 * name and the same name without spaces are accepted):
 *   IoT Hub Data Contributor      -> RegistryRead, RegistryWrite, ServiceConnect, DeviceConnect
 *   IoT Hub Registry Contributor  -> RegistryRead, RegistryWrite
 *   IoT Hub Data Reader           -> RegistryRead
 *   IoT Hub Twin Contributor      -> RegistryRead (twins are not modelled here)
 *   IoT Hub Service Connect       -> ServiceConnect (this hub's name for send + feedback only)
 * Azure itself decides from role assignments, not from a claim; a local hub
 * has no role assignments, so the token's `roles` claim stands in for them.
 */
import type { KeyObject } from 'node:crypto';
import { errors } from '../common/errors';
import type { Right } from '../common/sas';
import type { Principal } from './api';
import type { BearerVerifier } from './amqp/peer';

export const IOTHUB_AUDIENCE = 'https://iothubs.azure.net';

export const ENTRA_ROLE_RIGHTS: Readonly<Record<string, readonly Right[]>> = {
  'IoT Hub Data Contributor': ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'],
  'IoT Hub Registry Contributor': ['RegistryRead', 'RegistryWrite'],
  'IoT Hub Data Reader': ['RegistryRead'],
  'IoT Hub Twin Contributor': ['RegistryRead'],
  'IoT Hub Service Connect': ['ServiceConnect'],
};

const BY_NAME = new Map<string, readonly Right[]>();
for (const [name, rights] of Object.entries(ENTRA_ROLE_RIGHTS)) {
  BY_NAME.set(name.toLowerCase(), rights);
  BY_NAME.set(name.replace(/\s+/g, '').toLowerCase(), rights);
}

/** A JSON Web Key Set: `{ "keys": [ <JWK>, ... ] }` (RFC 7517 §5), as an issuer publishes it. */
export interface JsonWebKeySet {
  keys: Array<Record<string, unknown>>;
}

export interface EntraOptions {
  /** The issuer's public key (a KeyObject, or PEM SPKI text). Give this, `jwks` or `jwksUrl`. */
  publicKey?: KeyObject | string;
  /** The issuer's signing keys as a JWKS (the `kid` of a token picks its key). */
  jwks?: JsonWebKeySet;
  /** A JWKS endpoint (e.g. `https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys`). */
  jwksUrl?: string;
  /** Expected `iss` (e.g. `https://sts.windows.net/{tenant}/`); unchecked when absent. */
  issuer?: string;
  /** Accepted audiences (default IOTHUB_AUDIENCE, with and without a trailing slash). */
  audience?: string | string[];
  /** Time source in ms (the hub's clock), default Date.now. */
  now?: () => number;
  /** Allowed clock skew in seconds (default 300, as SAS). */
  clockToleranceS?: number;
}

/** The rights a `roles` claim grants (unknown roles grant nothing). */
export function rightsForRoles(roles: unknown): Set<Right> {
  const out = new Set<Right>();
  for (const r of Array.isArray(roles) ? roles : []) {
    if (typeof r !== 'string') continue;
    for (const right of BY_NAME.get(r.toLowerCase()) ?? []) out.add(right);
  }
  return out;
}

/** Checks a parsed JWKS file's shape (400004 with what is wrong): an object with a non-empty `keys` array of objects. */
export function assertJwks(v: unknown, where = 'The JWKS'): asserts v is JsonWebKeySet {
  const keys = (v as { keys?: unknown } | null)?.keys;
  if (
    typeof v !== 'object' ||
    v === null ||
    !Array.isArray(keys) ||
    keys.length === 0 ||
    keys.some((k) => typeof k !== 'object' || k === null || Array.isArray(k))
  ) {
    throw errors.invalid(`${where} must be a JSON Web Key Set: an object { "keys": [ ... ] } with at least one key.`);
  }
}

export function createEntraVerifier(o: EntraOptions): BearerVerifier {
  if (!o.publicKey && !o.jwks && !o.jwksUrl) throw errors.invalid('Entra verification needs a public key, a JWKS or a JWKS URL.');
  if (o.jwks) assertJwks(o.jwks);
  // jose is ESM-only: loaded on first use.
  const jose = import('jose');
  let keyResolver: Promise<unknown> | undefined;
  const key = async (): Promise<unknown> => {
    const j = await jose;
    if (o.jwks) return j.createLocalJWKSet(o.jwks as never);
    if (o.jwksUrl) return j.createRemoteJWKSet(new URL(o.jwksUrl));
    if (typeof o.publicKey === 'string') return j.importSPKI(o.publicKey, 'RS256');
    return o.publicKey as KeyObject;
  };
  const audience = o.audience ?? [IOTHUB_AUDIENCE, `${IOTHUB_AUDIENCE}/`];
  return async (token: string): Promise<Principal> => {
    const j = await jose;
    keyResolver ??= key();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await j.jwtVerify(token, (await keyResolver) as never, {
        audience,
        ...(o.issuer ? { issuer: o.issuer } : {}),
        currentDate: new Date((o.now ?? Date.now)()),
        clockTolerance: o.clockToleranceS ?? 300,
      }));
    } catch (e) {
      // jose's message says what failed (signature, "exp" claim, "aud" claim) and holds no secret.
      throw errors.unauthorized(`Bearer token refused: ${(e as Error).message}`);
    }
    const rights = rightsForRoles(payload.roles);
    if (rights.size === 0) throw errors.unauthorized('Bearer token has no IoT Hub data-plane role (roles claim).');
    const who = typeof payload.oid === 'string' ? payload.oid : typeof payload.sub === 'string' ? payload.sub : 'entra';
    return { kind: 'service', keyName: `entra:${who}`, rights, ...(typeof payload.exp === 'number' ? { expiresAtMs: payload.exp * 1000 } : {}) };
  };
}

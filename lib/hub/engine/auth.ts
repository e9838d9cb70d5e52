/**
 * Authenticator: SAS tokens, X.509 thumbprints (selfSigned) and X.509 chains
 * to a registered CA (certificateAuthority, see x509-ca.ts) against the
 * registry (c2d-semantics.md §6). Every failure is 401003 IotHubUnauthorized; the
 * message says what was wrong but never echoes a key or a signature.
 *
 * Host rule (decided here): the host part of `sr` is NOT checked against the
 * hub name. Clients reach a local hub as `localhost`, `127.0.0.1:8883`, a LAN
 * name or the hub name, so we are permissive on host and strict on what a
 * token grants: the device path (`/devices/{id}`, by whole segments), the
 * signature (the device's or the policy's own keys) and the expiry.
 */
import type { Clock } from '../../common/clock';
import { C2DError, errors } from '../../common/errors';
import { parseSas, SAS_CLOCK_SKEW_MS, sasCovers, sasExpired, sasSignedWith, type Right } from '../../common/sas';
import type { Authenticator, ClientCertificateInfo, Principal } from '../api';
import type { DeviceRegistry } from './registry';
import { TrustedCas } from './x509-ca';

const unauthorized = (why: string): C2DError => errors.unauthorized(why);

/** Splits a decoded `sr` into host and path segments (scheme and port dropped). */
function splitResource(resource: string): { host: string; path: string[] } {
  const noScheme = resource.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const [host = '', ...rest] = noScheme.split('/');
  return { host, path: rest.filter((s) => s !== '') };
}

export class HubAuthenticator implements Authenticator {
  constructor(
    private readonly registry: DeviceRegistry,
    private readonly clock: Clock,
    /** The CA certificates given to the hub: the only anchors for certificateAuthority devices. */
    readonly trustedCas: TrustedCas = new TrustedCas(),
    /** Refuses a device for a while (an injected InvokeAuthError, engine/faults.ts); throws 401003. */
    private readonly gate: (deviceId: string) => void = () => undefined,
  ) {}

  authenticateSas(token: string, audience?: string): Principal {
    const parsed = parseSas(token);
    if (sasExpired(parsed, this.clock.now())) throw unauthorized('The SAS token has expired.');
    const expiresAtMs = parsed.expiry * 1000;
    const { host, path } = splitResource(parsed.resource);
    if (audience !== undefined) {
      // Compare paths only: the audience's host is whatever the client dialled (see the host rule above).
      const a = splitResource(audience);
      if (!sasCovers(`${host}/${path.join('/')}`, `${host}/${a.path.join('/')}`)) throw unauthorized('The SAS token does not cover this resource.');
    }
    if (parsed.keyName === undefined) {
      // Device token: sr must name exactly one device, {host}/devices/{id}.
      if (path.length !== 2 || path[0]!.toLowerCase() !== 'devices') throw unauthorized('A device token must name {host}/devices/{deviceId}.');
      const deviceId = path[1]!;
      const d = this.registry.record(deviceId);
      if (!d || d.authentication.type !== 'sas') throw unauthorized('Unknown device or device not using SAS.');
      if (!sasSignedWith(parsed, [d.authentication.symmetricKey.primaryKey ?? undefined, d.authentication.symmetricKey.secondaryKey ?? undefined])) {
        throw unauthorized('The SAS token signature does not match.');
      }
      if (d.status !== 'enabled') throw unauthorized('The device is disabled.');
      this.gate(deviceId);
      return { kind: 'device', deviceId, via: 'sas', expiresAtMs };
    }
    const policy = this.registry.getPolicy(parsed.keyName);
    if (!policy || !sasSignedWith(parsed, [policy.primaryKey, policy.secondaryKey])) throw unauthorized('The SAS token signature does not match.');
    return { kind: 'service', keyName: policy.keyName, rights: new Set<Right>(policy.rights), expiresAtMs };
  }

  authenticateX509(deviceId: string, cert: ClientCertificateInfo): Principal {
    const d = this.registry.record(deviceId);
    if (!d) throw unauthorized(`Device '${deviceId}' is not registered.`);
    const type = d.authentication.type;
    if (type !== 'selfSigned' && type !== 'certificateAuthority')
      throw unauthorized(`Device '${deviceId}' authenticates with ${type}, not with an X.509 certificate.`);
    if (d.status !== 'enabled') throw unauthorized('The device is disabled.');
    this.gate(deviceId);
    if (type === 'certificateAuthority') {
      this.trustedCas.verifyDevice(deviceId, cert.chain ?? [], this.clock.now());
      return { kind: 'device', deviceId, via: 'x509' };
    }
    const given = [cert.sha1Thumbprint, cert.sha256Thumbprint].filter(Boolean).map((t) => t.toUpperCase());
    const known = [d.authentication.x509Thumbprint.primaryThumbprint, d.authentication.x509Thumbprint.secondaryThumbprint]
      .filter((t): t is string => !!t)
      .map((t) => t.toUpperCase());
    if (!given.some((g) => known.includes(g))) throw unauthorized('The client certificate does not match the device thumbprint.');
    return { kind: 'device', deviceId, via: 'x509' };
  }

  assertDevice(p: Principal, deviceId: string): void {
    this.assertLive(p);
    if (p.kind === 'device') {
      if (p.deviceId !== deviceId) throw unauthorized(`This identity may not act for device '${deviceId}'.`);
      const d = this.registry.record(deviceId);
      if (!d || d.status !== 'enabled') throw unauthorized('The device is unknown or disabled.');
      this.gate(deviceId);
      return;
    }
    if (!p.rights.has('DeviceConnect')) throw unauthorized('The policy lacks DeviceConnect.');
    this.gate(deviceId);
  }

  assertRight(p: Principal, right: Right): void {
    this.assertLive(p);
    if (p.kind !== 'service') throw unauthorized(`A device token cannot use ${right}.`);
    // RegistryWrite implies RegistryRead on IoT Hub (wire enum RegistryWrite = RegistryRead | 2).
    const ok = p.rights.has(right) || (right === 'RegistryRead' && p.rights.has('RegistryWrite'));
    if (!ok) throw unauthorized(`The policy '${p.keyName}' lacks ${right}.`);
  }

  private assertLive(p: Principal): void {
    if (p.expiresAtMs !== undefined && p.expiresAtMs + SAS_CLOCK_SKEW_MS < this.clock.now()) throw unauthorized('The SAS token has expired.');
  }
}

/**
 * Who one AMQP connection speaks for. A connection collects principals: one
 * per CBS audience (renewed by a later put-token for the same audience), one
 * from SASL PLAIN, one per X.509 device. Links ask it for the principal they
 * need; when a token expires without renewal, `onExpired` lets the server
 * recheck its links (CBS tokens are renewed in-band: sdk-wire.md §2.2).
 * It is also where the connection's access decisions are reported: every
 * principal accepted comes through add(), every refusal through refused().
 */
import type { Cancel, Clock } from '../../common/clock';
import { C2DError, errors } from '../../common/errors';
import { SAS_CLOCK_SKEW_MS, type Right } from '../../common/sas';
import type { ClientCertificateInfo, HubApi, Principal } from '../api';
import { refusal, type AccessObserver, type AccessTransport, type AuthMethod } from '../access';

/** When a principal stops counting: its token's expiry plus the clock skew the hub's token check allows. */
function expiryOf(p: Principal): number {
  return p.expiresAtMs === undefined ? Infinity : p.expiresAtMs + SAS_CLOCK_SKEW_MS;
}

export class ConnectionAuth {
  private readonly principals = new Map<string, Principal>();
  private cancelExpiry: Cancel | undefined;
  /** Refusals already reported (an X.509 refusal is thrown on to the link that asked). */
  private readonly reported = new WeakSet<object>();
  /** Devices this connection has acted for (reported connected to the hub). */
  readonly devices = new Set<string>();
  everAuthenticated = false;

  constructor(
    private readonly hub: HubApi,
    private readonly clock: Clock,
    private readonly clientCert: ClientCertificateInfo | undefined,
    private readonly onExpired: () => void,
    private readonly onDevice: (deviceId: string) => void,
    private readonly access: { observe: AccessObserver; transport: AccessTransport; remote?: string } | undefined = undefined,
  ) {}

  /** Adds or renews the principal for `key` (a CBS audience, 'sasl', ...), proven by `method`. */
  add(key: string, p: Principal, method: AuthMethod): void {
    this.access?.observe({
      type: 'auth-accepted',
      transport: this.access.transport,
      method,
      identity: p.kind === 'device' ? p.deviceId : p.keyName,
      kind: p.kind,
      ...(this.access.remote ? { remote: this.access.remote } : {}),
    });
    this.principals.set(key, p);
    this.everAuthenticated = true;
    if (p.kind === 'device') this.noteDevice(p.deviceId);
    this.armExpiry();
  }

  /** A principal allowed to act as `deviceId`; an X.509 client certificate is tried last. Throws 401003. */
  forDevice(deviceId: string): Principal {
    let last: unknown;
    for (const p of this.live()) {
      try {
        this.hub.auth.assertDevice(p, deviceId);
        return p;
      } catch (e) {
        last = e;
      }
    }
    if (this.clientCert) {
      let p: Principal;
      try {
        p = this.hub.auth.authenticateX509(deviceId, this.clientCert);
      } catch (e) {
        this.refused(e, deviceId);
        throw e;
      }
      this.add(`x509:${deviceId}`, p, 'x509');
      return p;
    }
    throw last instanceof C2DError ? last : errors.unauthorized(`This connection has no token for device '${deviceId}'; send a put-token on $cbs first.`);
  }

  /** A principal holding `right` (a hub policy). Throws 401003. */
  withRight(right: Right): Principal {
    for (const p of this.live()) {
      try {
        this.hub.auth.assertRight(p, right);
        return p;
      } catch {
        // try the next principal
      }
    }
    throw errors.unauthorized(`This connection has no token for a policy with ${right}; send a put-token on $cbs first.`);
  }

  /** Reports a refused credential or a missing right (401003 and its reason; never the credential). */
  refused(err: unknown, identity?: string): void {
    if (!this.access || (typeof err === 'object' && err !== null && this.reported.has(err))) return;
    if (typeof err === 'object' && err !== null) this.reported.add(err);
    this.access.observe(
      refusal(this.access.transport, err, { ...(identity !== undefined ? { identity } : {}), ...(this.access.remote ? { remote: this.access.remote } : {}) }),
    );
  }

  noteDevice(deviceId: string): void {
    if (this.devices.has(deviceId)) return;
    this.devices.add(deviceId);
    this.onDevice(deviceId);
  }

  dispose(): void {
    this.cancelExpiry?.();
    this.cancelExpiry = undefined;
    this.principals.clear();
  }

  private *live(): Iterable<Principal> {
    const now = this.clock.now();
    for (const p of this.principals.values()) if (expiryOf(p) > now) yield p;
  }

  /** One deadline: the earliest expiry among the principals held. */
  private armExpiry(): void {
    this.cancelExpiry?.();
    this.cancelExpiry = undefined;
    let next = Infinity;
    for (const p of this.principals.values()) next = Math.min(next, expiryOf(p));
    if (next === Infinity) return;
    this.cancelExpiry = this.clock.at(next, () => {
      this.cancelExpiry = undefined;
      const now = this.clock.now();
      for (const [k, p] of this.principals) if (expiryOf(p) <= now) this.principals.delete(k);
      this.armExpiry();
      this.onExpired();
    });
  }
}

/**
 * SASL for one connection (c2d-semantics.md §5.1). The official SDKs send no
 * SASL at all (AMQP header straight after TLS) and authenticate through CBS;
 * rhea's "selective" server layer accepts that as long as ANONYMOUS is
 * offered. PLAIN carries a SAS token as the password, with the username
 * `{policy}@sas.root.{hub}` or `{deviceId}@sas.{hub}`. EXTERNAL is offered
 * when the TLS peer sent a certificate; the device is then checked (by
 * thumbprint, or its chain up to a registered CA) when it attaches its link
 * (X.509 needs no token).
 *
 * MSSBCBS is what azure-uamqp-c (the Azure IoT C SDK, Python's uamqp) uses:
 * it insists on finding that name in the server's list, sends sasl-init
 * with no initial response, takes no challenge, and authenticates only
 * afterwards with put-token on `$cbs` (saslclientio.c, sasl_mssbcbs.c). So
 * the outcome is ok and proves nothing: as with no SASL at all, the
 * connection can do nothing until a put-token authorizes it, and is closed
 * by the auth timeout if none comes.
 */
import { C2DError, errors } from '../../common/errors';
import { saslServerMechanisms, type SaslServerMechanisms } from '../../common/rhea-internals';
import type { HubApi, Principal } from '../api';

/** The mechanism name azure-uamqp-c looks for (compared byte for byte). */
export const SASL_MSSBCBS = 'MSSBCBS';

/** Splits `user\0authcid\0password`-style PLAIN responses (authzid may be empty). */
function plainFields(response: Buffer | undefined): [string, string] | undefined {
  if (!response) return undefined;
  const parts = response.toString('utf8').split('\0');
  return parts.length === 3 ? [parts[1], parts[2]] : undefined;
}

/** Checks that a PLAIN username names the principal the token proves. Throws 401003. */
export function assertPlainUser(username: string, p: Principal): void {
  const policy = /^(.+)@sas\.root\.[^@]+$/.exec(username);
  if (policy) {
    if (p.kind === 'service' && p.keyName === policy[1]) return;
  } else {
    const device = /^(.+)@sas\.[^@]+$/.exec(username);
    if (device && p.kind === 'device' && p.deviceId === device[1]) return;
  }
  throw errors.unauthorized('The SASL PLAIN user name does not match the token.');
}

/**
 * The mechanisms to offer; `onPrincipal` receives what PLAIN proved.
 * Failures are logged by the caller through `onRefused` (never the token).
 */
export function serverMechanisms(
  hub: HubApi,
  hasClientCertificate: boolean,
  onPrincipal: (p: Principal) => void,
  onRefused: (err: C2DError) => void,
): SaslServerMechanisms {
  const mechs = saslServerMechanisms();
  mechs.enable_anonymous();
  mechs.PLAIN = () => ({
    outcome: undefined,
    username: undefined,
    start(response) {
      const fields = plainFields(response);
      try {
        if (!fields) throw errors.unauthorized('Malformed SASL PLAIN response.');
        const principal = hub.auth.authenticateSas(fields[1]);
        assertPlainUser(fields[0], principal);
        onPrincipal(principal);
        this.outcome = true;
        this.username = fields[0];
      } catch (e) {
        onRefused(e instanceof C2DError ? e : errors.unauthorized('SASL PLAIN failed.'));
        this.outcome = false;
      }
    },
  });
  mechs[SASL_MSSBCBS] = () => ({
    outcome: undefined,
    username: undefined,
    start() {
      this.outcome = true;
    },
  });
  if (hasClientCertificate) {
    mechs.EXTERNAL = () => ({
      outcome: undefined,
      username: undefined,
      start() {
        this.outcome = true;
      },
    });
  }
  return mechs;
}

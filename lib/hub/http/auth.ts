/**
 * Who is calling: a SAS token in `Authorization`, on the service routes also
 * a Microsoft Entra `Bearer <jwt>` (when the hub trusts an issuer: the same
 * verifier as AMQP's put-token), or (device routes only) the TLS client
 * certificate; Entra has no device API, as on IoT Hub. The engine (or the
 * verifier) verifies; this module only picks the credential and the
 * resource it must cover. Every failure is 401003.
 */
import type { Principal } from '../api';
import type { Right } from '../../common/sas';
import { errors } from '../../common/errors';
import { clientCertificateOf } from '../client-cert';
import { header, type RequestContext } from './context';
import { refusal, type AuthMethod } from '../access';

function token(ctx: RequestContext): string | undefined {
  const t = header(ctx, 'authorization');
  return t === undefined || t.trim() === '' ? undefined : t;
}

/** Runs one access decision and reports it (when the router observes) as accepted or refused. */
function decide(ctx: RequestContext, claimed: string | undefined, check: () => { p: Principal; method: AuthMethod }): Principal {
  try {
    const { p, method } = check();
    ctx.access?.({ type: 'auth-accepted', transport: 'http', method, identity: p.kind === 'device' ? p.deviceId : p.keyName, kind: p.kind });
    return p;
  } catch (e) {
    ctx.access?.(refusal('http', e, claimed !== undefined ? { identity: claimed } : {}));
    throw e;
  }
}

/**
 * The caller must be `deviceId` itself (its SAS token or its X.509
 * certificate) or a policy with DeviceConnect.
 */
export function authenticateDevice(ctx: RequestContext, deviceId: string): Principal {
  return decide(ctx, deviceId, () => {
    const { auth, hubName } = ctx.hub;
    const sas = token(ctx);
    let p: Principal;
    let method: AuthMethod = 'sas';
    if (sas !== undefined) {
      p = auth.authenticateSas(sas, `${hubName}/devices/${deviceId}`);
    } else {
      const cert = clientCertificateOf(ctx.req.socket);
      if (!cert) throw errors.unauthorized('The request has no Authorization header and no client certificate.');
      p = auth.authenticateX509(deviceId, cert);
      method = 'x509';
    }
    auth.assertDevice(p, deviceId);
    return { p, method };
  });
}

const BEARER = /^Bearer\s+/i;

/**
 * The caller must hold `right`: a policy SAS token whose `sr` covers `resource` (a path under
 * the hub), or an Entra bearer token whose roles grant it.
 */
export async function authenticateService(ctx: RequestContext, right: Right, resource: string): Promise<Principal> {
  try {
    const t = token(ctx);
    if (t === undefined) throw errors.unauthorized('The request has no Authorization header.');
    let p: Principal;
    let method: AuthMethod = 'sas';
    if (BEARER.test(t)) {
      if (!ctx.verifyBearer) throw errors.unauthorized('This hub does not accept bearer tokens (it trusts no Microsoft Entra issuer).');
      p = await ctx.verifyBearer(t.replace(BEARER, ''), `${ctx.hub.hubName}${resource}`);
      method = 'bearer';
    } else {
      p = ctx.hub.auth.authenticateSas(t, `${ctx.hub.hubName}${resource}`);
    }
    ctx.hub.auth.assertRight(p, right);
    ctx.access?.({ type: 'auth-accepted', transport: 'http', method, identity: p.kind === 'device' ? p.deviceId : p.keyName, kind: p.kind });
    return p;
  } catch (e) {
    ctx.access?.(refusal('http', e, {}));
    throw e;
  }
}

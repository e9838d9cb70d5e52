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

function token(ctx: RequestContext): string | undefined {
  const t = header(ctx, 'authorization');
  return t === undefined || t.trim() === '' ? undefined : t;
}

/**
 * The caller must be `deviceId` itself (its SAS token or its X.509
 * certificate) or a policy with DeviceConnect.
 */
export function authenticateDevice(ctx: RequestContext, deviceId: string): Principal {
  const { auth, hubName } = ctx.hub;
  const sas = token(ctx);
  let p: Principal;
  if (sas !== undefined) {
    p = auth.authenticateSas(sas, `${hubName}/devices/${deviceId}`);
  } else {
    const cert = clientCertificateOf(ctx.req.socket);
    if (!cert) throw errors.unauthorized('The request has no Authorization header and no client certificate.');
    p = auth.authenticateX509(deviceId, cert);
  }
  auth.assertDevice(p, deviceId);
  return p;
}

const BEARER = /^Bearer\s+/i;

/**
 * The caller must hold `right`: a policy SAS token whose `sr` covers `resource` (a path under
 * the hub), or an Entra bearer token whose roles grant it.
 */
export async function authenticateService(ctx: RequestContext, right: Right, resource: string): Promise<Principal> {
  const t = token(ctx);
  if (t === undefined) throw errors.unauthorized('The request has no Authorization header.');
  let p: Principal;
  if (BEARER.test(t)) {
    if (!ctx.verifyBearer) throw errors.unauthorized('This hub does not accept bearer tokens (it trusts no Microsoft Entra issuer).');
    p = await ctx.verifyBearer(t.replace(BEARER, ''), `${ctx.hub.hubName}${resource}`);
  } else {
    p = ctx.hub.auth.authenticateSas(t, `${ctx.hub.hubName}${resource}`);
  }
  ctx.hub.auth.assertRight(p, right);
  return p;
}

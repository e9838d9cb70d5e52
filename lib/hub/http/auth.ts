/**
 * Who is calling: a SAS token in `Authorization`, or (device routes only) the
 * TLS client certificate. The engine verifies; this module only picks the
 * credential and the resource it must cover. Every failure is 401003.
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

/** The caller must hold a policy token with `right` whose `sr` covers `resource` (a path under the hub). */
export function authenticateService(ctx: RequestContext, right: Right, resource: string): Principal {
  const sas = token(ctx);
  if (sas === undefined) throw errors.unauthorized('The request has no Authorization header.');
  const p = ctx.hub.auth.authenticateSas(sas, `${ctx.hub.hubName}${resource}`);
  ctx.hub.auth.assertRight(p, right);
  return p;
}

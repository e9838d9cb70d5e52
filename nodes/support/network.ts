/**
 * Network clients for a `c2d-hub-config` with the network target: the
 * embedded hub of another Node-RED, or Azure IoT Hub. Secrets come from the
 * node's credentials only and go straight into lib/client, which never logs them.
 */
import { C2DError } from '../../lib/common/errors';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { ServiceCredentials, type TokenCredential, type X509Credential } from '../../lib/client/credentials';
import type { ServiceTransport } from '../../lib/client/types';
import type { AnyConnection } from './shared-connection';
import type { ProxyConfig } from '../../lib/client/proxy';
import type { ConfigCredentials, ConfigSettings, ConnectOptions } from './connect';

function need(v: string | undefined, what: string): string {
  if (!v) throw new C2DError('ArgumentInvalid', `${what} is not set in the c2d-hub-config.`);
  return v;
}

/** @azure/identity is loaded only when Entra is used (it is large). */
function entraCredential(s: ConfigSettings, c: ConfigCredentials): TokenCredential {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const identity = require('@azure/identity') as typeof import('@azure/identity');
  if (s.auth === 'entra-default') return new identity.DefaultAzureCredential();
  return new identity.ClientSecretCredential(need(s.tenantId, 'Tenant ID'), need(s.clientId, 'Client ID'), need(c.clientSecret, 'Client secret'));
}

/** The device's X.509 credential: the PEM certificate (a bundle with its intermediates) and key, or the PFX (base64). */
function x509Of(c: ConfigCredentials): X509Credential | undefined {
  const passphrase = c.passphrase ? { passphrase: c.passphrase } : {};
  const pfx = c.pfx?.replace(/\s+/g, '');
  if (pfx) {
    if (!/^[A-Za-z0-9+/]+=*$/.test(pfx)) throw new C2DError('ArgumentInvalid', 'The PFX in the c2d-hub-config must be the base64 text of the .pfx file.');
    return { pfx: Buffer.from(pfx, 'base64'), ...passphrase };
  }
  return c.cert?.trim() && c.key?.trim() ? { cert: c.cert, key: c.key, ...passphrase } : undefined;
}

export function networkClient(s: ConfigSettings, c: ConfigCredentials, o: ConnectOptions, proxy?: ProxyConfig): AnyConnection {
  const ca = c.ca?.trim() ? c.ca : undefined;
  const via = proxy ? { proxy } : {};
  if (s.role === 'service') {
    if (s.transport !== 'amqp' && s.transport !== 'amqp-ws') throw new C2DError('ArgumentInvalid', `A service connects over amqp or amqp-ws, not ${s.transport}.`);
    const opts = { transport: s.transport as ServiceTransport, ...(ca ? { ca } : {}), ...via };
    switch (s.auth) {
      case 'connection-string':
        return ServiceClient.fromConnectionString(need(c.connectionString, 'Connection string'), opts);
      case 'sas-token':
        return new ServiceClient(new ServiceCredentials(need(s.hostName, 'Host name'), { kind: 'sas-token', token: need(c.sasToken, 'SAS token') }), opts);
      case 'entra-default':
      case 'entra-secret':
        return ServiceClient.fromTokenCredential(need(s.hostName, 'Host name'), entraCredential(s, c), opts);
      default:
        throw new C2DError('ArgumentInvalid', `A service cannot use ${s.auth} authentication.`);
    }
  }
  const x509 = x509Of(c);
  const opts = {
    transport: s.transport,
    ...(ca ? { ca } : {}),
    ...via,
    ...(o.httpPollIntervalMs ? { httpPollIntervalMs: o.httpPollIntervalMs } : {}),
    ...(x509 ? { x509 } : {}),
  };
  switch (s.auth) {
    case 'connection-string':
      return DeviceClient.fromConnectionString(need(c.connectionString, 'Connection string'), opts);
    case 'sas-token':
      return DeviceClient.fromParts({ hostName: need(s.hostName, 'Host name'), deviceId: need(s.deviceId, 'Device ID'), sharedAccessSignature: need(c.sasToken, 'SAS token') }, opts);
    case 'x509':
      if (!x509) throw new C2DError('ArgumentInvalid', 'Neither a certificate with its private key nor a PFX file is set in the c2d-hub-config.');
      return DeviceClient.fromParts({ hostName: need(s.hostName, 'Host name'), deviceId: need(s.deviceId, 'Device ID'), x509 }, opts);
    default:
      throw new C2DError('ArgumentInvalid', `A device cannot use ${s.auth} authentication.`);
  }
}

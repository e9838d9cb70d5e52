/**
 * Network clients for a `c2d-hub-config` with the network target: the
 * embedded hub of another Node-RED, or Azure IoT Hub. Secrets come from the
 * node's credentials only and go straight into lib/client, which never logs them.
 */
import { parseDeviceConnectionString, parseServiceConnectionString } from '../../lib/common/connection-string';
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { ServiceCredentials, type TokenCredential, type X509Credential } from '../../lib/client/credentials';
import type { ServiceTransport } from '../../lib/client/types';
import type { AnyConnection, ConnectOptions } from './shared-connection';
import type { ProxyConfig } from '../../lib/client/proxy';
import type { ConfigCredentials, ConfigSettings } from './hub-config';
import { SetupError } from './setup-error';

/** A setting the config needs; missing: "no <what>" in the status ("no connection string"), the whole sentence in the log. */
function need(v: string | undefined, what: string): string {
  if (!v?.trim()) {
    const words = what
      .split(' ')
      .map((w) => (w === w.toUpperCase() ? w : w.toLowerCase()))
      .join(' ');
    throw new SetupError(`no ${words}`, `${what} is not set in the c2d-hub-config.`);
  }
  return v;
}

/** The connection string, checked here so a malformed one reads "bad connection string", not a code. */
function connectionString(c: ConfigCredentials, parse: (cs: string) => unknown): string {
  const cs = need(c.connectionString, 'Connection string');
  try {
    parse(cs);
  } catch (e) {
    // The parser's reason names the part that is wrong, never its value.
    throw new SetupError('bad connection string', `${e instanceof Error ? e.message : String(e)} (in the c2d-hub-config)`);
  }
  return cs;
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
    if (!/^[A-Za-z0-9+/]+=*$/.test(pfx)) throw new SetupError('bad PFX', 'The PFX in the c2d-hub-config must be the base64 text of the .pfx file.');
    return { pfx: Buffer.from(pfx, 'base64'), ...passphrase };
  }
  return c.cert?.trim() && c.key?.trim() ? { cert: c.cert, key: c.key, ...passphrase } : undefined;
}

export function networkClient(s: ConfigSettings, c: ConfigCredentials, o: ConnectOptions, proxy?: ProxyConfig): AnyConnection {
  const ca = c.ca?.trim() ? c.ca : undefined;
  const via = proxy ? { proxy } : {};
  if (s.role === 'service') {
    if (s.transport !== 'amqp' && s.transport !== 'amqp-ws')
      throw new SetupError('service needs amqp', `A service connects over amqp or amqp-ws, not ${s.transport}.`);
    const opts = { transport: s.transport as ServiceTransport, ...(ca ? { ca } : {}), ...via };
    switch (s.auth) {
      case 'connection-string':
        return ServiceClient.fromConnectionString(connectionString(c, parseServiceConnectionString), opts);
      case 'sas-token':
        return new ServiceClient(new ServiceCredentials(need(s.hostName, 'Host name'), { kind: 'sas-token', token: need(c.sasToken, 'SAS token') }), opts);
      case 'entra-default':
      case 'entra-secret':
        return ServiceClient.fromTokenCredential(need(s.hostName, 'Host name'), entraCredential(s, c), opts);
      default:
        throw new SetupError(`service cannot use ${s.auth}`, `A service cannot use ${s.auth} authentication.`);
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
      return DeviceClient.fromConnectionString(connectionString(c, parseDeviceConnectionString), opts);
    case 'sas-token':
      return DeviceClient.fromParts(
        { hostName: need(s.hostName, 'Host name'), deviceId: need(s.deviceId, 'Device ID'), sharedAccessSignature: need(c.sasToken, 'SAS token') },
        opts,
      );
    case 'x509':
      if (!x509) throw new SetupError('no certificate', 'Neither a certificate with its private key nor a PFX file is set in the c2d-hub-config.');
      return DeviceClient.fromParts({ hostName: need(s.hostName, 'Host name'), deviceId: need(s.deviceId, 'Device ID'), x509 }, opts);
    default:
      throw new SetupError(`device cannot use ${s.auth}`, `A device cannot use ${s.auth} authentication.`);
  }
}

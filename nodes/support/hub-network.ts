/**
 * Clients for a `c2d-hub-config` with the `embedded-network` target: a
 * c2d-hub of this Node-RED, reached over its real sockets (AMQPS, MQTTS,
 * HTTPS, WebSocket) as a device or backend elsewhere would reach it. What a
 * connection string and a CA would carry is read from the running hub at
 * connect time, in this process: the port of the chosen transport, the CA
 * of its certificate, the device's primary key (device role) or the key of
 * a policy with ServiceConnect (service role). Nothing of it is written
 * into the flow or sent to the editor, so an example works on import.
 */
import { DeviceClient } from '../../lib/client/device-client';
import { ServiceClient } from '../../lib/client/service-client';
import { ServiceCredentials } from '../../lib/client/credentials';
import type { DeviceTransport, ServiceTransport } from '../../lib/client/types';
import { errors } from '../../lib/common/errors';
import type { HubApi, SharedAccessPolicy } from '../../lib/hub/api';
import type { HubEndpoint } from './hub-registry';
import type { ConfigSettings } from './hub-config';
import type { ConnectOptions } from './shared-connection';
import type { AnyConnection } from './shared-connection';
import { SetupError } from './setup-error';

/** The listener each transport uses (the WebSocket ones ride on HTTPS). */
const PORT_OF: Record<DeviceTransport, keyof HubEndpoint['ports']> = {
  amqp: 'amqps',
  'amqp-ws': 'https',
  mqtt: 'mqtts',
  'mqtt-ws': 'https',
  http: 'https',
};

function portFor(endpoint: HubEndpoint | undefined, transport: DeviceTransport): number {
  const protocol = PORT_OF[transport];
  const port = endpoint?.ports[protocol];
  if (port === undefined) {
    throw new SetupError(
      `hub has no ${protocol} port`,
      `The c2d-hub does not listen on ${protocol}, which ${transport} needs: set a port for it in the hub node (0 = any free port).`,
    );
  }
  return port;
}

/** The service role's policy: `service` (ServiceConnect only) when the hub has it, else any policy with ServiceConnect. */
function servicePolicy(hub: HubApi): SharedAccessPolicy {
  const policies = hub.registry.listPolicies();
  const p = policies.find((x) => x.keyName === 'service' && x.rights.includes('ServiceConnect')) ?? policies.find((x) => x.rights.includes('ServiceConnect'));
  if (!p) throw new SetupError('hub has no service policy', 'The c2d-hub has no shared access policy with ServiceConnect.');
  return p;
}

export function hubNetworkClient(hub: HubApi, endpoint: HubEndpoint | undefined, s: ConfigSettings, o: ConnectOptions): AnyConnection {
  const transport = s.transport;
  if (s.role === 'service') {
    if (transport !== 'amqp' && transport !== 'amqp-ws')
      throw new SetupError('service needs amqp', `A service connects over amqp or amqp-ws, not ${transport}.`);
    const port = portFor(endpoint, transport);
    const p = servicePolicy(hub);
    const credentials = new ServiceCredentials(hub.hubName, { kind: 'sas-key', keyName: p.keyName, key: p.primaryKey }, {}, endpoint!.connectHost);
    const https = endpoint!.ports.https;
    return new ServiceClient(credentials, {
      transport: transport as ServiceTransport,
      ca: endpoint!.ca,
      // Registry calls (purge, devices) go over HTTPS when the hub has it.
      ports: { ...(transport === 'amqp' ? { amqps: port } : {}), ...(https !== undefined ? { https } : {}) },
    });
  }
  const port = portFor(endpoint, transport);
  const device = hub.registry.getDevice(s.deviceId);
  if (!device) throw errors.deviceNotFound(s.deviceId);
  const key = device.authentication.symmetricKey.primaryKey;
  if (device.authentication.type !== 'sas' || !key) {
    throw new SetupError(
      'device has no SAS key',
      `Device '${s.deviceId}' authenticates with ${device.authentication.type}, not a SAS key: use the network target with its certificate.`,
    );
  }
  return DeviceClient.fromParts(
    // HostName names the hub in tokens; the connection goes to where it listens.
    { hostName: hub.hubName, gatewayHostName: `${endpoint!.connectHost}:${port}`, deviceId: s.deviceId, sharedAccessKey: key },
    { transport, ca: endpoint!.ca, ...(o.httpPollIntervalMs ? { httpPollIntervalMs: o.httpPollIntervalMs } : {}) },
  );
}

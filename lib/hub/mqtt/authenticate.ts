/**
 * CONNECT authentication (c2d-semantics §5.2, §6): the client id is the
 * device id; the username `{host}/{deviceId}/?api-version=...` must name the
 * same device; the password is a SAS token, or absent when the TLS client
 * certificate authenticates (X.509). Refusals answer CONNACK 4 (credentials
 * missing or malformed) or 5 (credentials checked and refused, unknown or
 * disabled device); a module client id gets 2 (modules are out of scope), a
 * protocol level other than 4 (MQTT 3.1.1, the only one IoT Hub's device
 * endpoint speaks) gets 1.
 */
import { C2DError } from '../../common/errors';
import { parseMqttUsername } from '../../common/codec/mqtt';
import { BOUNDS } from '../../common/limits';
import type { ClientCertificateInfo, HubApi, Principal } from '../api';

/** CONNACK return codes (MQTT 3.1.1 §3.2.2.3). */
export const CONNACK = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;

/** MQTT 3.1.1's protocol level. */
export const MQTT_3_1_1 = 4;

export class ConnectRefused extends Error {
  constructor(
    readonly returnCode: 1 | 2 | 3 | 4 | 5,
    message: string,
  ) {
    super(message);
  }
}

/** Checks one CONNECT; returns the device and principal, or throws ConnectRefused. */
export function authenticateConnect(
  hub: HubApi,
  connect: { protocolVersion?: number; clientId: string; username?: string; password?: Buffer },
  clientCert: ClientCertificateInfo | undefined,
): { deviceId: string; principal: Principal } {
  const { clientId, username, password } = connect;
  if (connect.protocolVersion !== MQTT_3_1_1) {
    throw new ConnectRefused(
      CONNACK.UNACCEPTABLE_PROTOCOL_VERSION,
      `MQTT protocol level ${String(connect.protocolVersion)} is not supported: IoT Hub's device endpoint speaks MQTT 3.1.1 (level 4).`,
    );
  }
  if (clientId === '' || clientId.length > BOUNDS.maxIdLength) {
    throw new ConnectRefused(CONNACK.IDENTIFIER_REJECTED, 'The client id must be the device id (1..128 characters).');
  }
  if (clientId.includes('/')) {
    throw new ConnectRefused(CONNACK.IDENTIFIER_REJECTED, `Module identities ('${clientId}') are not supported by this hub.`);
  }
  if (username === undefined) throw new ConnectRefused(CONNACK.BAD_USERNAME_OR_PASSWORD, 'The username is missing.');
  let named;
  try {
    named = parseMqttUsername(username);
  } catch (e) {
    throw new ConnectRefused(CONNACK.BAD_USERNAME_OR_PASSWORD, (e as Error).message);
  }
  if (named.moduleId !== undefined) {
    throw new ConnectRefused(CONNACK.IDENTIFIER_REJECTED, 'Module identities are not supported by this hub.');
  }
  if (named.deviceId !== clientId) {
    throw new ConnectRefused(CONNACK.BAD_USERNAME_OR_PASSWORD, 'The username names another device than the client id.');
  }
  const deviceId = clientId;
  let principal: Principal;
  try {
    if (password !== undefined && password.length > 0) {
      principal = hub.auth.authenticateSas(password.toString('utf8'));
    } else if (clientCert) {
      principal = hub.auth.authenticateX509(deviceId, clientCert);
    } else {
      throw new ConnectRefused(CONNACK.BAD_USERNAME_OR_PASSWORD, 'Neither a SAS token (password) nor a client certificate was given.');
    }
    hub.auth.assertDevice(principal, deviceId);
  } catch (e) {
    if (e instanceof ConnectRefused) throw e;
    if (e instanceof C2DError) throw new ConnectRefused(CONNACK.NOT_AUTHORIZED, e.message);
    throw e;
  }
  const device = hub.registry.getDevice(deviceId);
  if (!device) throw new ConnectRefused(CONNACK.NOT_AUTHORIZED, `Device '${deviceId}' is not registered.`);
  if (device.status !== 'enabled') throw new ConnectRefused(CONNACK.NOT_AUTHORIZED, `Device '${deviceId}' is disabled.`);
  return { deviceId, principal };
}

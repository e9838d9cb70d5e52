/**
 * CONNECT authentication (c2d-semantics §5.2, §6): the client id is the
 * device id; the username `{host}/{deviceId}/?api-version=...` must name the
 * same device; the password is a SAS token, or absent when the TLS client
 * certificate authenticates (X.509). Refusals answer CONNACK 4 (credentials
 * missing or malformed) or 5 (credentials checked and refused, unknown or
 * disabled device); a module client id gets 2 (modules are out of scope).
 */
import { C2DError } from '../../common/errors';
import { parseMqttUsername } from '../../common/codec/mqtt';
import { BOUNDS } from '../../common/limits';
import type { HubApi, Principal } from '../api';
import type { Client } from './aedes-client';
import type { MqttConnection } from './connection';

// aedes' AuthErrorCode values (a const enum in its typings, not importable from CJS).
export const CONNACK = { IDENTIFIER_REJECTED: 2, BAD_USERNAME_OR_PASSWORD: 4, NOT_AUTHORIZED: 5 } as const;

export class ConnectRefused extends Error {
  constructor(
    readonly returnCode: 2 | 4 | 5,
    message: string,
  ) {
    super(message);
  }
}

/** Checks one CONNECT; returns the device and principal, or throws ConnectRefused. */
export function authenticateConnect(
  hub: HubApi,
  conn: MqttConnection,
  clientId: string,
  username: string | undefined,
  password: Buffer | undefined,
): { deviceId: string; principal: Principal } {
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
    } else if (conn.clientCert) {
      principal = hub.auth.authenticateX509(deviceId, conn.clientCert);
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

type Done = (error: (Error & { returnCode: number }) | null, success: boolean | null) => void;

/** The aedes `authenticate` hook over authenticateConnect. */
export function makeAuthenticate(
  hub: HubApi,
  connectionOf: (client: Client) => MqttConnection | undefined,
  onAuthenticated: (client: Client, conn: MqttConnection) => void,
  onRefused: (client: Client, why: string) => void,
) {
  return (client: Client, username: string | undefined, password: Buffer | undefined, done: Done): void => {
    const conn = connectionOf(client);
    try {
      if (!conn) throw new ConnectRefused(CONNACK.NOT_AUTHORIZED, 'Unknown connection.');
      const { deviceId, principal } = authenticateConnect(hub, conn, client.id, username, password);
      conn.deviceId = deviceId;
      conn.principal = principal;
      onAuthenticated(client, conn);
      done(null, true);
    } catch (e) {
      const refused = e instanceof ConnectRefused ? e : new ConnectRefused(CONNACK.NOT_AUTHORIZED, 'Authentication failed.');
      onRefused(client, refused.message);
      done(refused, null);
    }
  };
}

/**
 * Our side of an AMQP connection to IoT Hub (or the embedded hub): TLS on
 * 5671 or a WebSocket (`AMQPWSB10` at /$iothub/websocket on 443), no SASL
 * (auth is CBS put-token or the TLS client certificate), rhea's own
 * reconnect off (ConnectionKeeper decides). Link helpers turn rhea's events
 * into promises; AMQP errors become C2DErrors through the shared codec.
 */
import { randomUUID } from 'node:crypto';
import {
  create_container,
  type Connection,
  type ConnectionOptions,
  type EventContext,
  type Receiver,
  type ReceiverOptions,
  type Sender,
  type SenderOptions,
} from 'rhea';
import WebSocket from 'ws';
import { fromAmqpError, type AmqpError } from '../../common/codec/amqp';
import { C2DError, connectionReset, errors } from '../../common/errors';
import { DEFAULT_PORTS, WEBSOCKET_PATH, WS_SUBPROTOCOL_AMQP } from '../../common/limits';
import { endSocket, webSocketConnector } from '../../common/rhea-internals';
import { tlsServerName } from '../tls-name';
import { webSocketAgent, type ProxySetting } from '../proxy';
import { tlsClientAuth, type TlsClientAuth } from '../credentials';

export interface AmqpConnectOptions {
  host: string;
  /** Port from HostName, or an explicit one; absent: 5671 (TLS) or 443 (WebSocket). */
  port?: number;
  webSocket: boolean;
  ca?: string | Buffer;
  /** WebSocket only: see CommonClientOptions.proxy. */
  proxy?: ProxySetting;
  clientCert?: TlsClientAuth;
  connectTimeoutMs: number;
  /** Goes in the `com.microsoft:client-version` property of the open and attaches (sdk-wire.md §2.3). */
  userAgent: string;
}

/** An error rhea reports (AMQP error, socket error, or nothing). */
export function amqpFailure(ctx: EventContext | undefined, what: string): Error {
  const link = (ctx?.sender ?? ctx?.receiver) as { error?: unknown } | undefined;
  const e = (link?.error ?? ctx?.session?.error ?? ctx?.connection?.error ?? ctx?.error) as (AmqpError & Error) | undefined;
  if (e && typeof (e as AmqpError).condition === 'string') return fromAmqpError(e);
  if (e instanceof Error) return e;
  return connectionReset(`${what}: the connection was lost`);
}

/** Opens a connection; resolves once the peer's open arrived. */
/** Calls `lost` with the reason when an open connection goes away (closed, failed or dropped). */
export function onConnectionLost(connection: Connection, lost: (cause: Error) => void): void {
  const handler = (ctx: EventContext): void => lost(amqpFailure(ctx, 'AMQP'));
  connection.on('disconnected', handler);
  connection.on('connection_error', handler);
  connection.on('connection_close', handler);
  // The hub ended our session (one per connection here): its links are gone with it.
  connection.on('session_close', handler);
  connection.on('error', () => undefined);
}

export function openAmqpConnection(o: AmqpConnectOptions): Promise<Connection> {
  const container = create_container({ id: `c2d-${randomUUID()}` });
  const tlsOptions = {
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.clientCert ? tlsClientAuth(o.clientCert) : {}),
    ...tlsServerName(o.host),
  };
  const common = { reconnect: false, hostname: o.host, properties: { 'com.microsoft:client-version': o.userAgent }, idle_time_out: 120_000 };
  let options: ConnectionOptions;
  if (o.webSocket) {
    const port = o.port ?? DEFAULT_PORTS.https;
    const url = `wss://${o.host}:${port}${WEBSOCKET_PATH}`;
    const connect = webSocketConnector(container, WebSocket);
    // rhea hands these options to the ws constructor as they are, agent included.
    const agent = webSocketAgent(o.host, port, o.proxy);
    // rhea's typings ask for a transport even beside connection_details, which replaces it.
    options = {
      ...common,
      connection_details: connect(url, [WS_SUBPROTOCOL_AMQP], { ...tlsOptions, ...(agent ? { agent } : {}) }),
    } as unknown as ConnectionOptions;
  } else {
    options = { ...common, host: o.host, port: o.port ?? DEFAULT_PORTS.amqps, transport: 'tls', ...tlsOptions } as ConnectionOptions;
  }
  return new Promise((resolve, reject) => {
    const connection = container.connect(options);
    const timer = setTimeout(() => fail(Object.assign(new Error(`AMQP connect to ${o.host} timed out`), { code: 'ETIMEDOUT' })), o.connectTimeoutMs);
    timer.unref();
    const off = (): void => {
      clearTimeout(timer);
      connection.removeListener('connection_open', onOpen);
      connection.removeListener('connection_error', onError);
      connection.removeListener('disconnected', onError);
    };
    const fail = (e: Error): void => {
      off();
      connection.on('error', () => undefined);
      connection.on('disconnected', () => undefined);
      try {
        connection.close();
      } catch {
        /* already gone */
      }
      reject(e);
    };
    const onOpen = (): void => {
      off();
      resolve(connection);
    };
    const onError = (ctx: EventContext): void => fail(amqpFailure(ctx, 'AMQP connect'));
    connection.once('connection_open', onOpen);
    connection.once('connection_error', onError);
    connection.once('disconnected', onError);
  });
}

/**
 * Resolves when the peer attaches `link`; rejects on a refused attach, and
 * also when the connection goes away mid-attach. rhea reports a lost socket
 * only on the connection ('disconnected'), never on the link, so without
 * this an attach under way when the hub crashed would wait forever, and with
 * it the open that awaits it (CBS links, the C2D receiver): a device would
 * never reconnect (found by test/reliability/crash-under-load).
 */
function untilAttached<L extends Sender | Receiver>(connection: Connection, link: L, kind: 'sender' | 'receiver'): Promise<L> {
  return new Promise((resolve, reject) => {
    const off = (): void => {
      link.removeListener(`${kind}_open`, onOpen);
      link.removeListener(`${kind}_error`, onError);
      connection.removeListener('disconnected', onGone);
      connection.removeListener('connection_close', onGone);
      connection.removeListener('connection_error', onGone);
    };
    const onOpen = (): void => {
      off();
      resolve(link);
    };
    const onError = (ctx: EventContext): void => {
      off();
      reject(amqpFailure(ctx, 'attach'));
    };
    const onGone = (ctx: EventContext): void => {
      off();
      reject(amqpFailure(ctx, 'attach'));
    };
    link.once(`${kind}_open`, onOpen);
    link.once(`${kind}_error`, onError);
    connection.once('disconnected', onGone);
    connection.once('connection_close', onGone);
    connection.once('connection_error', onGone);
  });
}

/** Attaches a sender; resolves once the peer attached too. */
export function attachSender(connection: Connection, options: SenderOptions): Promise<Sender> {
  return untilAttached(connection, connection.open_sender(options), 'sender');
}

export function attachReceiver(connection: Connection, options: ReceiverOptions): Promise<Receiver> {
  return untilAttached(connection, connection.open_receiver(options), 'receiver');
}

/** Closes a connection and waits for the peer's close (or the socket to go), at most `graceMs`. */
export function closeAmqpConnection(connection: Connection, graceMs = 2000): Promise<void> {
  return new Promise((resolve) => {
    if (!connection.is_open() && !connection.is_remote_open()) {
      connection.on('error', () => undefined);
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      // The peer did not answer: cut the socket.
      endSocket(connection);
      done();
    }, graceMs);
    timer.unref();
    connection.on('error', () => undefined);
    connection.once('connection_close', done);
    connection.once('disconnected', done);
    connection.close();
  });
}

/** A C2DError for a transfer the hub answered with `rejected` (or released/modified: not committed). */
export function outcomeError(ctx: EventContext): C2DError {
  const state = ctx.delivery?.remote_state as { error?: AmqpError } | undefined;
  if (state?.error) return fromAmqpError(state.error);
  return errors.unavailable('The hub did not accept the message (released); it was not enqueued.');
}

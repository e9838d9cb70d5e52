/**
 * The hub's AMQP 1.0 server. It owns no listener: whoever accepts a socket
 * (TLS on 5671, a test's plain TCP server, the WebSocket upgrade at
 * /$iothub/websocket with subprotocol AMQPWSB10) hands it over here.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import { systemClock, type Clock } from '../../common/clock';
import { WIRE_LIMITS } from '../../common/limits';
import type { ClientCertificateInfo, HubApi } from '../api';
import { clientCertificateOf } from '../client-cert';
import { AmqpConnection, type ConnectionSettings } from './peer-connection';
import { webSocketStream, type RheaSocket } from './frame-guard';
import type { AmqpLog, BearerVerifier } from './peer';
import { remoteOf, type AccessObserver } from '../access';

export interface AmqpServerOptions {
  /** Time for the auth timeout and token expiry (tests pass a ManualClock). Default: the system clock. */
  clock?: Clock;
  /** Verifies `Bearer <jwt>` put-tokens (Microsoft Entra). Without it they are refused with 401. */
  verifyBearerToken?: BearerVerifier;
  /** Receives what happens (never a token or key). */
  log?: AmqpLog;
  /** Receives every access decision: principals accepted, credentials and rights refused (see ../access.ts). */
  onAccess?: AccessObserver;
  maxFrameBytes?: number;
  authTimeoutMs?: number;
  /**
   * AMQP idle-time-out the hub advertises (default AMQP_IDLE_TIMEOUT_MS,
   * 4 min): a peer that sends no frame, not even an empty heartbeat, for twice
   * this long (rhea's check) is disconnected, so a stuck client cannot hold its
   * connection forever.
   */
  idleTimeoutMs?: number;
}

export interface AmqpServer {
  /** Serves an accepted TCP or TLS socket (TLS already terminated by the caller). */
  handle(socket: Socket | TLSSocket): void;
  /** Serves an accepted WebSocket (subprotocol AMQPWSB10); `clientCert` is the TLS peer's certificate under it. */
  handleWebSocket(ws: WebSocket, info?: { clientCert?: ClientCertificateInfo; remote?: string }): void;
  readonly connectionCount: number;
  /**
   * Stops: waits for every in-flight service send to settle (the service SDK
   * crashes when its socket drops with an unsettled send, sdk-wire.md §6.1),
   * then closes every connection and waits for the sockets to go.
   */
  close(): Promise<void>;
}

/**
 * Default AMQP idle-time-out: 4 minutes, what IoT Hub is commonly reported to
 * use (not confirmed in the reference); the SDKs send heartbeats well within it.
 */
export const AMQP_IDLE_TIMEOUT_MS = 240_000;

/**
 * Resolves when the stream has closed. Not events.once(): it rejects on an
 * 'error' (ECONNRESET from a peer that vanished) and the connection would
 * then never be released, so close() would wait forever.
 */
function closeOf(stream: { once(event: 'close', listener: () => void): unknown }): Promise<void> {
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

export function createAmqpServer(hub: HubApi, options: AmqpServerOptions = {}): AmqpServer {
  const connections = new Set<AmqpConnection>();
  const pending = new Set<Promise<unknown>>();
  let closing = false;
  const base: Omit<ConnectionSettings, 'protocol'> = {
    hub,
    clock: options.clock ?? systemClock,
    maxFrameBytes: options.maxFrameBytes ?? WIRE_LIMITS.amqpMaxFrameBytes,
    authTimeoutMs: options.authTimeoutMs ?? WIRE_LIMITS.authTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? AMQP_IDLE_TIMEOUT_MS,
    verifyBearer: options.verifyBearerToken,
    log: options.log ?? (() => undefined),
    ...(options.onAccess ? { access: options.onAccess } : {}),
    isClosing: () => closing,
    track(p) {
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
  };

  const serve = (protocol: string, stream: RheaSocket, gone: Promise<void>, cert: ReturnType<typeof clientCertificateOf>, remote: string | undefined): void => {
    const c = new AmqpConnection({ ...base, protocol, ...(remote ? { remote } : {}) }, stream, cert, gone);
    connections.add(c);
    void c.closed.then(() => connections.delete(c));
  };

  return {
    handle(socket) {
      if (closing) {
        socket.destroy();
        return;
      }
      const gone = closeOf(socket);
      serve('amqp', socket as unknown as RheaSocket, gone, clientCertificateOf(socket), remoteOf(socket));
    },
    handleWebSocket(ws, info) {
      if (closing) {
        ws.terminate();
        return;
      }
      serve('amqp-ws', webSocketStream(ws), closeOf(ws), info?.clientCert, info?.remote);
    },
    get connectionCount() {
      return connections.size;
    },
    async close() {
      closing = true;
      while (pending.size) await Promise.allSettled([...pending]);
      const all = [...connections];
      for (const c of all) c.closeConnection({ condition: 'amqp:connection:forced', description: 'The hub is shutting down.' });
      // Each connection cuts its socket if the peer does not answer the close in time.
      await Promise.all(all.map((c) => c.closed));
    },
  };
}

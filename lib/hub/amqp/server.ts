/**
 * The hub's AMQP 1.0 server. It owns no listener: whoever accepts a socket
 * (TLS on 5671, a test's plain TCP server, the WebSocket upgrade at
 * /$iothub/websocket with subprotocol AMQPWSB10) hands it over here.
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { once } from 'node:events';
import type { WebSocket } from 'ws';
import { systemClock, type Clock } from '../../common/clock';
import { WIRE_LIMITS } from '../../common/limits';
import type { HubApi } from '../api';
import { clientCertificateOf } from '../client-cert';
import { AmqpConnection, type ConnectionSettings } from './connection';
import { webSocketStream, type RheaSocket } from './frame-guard';
import type { AmqpLog, BearerVerifier } from './peer';

export interface AmqpServerOptions {
  /** Time for the auth timeout and token expiry (tests pass a ManualClock). Default: the system clock. */
  clock?: Clock;
  /** Verifies `Bearer <jwt>` put-tokens (Microsoft Entra). Without it they are refused with 401. */
  verifyBearerToken?: BearerVerifier;
  /** Receives what happens (never a token or key). */
  log?: AmqpLog;
  maxFrameBytes?: number;
  authTimeoutMs?: number;
}

export interface AmqpServer {
  /** Serves an accepted TCP or TLS socket (TLS already terminated by the caller). */
  handle(socket: Socket | TLSSocket): void;
  /** Serves an accepted WebSocket (subprotocol AMQPWSB10). */
  handleWebSocket(ws: WebSocket): void;
  readonly connectionCount: number;
  /**
   * Stops: waits for every in-flight service send to settle (the service SDK
   * crashes when its socket drops with an unsettled send, sdk-wire.md §6.1),
   * then closes every connection and waits for the sockets to go.
   */
  close(): Promise<void>;
}

export function createAmqpServer(hub: HubApi, options: AmqpServerOptions = {}): AmqpServer {
  const connections = new Set<AmqpConnection>();
  const pending = new Set<Promise<unknown>>();
  let closing = false;
  // A device may be on two connections for a while (reconnect before the old one is noticed dead):
  // it is connected while any connection acts for it.
  const deviceRefs = new Map<string, number>();
  const base: Omit<ConnectionSettings, 'protocol'> = {
    hub,
    clock: options.clock ?? systemClock,
    maxFrameBytes: options.maxFrameBytes ?? WIRE_LIMITS.amqpMaxFrameBytes,
    authTimeoutMs: options.authTimeoutMs ?? WIRE_LIMITS.authTimeoutMs,
    verifyBearer: options.verifyBearerToken,
    log: options.log ?? (() => undefined),
    isClosing: () => closing,
    track(p) {
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    deviceUp(deviceId, protocol) {
      const n = deviceRefs.get(deviceId) ?? 0;
      deviceRefs.set(deviceId, n + 1);
      if (n === 0) hub.noteConnection(deviceId, protocol, true);
    },
    deviceDown(deviceId, protocol, reason) {
      const n = (deviceRefs.get(deviceId) ?? 1) - 1;
      if (n > 0) {
        deviceRefs.set(deviceId, n);
        return;
      }
      deviceRefs.delete(deviceId);
      hub.noteConnection(deviceId, protocol, false, reason);
    },
  };

  const serve = (protocol: string, stream: RheaSocket, gone: Promise<void>, cert: ReturnType<typeof clientCertificateOf>): void => {
    const c = new AmqpConnection({ ...base, protocol }, stream, cert, gone);
    connections.add(c);
    void c.closed.then(() => connections.delete(c));
  };

  return {
    handle(socket) {
      if (closing) {
        socket.destroy();
        return;
      }
      // events.once() rejects on 'error' (an EPIPE when the peer hung up): that is a close as well,
      // and an unhandled rejection here ended the hub process.
      const gone = once(socket, 'close').then(() => undefined, () => undefined);
      serve('amqp', socket as unknown as RheaSocket, gone, clientCertificateOf(socket));
    },
    handleWebSocket(ws) {
      if (closing) {
        ws.terminate();
        return;
      }
      const gone = once(ws, 'close').then(() => undefined, () => undefined);
      const raw = (ws as unknown as { _socket?: unknown })._socket;
      serve('amqpws', webSocketStream(ws), gone, clientCertificateOf(raw));
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

/**
 * The hub's sockets: AMQP over TLS (5671), MQTT over TLS (8883), and HTTPS
 * (443) which also takes the WebSocket upgrade at `/$iothub/websocket` for
 * AMQP-WS (`AMQPWSB10`) and MQTT-WS (`mqtt`). Protocol logic lives in the
 * handlers the caller passes; this module only binds, bounds and releases.
 *
 * By default it binds 127.0.0.1 and, when the machine has it, ::1 on the same
 * port: `localhost` resolves to either, depending on the system (sdk-wire.md §1.4).
 */
import { constants } from 'node:crypto';
import * as https from 'node:https';
import * as tls from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo, Server } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { DEFAULT_PORTS, WEBSOCKET_PATH, WIRE_LIMITS } from '../common/limits';
import { remoteOf, type RefusalReason } from './access';

export type ListenerProtocol = 'amqps' | 'mqtts' | 'https';
export type WebSocketHandler = (ws: WebSocket, req: IncomingMessage) => void;

export interface ListenerHandlers {
  amqp?: (socket: tls.TLSSocket) => void;
  mqtt?: (socket: tls.TLSSocket) => void;
  http?: (req: IncomingMessage, res: ServerResponse) => void;
  /** Keyed by WebSocket subprotocol (matched without regard to case); the client's spelling is echoed back (ws clients abort without it). */
  webSocket?: { AMQPWSB10?: WebSocketHandler; mqtt?: WebSocketHandler };
}

export interface ListenerOptions {
  /** Port per protocol: a number (0 = any free port), or false to not listen. Absent: IoT Hub's port. */
  ports?: Partial<Record<ListenerProtocol, number | false>>;
  /** Address(es) to bind. Absent or `localhost`: 127.0.0.1 plus ::1 when available. */
  host?: string | string[];
  tls: { cert: string; key: string; ca?: string };
  handlers: ListenerHandlers;
  /** Largest HTTP header block (default WIRE_LIMITS.httpMaxHeaderBytes). */
  maxHeaderBytes?: number;
  /** Largest WebSocket message (default: the larger of the AMQP frame and MQTT packet bounds). */
  wsMaxPayload?: number;
  /**
   * Open TCP connections allowed across all ports (HubLimits.maxConnections;
   * 0 or absent = unlimited). A connection over the cap is closed before its
   * TLS handshake, so it costs no crypto and reaches no protocol handler.
   */
  maxConnections?: number;
  /** Time a client has to finish the TLS handshake (default WIRE_LIMITS.authTimeoutMs; Node's own is 120 s). */
  handshakeTimeoutMs?: number;
  /**
   * Called once per connection the listener refuses: over the cap, or a TLS
   * handshake the hub failed (bad hello, timeout; not a client that hung up).
   * Carries no secret.
   */
  onRefused?: (protocol: ListenerProtocol, reason: RefusalReason, detail: string, remote?: string) => void;
}

export interface BoundAddress {
  protocol: ListenerProtocol;
  address: string;
  family: string;
  port: number;
}

export interface Listeners {
  ports: Partial<Record<ListenerProtocol, number>>;
  addresses: BoundAddress[];
  /** TCP connections open now, across every port (what maxConnections caps). */
  openConnections(): number;
  /** Stops listening and destroys every open connection, so nothing keeps the process alive. */
  close(): Promise<void>;
}

const LOOPBACK = ['127.0.0.1', '::1'];
/** Codes meaning "this machine has no such address" (no IPv6): the optional ::1 is skipped. */
const NO_ADDRESS = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EINVAL']);

/** Open TCP connections across every server of one startListeners() call, against the cap. */
interface ConnectionCap {
  open: number;
  max: number;
  onRefused?: ListenerOptions['onRefused'];
}

/**
 * Counts raw TCP connections (the 'connection' event comes before the TLS
 * handshake) and closes those over the cap at once. Listeners added here run
 * after the TLS server's own, so the socket is already wrapped: destroying it
 * ends the TLS socket too, which the server reports as a tlsClientError
 * (handled below) rather than throwing.
 */
function cap(server: Server, protocol: ListenerProtocol, limit: ConnectionCap): void {
  // With a listener here Node no longer destroys the socket itself: do it (handshake timeout, refused cap, bad hello).
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // ECONNRESET: the peer went (or the cap below cut it), nothing the handshake refused.
    if (err.code !== 'ECONNRESET') limit.onRefused?.(protocol, 'tls_handshake', `TLS handshake failed: ${err.code ?? err.message}`, remoteOf(socket));
    socket.destroy();
  });
  server.on('connection', (s: Duplex) => {
    if (limit.max > 0 && limit.open >= limit.max) {
      limit.onRefused?.(protocol, 'max_connections', `${limit.open} open, limit ${limit.max}`, remoteOf(s));
      s.on('error', () => undefined);
      s.destroy();
      return;
    }
    limit.open++;
    s.once('close', () => limit.open--);
  });
}

/** Tracks a server's sockets so close() can destroy them (keep-alive, upgraded, half-open). */
function track(server: Server, sockets: Set<Duplex>): void {
  const add = (s: Duplex): void => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  };
  server.on('connection', add);
  server.on('secureConnection', add);
  server.on('upgrade', (_req: IncomingMessage, s: Duplex) => add(s));
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error): void => reject(e);
    server.once('error', onError);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

function refuseUpgrade(socket: Duplex, status: number, text: string): void {
  socket.on('error', () => undefined);
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
}

/**
 * The first offered subprotocol the hub has a handler for, compared without
 * regard to case: the Azure IoT C SDK asks for `MQTT`, the Node SDK for
 * `mqtt`, and IoT Hub takes both.
 */
export function pickSubprotocol(
  offered: readonly string[],
  handlers: NonNullable<ListenerHandlers['webSocket']>,
): { offered: string; handler: WebSocketHandler } | undefined {
  const byName = new Map<string, WebSocketHandler>();
  for (const [name, handler] of Object.entries(handlers)) if (handler) byName.set(name.toLowerCase(), handler);
  for (const p of offered) {
    const handler = byName.get(p.toLowerCase());
    if (handler) return { offered: p, handler };
  }
  return undefined;
}

function makeHttpsServer(opts: ListenerOptions, tlsOptions: tls.TlsOptions): https.Server {
  const h = opts.handlers;
  if (!h.http) throw new TypeError('The https listener needs a handlers.http request handler.');
  // A client that opens TLS and then sends no complete request head is dropped
  // after the auth timeout too (Node's own: 60 s, checked every 30 s).
  const headersTimeout = Math.max(1, (tlsOptions.handshakeTimeout as number | undefined) ?? WIRE_LIMITS.authTimeoutMs);
  const server = https.createServer(
    {
      ...tlsOptions,
      maxHeaderSize: opts.maxHeaderBytes ?? WIRE_LIMITS.httpMaxHeaderBytes,
      headersTimeout,
      requestTimeout: Math.max(headersTimeout, 300_000),
      connectionsCheckingInterval: Math.min(30_000, Math.max(50, Math.floor(headersTimeout / 2))),
    },
    h.http,
  );
  // Node applies headersTimeout only once a request has begun: a connection that
  // finishes TLS and then sends nothing (or never a full head) is cut here.
  const served = new WeakSet<Duplex>();
  server.on('request', (req: IncomingMessage) => served.add(req.socket));
  server.on('upgrade', (req: IncomingMessage) => served.add(req.socket));
  server.on('secureConnection', (s: Duplex) => {
    const timer = setTimeout(() => {
      if (!served.has(s)) s.destroy();
    }, headersTimeout);
    timer.unref();
    s.once('close', () => clearTimeout(timer));
  });
  const chosen = new WeakMap<IncomingMessage, string>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.wsMaxPayload ?? Math.max(WIRE_LIMITS.amqpMaxFrameBytes, WIRE_LIMITS.mqttMaxPacketBytes),
    handleProtocols: (_offered, req) => chosen.get(req) ?? false,
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if ((req.url ?? '').split('?')[0] !== WEBSOCKET_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    const match = pickSubprotocol(offered, h.webSocket ?? {});
    if (!match) return refuseUpgrade(socket, 400, 'Bad Request');
    // The answer must be one of the values the client offered, spelled as it spelled it (RFC 6455 §4.2.2).
    chosen.set(req, match.offered);
    wss.handleUpgrade(req, socket, head, (ws) => match.handler(ws, req));
  });
  return server;
}

function makeServer(protocol: ListenerProtocol, opts: ListenerOptions, tlsOptions: tls.TlsOptions): Server {
  if (protocol === 'https') return makeHttpsServer(opts, tlsOptions);
  const handler = protocol === 'amqps' ? opts.handlers.amqp : opts.handlers.mqtt;
  if (!handler) throw new TypeError(`The ${protocol} listener needs a handlers.${protocol === 'amqps' ? 'amqp' : 'mqtt'} socket handler.`);
  // C2D packets are small and each waits for a small reply (PUBACK, disposition): with Nagle on,
  // a connection carrying one message at a time waits for the peer's delayed ACK (~40 ms) per packet.
  return tls.createServer({ ...tlsOptions, noDelay: true }, handler);
}

/** Binds and starts every enabled listener; on any failure releases what was bound and rejects naming the port. */
export async function startListeners(opts: ListenerOptions): Promise<Listeners> {
  const tlsOptions: tls.TlsOptions = {
    cert: opts.tls.cert,
    key: opts.tls.key,
    ...(opts.tls.ca ? { ca: opts.tls.ca } : {}),
    // Device X.509 certificates are checked by the engine (a selfSigned one by
    // thumbprint, a certificateAuthority chain up to a registered CA: see
    // engine/x509-ca.ts), so ask for one but let the handshake pass without it.
    requestCert: true,
    rejectUnauthorized: false,
    // No session resumption: a resumed session carries the device certificate
    // but not the intermediates it sent, so a CA-signed device reconnecting on
    // a ticket could not be checked up to its CA. Every handshake is a full one.
    secureOptions: constants.SSL_OP_NO_TICKET,
    minVersion: 'TLSv1.2',
    // A peer that connects and never completes the handshake is dropped as
    // soon as one that never authenticates would be, not after Node's 120 s.
    handshakeTimeout: opts.handshakeTimeoutMs ?? WIRE_LIMITS.authTimeoutMs,
  };
  const limit: ConnectionCap = { open: 0, max: opts.maxConnections ?? 0, onRefused: opts.onRefused };
  const explicitHosts = opts.host === undefined || opts.host === 'localhost' ? undefined : ([] as string[]).concat(opts.host);
  const hosts = explicitHosts ?? LOOPBACK;
  const servers: Server[] = [];
  const sockets = new Set<Duplex>();
  const ports: Partial<Record<ListenerProtocol, number>> = {};
  const addresses: BoundAddress[] = [];

  const close = async (): Promise<void> => {
    const closing = servers.map(closeServer);
    for (const s of servers) (s as Partial<https.Server>).closeAllConnections?.();
    for (const s of sockets) s.destroy();
    await Promise.all(closing);
  };

  /** Binds one protocol on every host, on the same port; retries when an ephemeral port is taken on the second host. */
  const bind = async (protocol: ListenerProtocol, wanted: number): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const bound: Server[] = [];
      let port = wanted;
      try {
        for (const [i, host] of hosts.entries()) {
          const server = makeServer(protocol, opts, tlsOptions);
          cap(server, protocol, limit);
          track(server, sockets);
          try {
            await listen(server, host, port);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code ?? '';
            // The automatic ::1 is optional: skip it on a machine without IPv6.
            if (!explicitHosts && i > 0 && NO_ADDRESS.has(code)) continue;
            throw Object.assign(new Error(`Cannot listen for ${protocol} on ${host} port ${port}: ${code || (e as Error).message}`), { code, port, cause: e });
          }
          bound.push(server);
          port = (server.address() as AddressInfo).port;
        }
        servers.push(...bound);
        ports[protocol] = port;
        for (const s of bound) {
          const a = s.address() as AddressInfo;
          addresses.push({ protocol, address: a.address, family: a.family, port: a.port });
        }
        return;
      } catch (e) {
        await Promise.all(bound.map(closeServer));
        if (wanted === 0 && bound.length > 0 && (e as { code?: string }).code === 'EADDRINUSE' && attempt < 5) continue;
        throw e;
      }
    }
  };

  try {
    for (const protocol of ['amqps', 'mqtts', 'https'] as const) {
      const wanted = opts.ports?.[protocol] ?? DEFAULT_PORTS[protocol];
      if (wanted === false) continue;
      if (!Number.isInteger(wanted) || wanted < 0 || wanted > 65535)
        throw new RangeError(`Port for ${protocol} must be 0..65535 or false (got ${String(wanted)}).`);
      await bind(protocol, wanted);
    }
  } catch (e) {
    await close();
    throw e;
  }
  return { ports, addresses, close, openConnections: () => limit.open };
}

/**
 * The hub's MQTT 3.1.1 server: aedes for the protocol, our hooks for IoT
 * Hub's rules (authenticate.ts, authorize.ts) and C2D delivery (deliver.ts).
 * It does not listen: the caller accepts sockets (TLS on 8883, or a WebSocket
 * with subprotocol `mqtt` on `/$iothub/websocket`) and hands them over.
 */
import type { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { systemClock, type Clock } from '../../common/clock';
import { WIRE_LIMITS } from '../../common/limits';
import { SAS_CLOCK_SKEW_MS } from '../../common/sas';
import { deviceBoundFilter } from '../../common/codec/mqtt';
import type { ClientCertificateInfo, HubApi } from '../api';
import { clientCertificateOf } from '../client-cert';
import { emitterWithoutDeviceBound, takeOverOutgoing, takeOverSubscriptions, subscriptionsOf, type Client } from './aedes-client';
import { makeAuthenticate } from './authenticate';
import { makeAuthorizePublish, makeAuthorizeSubscribe } from './authorize';
import type { MqttConnection, MqttProtocol } from './connection';
import { C2DDelivery } from './deliver';
import { guardPacketSize } from './packet-size-guard';
import { refusal, remoteOf, transportOf, type AccessObserver } from '../access';
import { C2DError } from '../../common/errors';
import type { ConnectionFault } from '../../common/fault-injection';

export interface MqttServerOptions {
  /** Time for SAS token expiry (the hub's clock; tests pass a ManualClock). */
  clock?: Clock;
  /** C2D messages locked to one connection at once, waiting for PUBACK (default 8). */
  inFlightWindow?: number;
  /** Time a new connection has to send CONNECT (default WIRE_LIMITS.authTimeoutMs). */
  connectTimeoutMs?: number;
  /** Largest MQTT packet accepted (default WIRE_LIMITS.mqttMaxPacketBytes). */
  maxPacketBytes?: number;
  /** Diagnostics: why a connection was refused or dropped. Never carries secrets. */
  onDiagnostic?: (event: { deviceId?: string; message: string }) => void;
  /** Receives every CONNECT accepted or refused, and disconnects at token expiry (see ../access.ts). */
  onAccess?: AccessObserver;
}

export interface MqttServer {
  /** Serves one accepted stream (TCP or TLS socket, or any Duplex). A TLS client certificate is read from the socket. */
  handle(stream: Duplex, info?: { clientCert?: ClientCertificateInfo; protocol?: MqttProtocol }): void;
  /** Serves MQTT over an accepted WebSocket (subprotocol `mqtt`). */
  handleWebSocket(ws: WebSocket, info?: { clientCert?: ClientCertificateInfo }): void;
  /** Open streams (connected or still connecting). */
  readonly connectionCount: number;
  /** Disconnects every client (their locks return to Enqueued) and stops the broker. */
  close(): Promise<void>;
}

/** How long a ShutDownMqtt waits for the peer to close after our FIN before the socket is cut. */
const SHUTDOWN_GRACE_MS = 2000;

/**
 * An injected fault (lib/common/fault-injection.ts) on one MQTT connection. KillTcp: the
 * socket (or WebSocket) is destroyed with nothing said. ShutDownMqtt: MQTT 3.1.1 has no server
 * DISCONNECT, so the stream is ended after what was written (a PUBACK in flight) is flushed
 * (a WebSocket close frame over mqtt-ws). Other faults are not MQTT's.
 */
function performMqttFault(stream: Duplex, f: ConnectionFault): boolean {
  if (f.type === 'KillTcp') {
    stream.destroy();
    return true;
  }
  if (f.type === 'ShutDownMqtt') {
    stream.end();
    setTimeout(() => stream.destroy(), SHUTDOWN_GRACE_MS).unref();
    return true;
  }
  return false;
}

export async function createMqttServer(hub: HubApi, options: MqttServerOptions = {}): Promise<MqttServer> {
  const clock = options.clock ?? systemClock;
  const window = Math.max(1, options.inFlightWindow ?? 8);
  const maxPacketBytes = options.maxPacketBytes ?? WIRE_LIMITS.mqttMaxPacketBytes;
  const diagnostic = options.onDiagnostic ?? (() => {});

  const byStream = new WeakMap<Duplex, MqttConnection>();
  const live = new Set<MqttConnection>();
  /** The newest connected MQTT connection of each device (IoT Hub: one per device). */
  const current = new Map<string, MqttConnection>();
  const connectionOf = (client: Client): MqttConnection | undefined => byStream.get(client.conn as Duplex);

  const access = options.onAccess;
  const remote = (conn: MqttConnection): { remote?: string } => {
    const r = remoteOf(conn.stream);
    return r ? { remote: r } : {};
  };
  const onAuthenticated = (client: Client, conn: MqttConnection): void => {
    conn.client = client;
    // From CONNECT accepted (not clientReady, which comes after the CONNACK is out): a device
    // deleted or disabled from then on loses its connection, subscribed or not.
    if (conn.deviceId !== undefined && !conn.closed) conn.session = hub.openSession(conn.deviceId, conn.protocol, { ended: () => client.close(), fault: (f) => performMqttFault(conn.stream, f) });
    const p = conn.principal;
    if (access && p) {
      access({ type: 'auth-accepted', transport: transportOf(conn.protocol), method: p.kind === 'device' && p.via === 'x509' ? 'x509' : 'sas', identity: p.kind === 'device' ? p.deviceId : p.keyName, kind: p.kind, ...remote(conn) });
    }
    const expiresAtMs = conn.principal?.expiresAtMs;
    if (expiresAtMs === undefined) return;
    // MQTT cannot renew a token in-band: IoT Hub disconnects at expiry (401003) and the SDK reconnects with a new one.
    // The hub accepts a token until se + clock skew, so that is when it stops being valid here too.
    conn.cancelExpiry = clock.at(expiresAtMs + SAS_CLOCK_SKEW_MS, () => {
      const expired = new C2DError('IotHubUnauthorized', 'The SAS token expired; disconnecting.');
      diagnostic({ deviceId: conn.deviceId, message: expired.toString() });
      access?.(refusal(transportOf(conn.protocol), expired, { ...(conn.deviceId !== undefined ? { identity: conn.deviceId } : {}), ...remote(conn) }));
      client.close();
    });
  };
  const onRefused = (client: Client, why: string): void => {
    diagnostic({ deviceId: client.id, message: `CONNECT refused: ${why}` });
    const conn = connectionOf(client);
    access?.(refusal(transportOf(conn?.protocol ?? 'mqtt'), new C2DError('IotHubUnauthorized', why), { ...(client.id ? { identity: client.id } : {}), ...(conn ? remote(conn) : {}) }));
  };

  const { Aedes } = await import('aedes');
  const broker = await Aedes.createBroker({
    connectTimeout: options.connectTimeoutMs ?? WIRE_LIMITS.authTimeoutMs,
    authenticate: makeAuthenticate(hub, connectionOf, onAuthenticated, onRefused),
    authorizeSubscribe: makeAuthorizeSubscribe(connectionOf),
    authorizePublish: makeAuthorizePublish(hub, connectionOf),
    mq: emitterWithoutDeviceBound(),
  });
  (broker as EventEmitter).on('error', (err: Error) => diagnostic({ message: `broker error: ${err.message}` }));
  broker.on('clientError', (client: Client, err: Error) => diagnostic({ deviceId: client.id, message: err.message }));
  broker.on('connectionError', (_client: Client, err: Error) => diagnostic({ message: `before CONNECT: ${err.message}` }));

  /** Serves C2D on this connection at `qos`, opening the engine receiver the first time. */
  const serve = (client: Client, conn: MqttConnection, qos: number): void => {
    if (conn.closed || conn.deviceId === undefined || (qos !== 0 && qos !== 1)) return;
    if (conn.delivery) return conn.delivery.setQos(qos);
    const delivery = new C2DDelivery(hub, client, conn.deviceId, qos, window, conn.protocol, {
      onReceiverClosed: (reason) => {
        if (conn.delivery === delivery) conn.delivery = undefined;
        diagnostic({ deviceId: conn.deviceId, message: `C2D receiver closed: ${reason.message}` });
        client.close();
      },
      onSettleError: (err) => diagnostic({ deviceId: conn.deviceId, message: `PUBACK not settled: ${String(err)}` }),
    });
    conn.delivery = delivery;
    delivery.start();
  };

  broker.on('clientReady', (client: Client) => {
    const conn = connectionOf(client);
    if (!conn || conn.deviceId === undefined || conn.closed) return;
    current.set(conn.deviceId, conn);
    // clean=false: aedes restored the subscription; delivery resumes without a new SUBSCRIBE (SAS renewal, sdk-wire §3).
    const qos = subscriptionsOf(client).get(deviceBoundFilter(conn.deviceId));
    if (qos !== undefined) serve(client, conn, qos);
  });
  broker.on('subscribe', (subs: { topic: string; qos: number }[], client: Client) => {
    const conn = connectionOf(client);
    if (!conn || conn.deviceId === undefined) return;
    for (const s of subs) if (s.topic === deviceBoundFilter(conn.deviceId) && s.qos !== 128) serve(client, conn, s.qos);
  });
  broker.on('unsubscribe', (topics: string[], client: Client) => {
    const conn = connectionOf(client);
    if (conn?.deviceId !== undefined && topics.includes(deviceBoundFilter(conn.deviceId))) {
      conn.delivery?.stop();
      conn.delivery = undefined;
    }
  });
  takeOverOutgoing(broker, (client, packetId) => connectionOf(client)?.delivery?.puback(packetId));
  takeOverSubscriptions(broker);

  const cleanup = (conn: MqttConnection): void => {
    if (conn.closed) return;
    conn.closed = true;
    live.delete(conn);
    conn.cancelExpiry?.();
    conn.delivery?.stop(); // locks still held return to Enqueued
    conn.delivery = undefined;
    if (conn.deviceId !== undefined && current.get(conn.deviceId) === conn) current.delete(conn.deviceId);
    conn.session?.close();
    conn.session = undefined;
  };

  const handle: MqttServer['handle'] = (stream, info) => {
    const clientCert = info?.clientCert ?? clientCertificateOf(stream);
    const conn: MqttConnection = { stream, protocol: info?.protocol ?? 'mqtt', closed: false, ...(clientCert ? { clientCert } : {}) };
    byStream.set(stream, conn);
    live.add(conn);
    stream.once('close', () => cleanup(conn));
    broker.handle(stream);
    guardPacketSize(stream, maxPacketBytes, (why) => {
      diagnostic({ deviceId: conn.deviceId, message: `dropping connection: ${why}` });
      stream.destroy();
    });
  };

  return {
    handle,
    handleWebSocket(ws, info) {
      handle(createWebSocketStream(ws), { ...info, protocol: 'mqtt-ws' });
    },
    get connectionCount() {
      return live.size;
    },
    async close() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      for (const conn of [...live]) {
        conn.stream.destroy();
        cleanup(conn);
      }
    },
  };
}

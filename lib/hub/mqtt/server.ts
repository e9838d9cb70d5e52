/**
 * The hub's MQTT 3.1.1 device endpoint: IoT Hub's subset of MQTT written on
 * mqtt-packet (device-connection.ts), not a general broker. A device talks only to
 * the hub, about its own topics, so nothing routes messages between clients,
 * stores retained messages or replays outgoing packets: the engine owns every
 * C2D message and its redelivery.
 *
 * It does not listen: the caller accepts sockets (TLS on 8883, or a WebSocket
 * with subprotocol `mqtt` on `/$iothub/websocket`) and hands them over.
 */
import type { Duplex } from 'node:stream';
import { createWebSocketStream, type WebSocket } from 'ws';
import { systemClock, type Clock } from '../../common/clock';
import { WIRE_LIMITS } from '../../common/limits';
import type { ClientCertificateInfo, HubApi } from '../api';
import { clientCertificateOf } from '../client-cert';
import { MqttDeviceConnection, type EndpointContext, type MqttProtocol } from './device-connection';
import { SharedPacketReader } from './packet-reader';
import { SessionStore } from './sessions';
import type { AccessObserver } from '../access';

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

/** One device's connection, as the hub (or a test, or a fault injector) can close it. */
export interface MqttDeviceLink {
  readonly deviceId: string | undefined;
  readonly protocol: MqttProtocol;
  /** Flushes what was written, then closes; resolves once closed. */
  end(reason?: string): Promise<void>;
  /** Closes at once (the socket is destroyed). */
  destroy(reason?: string): void;
}

export interface MqttServer {
  /** Serves one accepted stream (TCP or TLS socket, or any Duplex). A TLS client certificate is read from the socket. */
  handle(stream: Duplex, info?: { clientCert?: ClientCertificateInfo; protocol?: MqttProtocol }): void;
  /** Serves MQTT over an accepted WebSocket (subprotocol `mqtt`). */
  handleWebSocket(ws: WebSocket, info?: { clientCert?: ClientCertificateInfo }): void;
  /** The device's connected MQTT connection, if it has one. */
  connectionOf(deviceId: string): MqttDeviceLink | undefined;
  /** Open streams (connected or still connecting). */
  readonly connectionCount: number;
  /** Closes every connection (their locks return to Enqueued). */
  close(): Promise<void>;
}

/** How often every connection's keep-alive and token expiry are checked (one timer for all, not one per connection). */
export const KEEPALIVE_SWEEP_MS = 500;

export function createMqttServer(hub: HubApi, options: MqttServerOptions = {}): MqttServer {
  const live = new Set<MqttDeviceConnection>();
  /** The newest connected MQTT connection of each device (IoT Hub: one per device). */
  const current = new Map<string, MqttDeviceConnection>();
  const ctx: EndpointContext = {
    hub,
    clock: options.clock ?? systemClock,
    window: Math.max(1, options.inFlightWindow ?? 8),
    maxPacketBytes: options.maxPacketBytes ?? WIRE_LIMITS.mqttMaxPacketBytes,
    connectTimeoutMs: options.connectTimeoutMs ?? WIRE_LIMITS.authTimeoutMs,
    sessions: new SessionStore(),
    reader: new SharedPacketReader(),
    diagnostic: options.onDiagnostic ?? (() => {}),
    access: options.onAccess,
    claim(conn) {
      const older = current.get(conn.deviceId!);
      current.set(conn.deviceId!, conn);
      if (older && older !== conn) older.retire();
    },
    released(conn) {
      if (conn.deviceId !== undefined && current.get(conn.deviceId) === conn) current.delete(conn.deviceId);
    },
    closed(conn) {
      live.delete(conn);
    },
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const conn of live) conn.checkDeadlines(now);
  }, KEEPALIVE_SWEEP_MS);
  sweep.unref();

  const handle: MqttServer['handle'] = (stream, info) => {
    const conn = new MqttDeviceConnection(stream, info?.protocol ?? 'mqtt', ctx, info?.clientCert ?? clientCertificateOf(stream));
    live.add(conn);
  };

  return {
    handle,
    handleWebSocket(ws, info) {
      handle(createWebSocketStream(ws), { ...info, protocol: 'mqtt-ws' });
    },
    connectionOf: (deviceId) => current.get(deviceId),
    get connectionCount() {
      return live.size;
    },
    async close() {
      clearInterval(sweep);
      await Promise.all(
        [...live].map((conn) => {
          const closed = new Promise<void>((resolve) => (conn.stream.destroyed && conn.stream.closed ? resolve() : conn.stream.once('close', () => resolve())));
          conn.destroy('the hub is closing');
          return closed;
        }),
      );
    },
  };
}

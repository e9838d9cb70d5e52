/**
 * The clients' contract. Two implementations of each side exist: the network
 * clients (DeviceClient, ServiceClient: AMQP, MQTT, HTTPS to the embedded hub
 * or to Azure IoT Hub) and the in-process ones (straight onto a Hub in the
 * same process, no sockets). The Node-RED nodes use only these interfaces.
 */
import type { EventEmitter } from 'node:events';
import type { AckMode, OutgoingMessage, Properties, ReceivedMessage, FeedbackRecord } from '../common/message';
import type { RetryPolicy } from '../common/retry';
import type { Device, DeviceSpec } from '../hub/api';
import type { ProxySetting } from './proxy';

export type DeviceTransport = 'amqp' | 'amqp-ws' | 'mqtt' | 'mqtt-ws' | 'http';
export const DEVICE_TRANSPORTS: readonly DeviceTransport[] = ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'];
export type ServiceTransport = 'amqp' | 'amqp-ws';

/** Why a connection changed state (connection status events). */
export type ConnectionReason =
  | 'connected'
  | 'closed-by-client'
  | 'expired-token'
  | 'bad-credential'
  | 'communication-error'
  | 'retry-expired'
  | 'device-disabled'
  | 'no-network';

export interface ConnectionStatus {
  reason: ConnectionReason;
  /** The error behind the change, when there is one. */
  cause?: Error;
}

/**
 * Events of both clients:
 * - `connected` (ConnectionStatus), `disconnected` (ConnectionStatus: final, no more retries),
 *   `disconnected_retrying` (ConnectionStatus & { attempt: number; delayMs: number }),
 * - `message` (ReceivedMessage) on the device side, only while a listener is attached,
 * - `error` (Error) for errors not tied to a call,
 * - `token_renewed` ({ expiresAtMs }) each time a SAS or Entra token was put or minted (never the token),
 * - `send_retrying` ({ deviceId, messageId, attempt, delayMs, cause }) on the service side when a send
 *   is retried under the RetryPolicy (network loss, 429001 throttling, 503).
 */
export interface ClientEvents extends EventEmitter {
  readonly connected: boolean;
}

export interface DeviceConnection extends ClientEvents {
  readonly deviceId: string;
  readonly transport: DeviceTransport | 'in-process';
  /** Whether reject and abandon are possible (false on MQTT: PUBACK is the only settlement). */
  readonly canRejectOrAbandon: boolean;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Waits up to `timeoutMs` for one message (HTTP GET, or AMQP credit 1); null when none came. */
  receive(options?: { timeoutMs?: number }): Promise<ReceivedMessage | null>;
  /** Settle by message or lock token. 412002 when the lock was lost; a clear error for reject/abandon over MQTT. */
  complete(message: ReceivedMessage | string): Promise<void>;
  reject(message: ReceivedMessage | string): Promise<void>;
  abandon(message: ReceivedMessage | string): Promise<void>;
  /** Device-to-cloud telemetry (where the transport has it). */
  sendEvent?(body: Buffer, properties?: Properties): Promise<void>;
}

export interface SendOptions {
  ack?: AckMode;
  /** Time to live from now, ms. Exclusive with expiryTimeUtc. */
  ttlMs?: number;
  /** Absolute expiry, epoch ms or a Date. */
  expiryTimeUtc?: number | Date;
  messageId?: string;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  properties?: Properties;
  /** Give up (and reject with a timeout error) after this long. */
  timeoutMs?: number;
}

export interface SendOutcome {
  messageId: string;
  deviceId: string;
  /** Known only in-process (the network protocol does not return it). */
  enqueuedTimeUtc?: number;
}

/** A feedback batch handed to a backend: settle it once its records are handled. */
export interface FeedbackBatchHandle {
  records: FeedbackRecord[];
  enqueuedTimeUtc: number;
  lockToken: string;
  complete(): Promise<void>;
  abandon(): Promise<void>;
}

export interface ServiceConnection extends ClientEvents {
  readonly hostName: string;
  open(): Promise<void>;
  close(): Promise<void>;
  /** Resolves once the hub committed the message. */
  send(deviceId: string, body: Buffer | OutgoingMessage, options?: SendOptions): Promise<SendOutcome>;
  /** Feedback batches as they come; ends when the connection closes. */
  feedback(): AsyncIterable<FeedbackBatchHandle>;
  purge(deviceId: string): Promise<number>;
  createDevice(spec: DeviceSpec): Promise<Device>;
  getDevice(deviceId: string): Promise<Device>;
  updateDevice(spec: DeviceSpec, etag?: string): Promise<Device>;
  deleteDevice(deviceId: string, etag?: string): Promise<void>;
  listDevices(): Promise<Device[]>;
}

export interface CommonClientOptions {
  /** Extra CA certificate(s) to trust (PEM), e.g. the embedded hub's self-signed one. */
  ca?: string | Buffer;
  /**
   * HTTP(S) proxy for the WebSocket transports (amqp-ws, mqtt-ws): a URL
   * such as `http://user:password@proxy:3128`, `{ url, noProxy }`, or false
   * for none. Absent: HTTPS_PROXY / https_proxy / ALL_PROXY, except for
   * hosts in NO_PROXY.
   */
  proxy?: ProxySetting;
  retryPolicy?: RetryPolicy;
}

/**
 * The clients' contract. Two implementations of each side exist: the network
 * clients (DeviceClient, ServiceClient: AMQP, MQTT, HTTPS to the embedded hub
 * or to Azure IoT Hub) and the in-process ones (straight onto a Hub in the
 * same process, no sockets). The Node-RED nodes use only these interfaces.
 */
import type { EventEmitter } from 'node:events';
import type { AckMode, DeviceMessage, OutgoingMessage, Properties, FeedbackRecord } from '../common/message';
import type { RetryPolicy } from '../common/retry';
import type { Device, DeviceSpec } from '../hub/api';
import type { ProxySetting } from './proxy';

export type DeviceTransport = 'amqp' | 'amqp-ws' | 'mqtt' | 'mqtt-ws' | 'http';
export const DEVICE_TRANSPORTS: readonly DeviceTransport[] = ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'];
export type ServiceTransport = 'amqp' | 'amqp-ws';

/** Why a connection changed state (connection status events). */
export type ConnectionReason =
  'connected' | 'closed-by-client' | 'expired-token' | 'bad-credential' | 'communication-error' | 'retry-expired' | 'device-disabled' | 'no-network';

export interface ConnectionStatus {
  reason: ConnectionReason;
  /** The error behind the change, when there is one. */
  cause?: Error;
}

/**
 * Events of both clients:
 * - `connected` (ConnectionStatus), `disconnected` (ConnectionStatus: final, no more retries),
 *   `disconnected_retrying` (ConnectionStatus & { attempt: number; delayMs: number }),
 * - `message` (DeviceMessage) on the device side, only while a listener is attached,
 * - `error` (Error) for errors not tied to a call,
 * - `warning` ({ message }) on the device side for advice given on open() (HTTPS polling Azure faster than IoT Hub allows),
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
  /**
   * Waits up to `timeoutMs` for one message (HTTP GET, or AMQP credit 1); null when none came.
   * With `signal`, rejects with the signal's reason (an AbortError) once it is aborted.
   */
  receive(options?: ReceiveOptions): Promise<DeviceMessage | null>;
  /**
   * Settle by message or lock token. 412002 when the lock was lost (over MQTT also when the
   * client cannot be sure it was not: see DeviceClient's lockTimeoutMs); 405001 for reject/abandon over MQTT.
   */
  complete(message: DeviceMessage | string): Promise<void>;
  reject(message: DeviceMessage | string): Promise<void>;
  abandon(message: DeviceMessage | string): Promise<void>;
  /**
   * Device-to-cloud: resolves once the hub took the message (AMQP accepted, MQTT PUBACK, HTTP 204).
   * The hub reports it as its `deviceToCloud` event.
   */
  sendEvent(body: Buffer, properties?: Properties): Promise<void>;
}

export interface ReceiveOptions {
  /** How long to wait (default: the client's receiveTimeoutMs, 10 s). */
  timeoutMs?: number;
  /** Cancels the wait: receive() rejects with `signal.reason`. */
  signal?: AbortSignal;
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
  /**
   * Give up after this long (default 60 s, SEND_TIMEOUT_MS; 0 = wait as long as
   * retries go on): rejects with 503001 and retries no more. The hub may still have
   * committed the message; sending it again (same messageId) may deliver it twice.
   */
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
  /**
   * One feedback batch, or null when none arrived within `timeoutMs` (default 10 s); with
   * `signal`, rejects with the signal's reason once it is aborted. A batch waiting here is
   * locked (the hub's feedback lock): settle it. Batches go to receiveFeedback() callers
   * only while no feedback() iteration is running.
   */
  receiveFeedback(options?: ReceiveOptions): Promise<FeedbackBatchHandle | null>;
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

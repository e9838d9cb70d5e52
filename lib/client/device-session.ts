/**
 * What each device transport (AMQP, MQTT, HTTP) provides to DeviceClient for
 * one connection. Lock tokens are only good on the session that received
 * them: after a reconnect the hub has put those messages back, so settling an
 * old token is 412002 (as the SDKs do locally for AMQP).
 */
import type { Clock } from '../common/clock';
import type { DeviceMessage, Properties, Settlement } from '../common/message';
import type { DeviceCredentials } from './credentials';
import type { LiveSession } from './connection-keeper';
import type { DeviceTransport } from './types';
import type { ProxySetting } from './proxy';

export interface DeviceSession extends LiveSession {
  /** Starts pushing messages to `onMessage` (AMQP link with credit, MQTT subscription, HTTP polling). */
  enableMessages(onMessage: (m: DeviceMessage) => void): Promise<void>;
  disableMessages(): Promise<void>;
  /** One message or null after `timeoutMs`; rejects with the signal's reason once it is aborted. */
  receive(timeoutMs: number, signal?: AbortSignal): Promise<DeviceMessage | null>;
  settle(kind: Settlement, lockToken: string): Promise<void>;
  /** Device-to-cloud: resolves once the hub took the message (AMQP accepted, MQTT PUBACK, HTTP 204). */
  sendEvent(body: Buffer, properties: Properties): Promise<void>;
}

export interface DeviceSessionOptions {
  credentials: DeviceCredentials;
  transport: DeviceTransport;
  /** Port when HostName has none (default: the IoT Hub port of the transport). */
  port?: number;
  ca?: string | Buffer;
  /** For the WebSocket transports (see CommonClientOptions.proxy). */
  proxy?: ProxySetting;
  connectTimeoutMs: number;
  /** HTTP polling interval while a message listener is attached. */
  httpPollIntervalMs: number;
  /** MQTT keep-alive, seconds. */
  mqttKeepAliveS: number;
  /** AMQP prefetch while a message listener is attached. */
  amqpPrefetch: number;
  /** The hub's lock timeout, as the client believes it (lock-estimate.ts). */
  lockTimeoutMs: number;
  /** Reports token renewals (tests, logs); never given the token. */
  onTokenRenewed?: (expiresAtMs: number) => void;
  /** The client's clock: message arrival and lock deadlines. */
  clock: Clock;
  userAgent: string;
}

export const CLIENT_USER_AGENT = 'node-red-contrib-c2d/0.1.0';

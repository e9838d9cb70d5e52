/**
 * DeviceClient: a device's C2D connection to IoT Hub or the embedded hub
 * over AMQP, AMQP-WS, MQTT, MQTT-WS or HTTPS, with the same events and calls
 * on each. The transport specifics live in the session modules; this class
 * keeps the connection up (ConnectionKeeper), turns `message` listeners into
 * a subscription, and routes settlements to the session that received the
 * message. See DeviceConnection in types.ts for the contract.
 */
import { EventEmitter } from 'node:events';
import { C2DError, errors } from '../common/errors';
import type { ReceivedMessage, Settlement } from '../common/message';
import { ExponentialBackoffWithJitter, type RetryPolicy } from '../common/retry';
import { openAmqpDeviceSession } from './amqp/device';
import { ConnectionKeeper } from './connection-keeper';
import { DeviceCredentials, type DeviceParts, type TokenTiming } from './credentials';
import { CLIENT_USER_AGENT, type DeviceSession, type DeviceSessionOptions } from './device-session';
import { openHttpDeviceSession } from './http/device';
import { openMqttDeviceSession } from './mqtt/device';
import { DEVICE_TRANSPORTS, type CommonClientOptions, type DeviceConnection, type DeviceTransport } from './types';

export interface DeviceClientOptions extends CommonClientOptions, TokenTiming {
  /** Default 'amqp'. */
  transport?: DeviceTransport;
  /** Port when HostName has none (local hubs); absent: IoT Hub's port for the transport. */
  port?: number;
  /** Certificate and key for `x509=true` connection strings. */
  x509?: DeviceParts['x509'];
  /** Default 30 s. */
  connectTimeoutMs?: number;
  /** HTTP polling interval while a `message` listener is attached (default 1000 ms, as the SDK). */
  httpPollIntervalMs?: number;
  /** MQTT keep-alive in seconds (default 180, as the SDK). */
  mqttKeepAliveS?: number;
  /** AMQP link credit while a `message` listener is attached (default 50, as the C# SDK). */
  amqpPrefetch?: number;
  /** Default timeout of receive() (default 10 s). */
  receiveTimeoutMs?: number;
}

const OPENERS: Record<DeviceTransport, (o: DeviceSessionOptions) => Promise<DeviceSession>> = {
  amqp: openAmqpDeviceSession,
  'amqp-ws': openAmqpDeviceSession,
  mqtt: openMqttDeviceSession,
  'mqtt-ws': openMqttDeviceSession,
  http: openHttpDeviceSession,
};

function isMqtt(t: DeviceTransport): boolean {
  return t === 'mqtt' || t === 'mqtt-ws';
}

export class DeviceClient extends EventEmitter implements DeviceConnection {
  readonly transport: DeviceTransport;
  readonly canRejectOrAbandon: boolean;
  private readonly keeper: ConnectionKeeper<DeviceSession>;
  private readonly sessionOptions: DeviceSessionOptions;
  private retryPolicy: RetryPolicy;
  private readonly receiveTimeoutMs: number;

  constructor(
    readonly credentials: DeviceCredentials,
    options: DeviceClientOptions = {},
  ) {
    super();
    const transport = options.transport ?? 'amqp';
    if (!DEVICE_TRANSPORTS.includes(transport)) throw new C2DError('ArgumentInvalid', `Unknown transport '${String(transport)}': use ${DEVICE_TRANSPORTS.join(', ')}.`);
    this.transport = transport;
    this.canRejectOrAbandon = !isMqtt(transport);
    this.retryPolicy = options.retryPolicy ?? new ExponentialBackoffWithJitter();
    this.receiveTimeoutMs = options.receiveTimeoutMs ?? 10_000;
    this.sessionOptions = {
      credentials,
      transport,
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
      httpPollIntervalMs: options.httpPollIntervalMs ?? 1000,
      mqttKeepAliveS: options.mqttKeepAliveS ?? 180,
      amqpPrefetch: options.amqpPrefetch ?? 50,
      onTokenRenewed: (expiresAtMs) => this.emit('token_renewed', { expiresAtMs }),
      userAgent: CLIENT_USER_AGENT,
    };
    this.keeper = new ConnectionKeeper<DeviceSession>(
      this,
      () => OPENERS[transport](this.sessionOptions),
      () => this.retryPolicy,
      (s) => (this.listenerCount('message') > 0 ? s.enableMessages(this.emitMessage) : Promise.resolve()),
    );
    // A `message` listener is the subscription: attach starts it, removing the last one stops it.
    this.on('newListener', (event: string | symbol) => {
      if (event === 'message' && this.listenerCount('message') === 0) void this.keeper.current?.enableMessages(this.emitMessage).catch((e: unknown) => this.emitError(e));
    });
    this.on('removeListener', (event: string | symbol) => {
      if (event === 'message' && this.listenerCount('message') === 0) void this.keeper.current?.disableMessages().catch((e: unknown) => this.emitError(e));
    });
  }

  static fromConnectionString(connectionString: string, options: DeviceClientOptions = {}): DeviceClient {
    return new DeviceClient(DeviceCredentials.fromConnectionString(connectionString, options, options.x509), options);
  }

  /** From parts: host, device id, and a SAS key, a SAS token or an X.509 certificate. */
  static fromParts(parts: DeviceParts, options: DeviceClientOptions = {}): DeviceClient {
    return new DeviceClient(new DeviceCredentials(parts, options), options);
  }

  get deviceId(): string {
    return this.credentials.deviceId;
  }

  get connected(): boolean {
    return this.keeper.connected;
  }

  setRetryPolicy(policy: RetryPolicy): void {
    this.retryPolicy = policy;
  }

  private readonly emitMessage = (m: ReceivedMessage): void => {
    this.emit('message', m);
  };

  private emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e instanceof Error ? e : new Error(String(e)));
  }

  open(): Promise<void> {
    return this.keeper.open();
  }

  close(): Promise<void> {
    return this.keeper.close();
  }

  async receive(options: { timeoutMs?: number } = {}): Promise<ReceivedMessage | null> {
    const s = await this.keeper.whenOpen();
    return s.receive(options.timeoutMs ?? this.receiveTimeoutMs);
  }

  complete(message: ReceivedMessage | string): Promise<void> {
    return this.settle('complete', message);
  }

  reject(message: ReceivedMessage | string): Promise<void> {
    return this.settle('reject', message);
  }

  abandon(message: ReceivedMessage | string): Promise<void> {
    return this.settle('abandon', message);
  }

  private async settle(kind: Settlement, message: ReceivedMessage | string): Promise<void> {
    const lockToken = typeof message === 'string' ? message : message?.lockToken;
    if (typeof lockToken !== 'string' || lockToken === '') throw errors.invalid('Settle needs a received message or its lock token.');
    // The one check of this rule: the MQTT session is never asked to reject or abandon, and the c2d-ack node relies on this.
    if (kind !== 'complete' && !this.canRejectOrAbandon) throw errors.notOverMqtt(kind);
    const s = this.keeper.settling;
    // Not connected now: the hub put the message back when the connection dropped.
    if (!s) throw errors.lockLost(lockToken);
    await s.settle(kind, lockToken);
  }
}

/**
 * DeviceClient: a device's C2D connection to IoT Hub or the embedded hub
 * over AMQP, AMQP-WS, MQTT, MQTT-WS or HTTPS, with the same events and calls
 * on each. The transport specifics live in the session modules; this class
 * keeps the connection up (ConnectionKeeper), turns `message` listeners into
 * a subscription, and routes settlements to the session that received the
 * message. See DeviceConnection in types.ts for the contract.
 */
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../common/clock';
import { errors } from '../common/errors';
import { isAzureIotHubHost } from '../common/azure-host';
import { DEFAULT_LIMITS, IOT_HUB_HTTP_MIN_POLL_MS, LOCAL_HTTP_POLL_MS } from '../common/limits';
import { assertDeviceEvent } from '../common/validate';
import type { DeviceMessage, Properties, Settlement } from '../common/message';
import { ExponentialBackoffWithJitter, type RetryPolicy } from '../common/retry';
import { openAmqpDeviceSession } from './amqp/device';
import { ConnectionKeeper } from './connection-keeper';
import { DeviceCredentials, type DeviceParts, type TokenTiming } from './credentials';
import { CLIENT_USER_AGENT, type DeviceSession, type DeviceSessionOptions } from './device-session';
import { openHttpDeviceSession } from './http/device';
import { openMqttDeviceSession } from './mqtt/device';
import { DEVICE_TRANSPORTS, type CommonClientOptions, type DeviceConnection, type DeviceTransport, type ReceiveOptions } from './types';

export interface DeviceClientOptions extends CommonClientOptions, TokenTiming {
  /** Default 'amqp'. */
  transport?: DeviceTransport;
  /** Port when HostName has none (local hubs); absent: IoT Hub's port for the transport. */
  port?: number;
  /** Certificate and key for `x509=true` connection strings. */
  x509?: DeviceParts['x509'];
  /** Default 30 s. */
  connectTimeoutMs?: number;
  /**
   * HTTP polling interval while a `message` listener is attached. Default: IoT Hub's guidance,
   * 25 minutes, for an Azure host (`*.azure-devices.net`), else 1 s (the embedded hub). Below
   * 25 minutes against Azure the client emits a `warning` on open(): IoT Hub throttles that.
   */
  httpPollIntervalMs?: number;
  /** MQTT keep-alive in seconds (default 180, as the SDK). */
  mqttKeepAliveS?: number;
  /** AMQP link credit while a `message` listener is attached (default 50, as the C# SDK). */
  amqpPrefetch?: number;
  /** Default timeout of receive() (default 10 s). */
  receiveTimeoutMs?: number;
  /**
   * The hub's lock timeout (default IoT Hub's, 60 s). No transport says when a lock ends, so the
   * client counts from a message's arrival and takes the lock for lost a margin before this
   * (lock-estimate.ts): `lockedUntilUtc` on each message, and over MQTT a complete() after it
   * fails with 412002 without sending the PUBACK. For an embedded hub with a shorter lock,
   * give its value (or less): a longer value makes the client wrong in the hopeful direction.
   */
  lockTimeoutMs?: number;
  /** The client's clock (tests move it by hand); default the system clock. */
  clock?: Clock;
}

const OPENERS: Record<DeviceTransport, (o: DeviceSessionOptions) => Promise<DeviceSession>> = {
  amqp: openAmqpDeviceSession,
  'amqp-ws': openAmqpDeviceSession,
  mqtt: openMqttDeviceSession,
  'mqtt-ws': openMqttDeviceSession,
  http: openHttpDeviceSession,
};

function lockTimeoutOf(v: number | undefined): number {
  if (v === undefined) return DEFAULT_LIMITS.lockTimeoutMs;
  if (!Number.isInteger(v) || v < 1) throw errors.invalid(`lockTimeoutMs must be a positive whole number of milliseconds (got ${String(v)}).`);
  return v;
}

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
  /** Said once, on the first open(): polling faster than IoT Hub allows. */
  private pollWarning: string | undefined;

  constructor(
    readonly credentials: DeviceCredentials,
    options: DeviceClientOptions = {},
  ) {
    super();
    const transport = options.transport ?? 'amqp';
    if (!DEVICE_TRANSPORTS.includes(transport)) throw errors.invalid(`Unknown transport '${String(transport)}': use ${DEVICE_TRANSPORTS.join(', ')}.`);
    this.transport = transport;
    this.canRejectOrAbandon = !isMqtt(transport);
    this.retryPolicy = options.retryPolicy ?? new ExponentialBackoffWithJitter();
    this.receiveTimeoutMs = options.receiveTimeoutMs ?? 10_000;
    this.sessionOptions = {
      credentials,
      transport,
      ...(options.port !== undefined ? { port: options.port } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
      ...(options.proxy !== undefined ? { proxy: options.proxy } : {}),
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
      httpPollIntervalMs: this.pollIntervalOf(options.httpPollIntervalMs),
      mqttKeepAliveS: options.mqttKeepAliveS ?? 180,
      amqpPrefetch: options.amqpPrefetch ?? 50,
      lockTimeoutMs: lockTimeoutOf(options.lockTimeoutMs),
      clock: options.clock ?? systemClock,
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
      if (event === 'message' && this.listenerCount('message') === 0)
        void this.keeper.current?.enableMessages(this.emitMessage).catch((e: unknown) => this.emitError(e));
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

  /** The HTTPS polling interval in use (see DeviceClientOptions.httpPollIntervalMs). */
  get httpPollIntervalMs(): number {
    return this.sessionOptions.httpPollIntervalMs;
  }

  setRetryPolicy(policy: RetryPolicy): void {
    this.retryPolicy = policy;
  }

  private readonly emitMessage = (m: DeviceMessage): void => {
    this.emit('message', m);
  };

  private emitError(e: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', e instanceof Error ? e : new Error(String(e)));
  }

  open(): Promise<void> {
    if (this.pollWarning !== undefined) {
      this.emit('warning', { message: this.pollWarning });
      this.pollWarning = undefined;
    }
    return this.keeper.open();
  }

  /** IoT Hub's 25 minutes against Azure (warned below it), the embedded hub's 1 s elsewhere. */
  private pollIntervalOf(given: number | undefined): number {
    const azure = isAzureIotHubHost(this.credentials.hubHostName);
    if (given === undefined) return azure ? IOT_HUB_HTTP_MIN_POLL_MS : LOCAL_HTTP_POLL_MS;
    if (!Number.isFinite(given) || given <= 0) throw errors.invalid(`httpPollIntervalMs must be a positive number of milliseconds (got ${String(given)}).`);
    if (azure && this.transport === 'http' && given < IOT_HUB_HTTP_MIN_POLL_MS) {
      this.pollWarning =
        `HTTPS polling every ${given / 1000} s: IoT Hub asks devices to poll at most every ${IOT_HUB_HTTP_MIN_POLL_MS / 60_000} minutes ` +
        'and throttles them otherwise (429001, and queues filling up to 403004). Use MQTT or AMQP for prompt delivery.';
    }
    return given;
  }

  close(): Promise<void> {
    return this.keeper.close();
  }

  async receive(options: ReceiveOptions = {}): Promise<DeviceMessage | null> {
    options.signal?.throwIfAborted();
    const s = await this.keeper.whenOpen();
    return s.receive(options.timeoutMs ?? this.receiveTimeoutMs, options.signal);
  }

  complete(message: DeviceMessage | string): Promise<void> {
    return this.settle('complete', message);
  }

  reject(message: DeviceMessage | string): Promise<void> {
    return this.settle('reject', message);
  }

  abandon(message: DeviceMessage | string): Promise<void> {
    return this.settle('abandon', message);
  }

  /** Device-to-cloud on this transport; resolves once the hub took it (see DeviceConnection). */
  async sendEvent(body: Buffer, properties: Properties = {}): Promise<void> {
    assertDeviceEvent(body, properties);
    const s = await this.keeper.whenOpen();
    await s.sendEvent(body, properties);
  }

  private async settle(kind: Settlement, message: DeviceMessage | string): Promise<void> {
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

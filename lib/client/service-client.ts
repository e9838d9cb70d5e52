/**
 * ServiceClient: a backend's connection to IoT Hub or the embedded hub.
 * send() and feedback() go over AMQP (the only C2D send path IoT Hub has),
 * registry calls and purge over HTTPS. Auth: a shared access policy
 * (connection string) or any @azure/identity TokenCredential (Entra).
 * The client gives every message a messageId (uuid) when the caller gives
 * none, so feedback records can be matched to sends.
 */
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { systemClock, type Clock } from '../common/clock';
import { errors } from '../common/errors';
import type { OutgoingMessage } from '../common/message';
import { ExponentialBackoffWithJitter, classifyError, type RetryPolicy } from '../common/retry';
import type { Device, DeviceSpec } from '../hub/api';
import { openAmqpServiceSession, type AmqpServiceSession, type FeedbackDelivery } from './amqp/service';
import { ConnectionKeeper } from './connection-keeper';
import { ServiceCredentials, type TokenCredential, type TokenTiming } from './credentials';
import { CLIENT_USER_AGENT } from './device-session';
import { FeedbackStream } from './feedback-stream';
import { RegistryHttp } from './http/registry';
import { MessageBuffer } from './message-buffer';
import { toOutgoing } from './outgoing';
import { sendTimedOut, sendTimeoutOf, withSendTimeout } from './send-timeout';
import type { CommonClientOptions, FeedbackBatchHandle, ReceiveOptions, SendOptions, SendOutcome, ServiceConnection, ServiceTransport } from './types';

export interface ServiceClientOptions extends CommonClientOptions, TokenTiming {
  /** Default 'amqp'. */
  transport?: ServiceTransport;
  /** Ports for a local hub when HostName has none, or to override it per protocol. */
  ports?: { amqps?: number; https?: number };
  connectTimeoutMs?: number;
  /** Feedback batches delivered before the app settles them, for feedback() (default 10). */
  feedbackCredit?: number;
  /** Default timeout of receiveFeedback() (default 10 s). */
  receiveTimeoutMs?: number;
  /** The client's clock for send timeouts (tests move it by hand); default the system clock. */
  clock?: Clock;
}

export class ServiceClient extends EventEmitter implements ServiceConnection {
  private readonly keeper: ConnectionKeeper<AmqpServiceSession>;
  private readonly registry: RegistryHttp;
  private retryPolicy: RetryPolicy;
  private readonly streams = new Set<FeedbackStream>();
  /** Batches for receiveFeedback(), while no feedback() iteration takes them. */
  private readonly pulled = new MessageBuffer<FeedbackBatchHandle>();
  /** The session each pulled batch came on: its lock dies with that session. */
  private readonly batchSession = new WeakMap<FeedbackBatchHandle, AmqpServiceSession>();
  private readonly feedbackCredit: number;
  private readonly receiveTimeoutMs: number;
  private readonly clock: Clock;

  constructor(
    readonly credentials: ServiceCredentials,
    options: ServiceClientOptions = {},
  ) {
    super();
    this.retryPolicy = options.retryPolicy ?? new ExponentialBackoffWithJitter();
    this.feedbackCredit = options.feedbackCredit ?? 10;
    this.receiveTimeoutMs = options.receiveTimeoutMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    const transport = options.transport ?? 'amqp';
    const connectTimeoutMs = options.connectTimeoutMs ?? 30_000;
    const amqpPort = options.ports?.amqps ?? (transport === 'amqp' ? credentials.port : undefined);
    const wsPort = options.ports?.https ?? credentials.port;
    this.keeper = new ConnectionKeeper<AmqpServiceSession>(
      this,
      () =>
        openAmqpServiceSession({
          credentials,
          webSocket: transport === 'amqp-ws',
          ...((transport === 'amqp' ? amqpPort : wsPort) !== undefined ? { port: (transport === 'amqp' ? amqpPort : wsPort) as number } : {}),
          ...(options.ca ? { ca: options.ca } : {}),
          ...(options.proxy !== undefined ? { proxy: options.proxy } : {}),
          connectTimeoutMs,
          userAgent: CLIENT_USER_AGENT,
          onTokenRenewed: (expiresAtMs) => this.emit('token_renewed', { expiresAtMs }),
        }),
      () => this.retryPolicy,
      (s) => (this.streams.size > 0 ? s.openFeedback(this.onFeedback, this.feedbackCredit) : Promise.resolve()),
    );
    this.registry = new RegistryHttp(credentials, {
      ...(options.ports?.https !== undefined ? { port: options.ports.https } : {}),
      ...(options.ca ? { ca: options.ca } : {}),
      timeoutMs: connectTimeoutMs,
      userAgent: CLIENT_USER_AGENT,
    });
  }

  static fromConnectionString(connectionString: string, options: ServiceClientOptions = {}): ServiceClient {
    return new ServiceClient(ServiceCredentials.fromConnectionString(connectionString, options), options);
  }

  /** Microsoft Entra: `credential.getToken('https://iothubs.azure.net/.default')`, put as `Bearer <token>`. */
  static fromTokenCredential(hostName: string, credential: TokenCredential, options: ServiceClientOptions = {}): ServiceClient {
    return new ServiceClient(new ServiceCredentials(hostName, { kind: 'entra', credential }, options), options);
  }

  get hostName(): string {
    return this.credentials.hostName;
  }

  get connected(): boolean {
    return this.keeper.connected;
  }

  setRetryPolicy(policy: RetryPolicy): void {
    this.retryPolicy = policy;
  }

  open(): Promise<void> {
    return this.keeper.open();
  }

  async close(): Promise<void> {
    for (const s of this.streams) s.end();
    this.streams.clear();
    this.pulled.fail(errors.unavailable('The client was closed.'));
    await this.keeper.close();
    this.registry.close();
  }

  /**
   * Resolves once the hub committed the message. Gives up after `timeoutMs` (default one minute,
   * send-timeout.ts) with 503001; retries stop then, but a transfer already sent may still commit.
   */
  async send(deviceId: string, body: Buffer | OutgoingMessage, options: SendOptions = {}): Promise<SendOutcome> {
    const m = toOutgoing(body, options);
    const messageId = (m.messageId ??= randomUUID());
    const timeoutMs = sendTimeoutOf(options.timeoutMs);
    return withSendTimeout(
      this.clock,
      timeoutMs,
      () => sendTimedOut(deviceId, messageId, timeoutMs),
      (signal) => this.sendWithRetry(deviceId, m, signal),
    );
  }

  /**
   * Sends, retrying under the RetryPolicy what may succeed later (a dropped
   * connection, 429001 throttling: backed off longer, 503). The messageId stays
   * the same on every try, so a duplicate (the hub committed but the answer was
   * lost) can be recognised. Errors about the message or device never retry.
   */
  private async sendWithRetry(deviceId: string, m: OutgoingMessage, signal: AbortSignal): Promise<SendOutcome> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        const s = await this.keeper.whenOpen();
        // Timed out while connecting or backing off: no new attempt (the caller was told already).
        signal.throwIfAborted();
        await s.send(deviceId, m);
        return { messageId: m.messageId as string, deviceId };
      } catch (e) {
        const cls = classifyError(e);
        const policy = this.retryPolicy;
        if (signal.aborted || (cls !== 'transient' && cls !== 'throttled') || !this.keeper.alive || !policy.shouldRetry(e, attempt, Date.now() - started))
          throw e;
        const delayMs = policy.nextDelayMs(attempt, e);
        this.emit('send_retrying', { deviceId, messageId: m.messageId, attempt, delayMs, cause: e });
        await new Promise((r) => setTimeout(r, delayMs).unref());
      }
    }
  }

  private readonly onFeedback = (b: FeedbackDelivery): void => {
    // feedback() iterations keep the link's credit up as batches are settled; receiveFeedback()
    // asks for one batch per call, so a batch it gets gives no credit back.
    const streaming = this.streams.size > 0;
    const handle: FeedbackBatchHandle = {
      records: b.records,
      enqueuedTimeUtc: b.enqueuedTimeUtc,
      lockToken: b.lockToken,
      complete: () => b.settle('accepted', streaming),
      abandon: () => b.settle('released', streaming),
    };
    if (streaming) {
      for (const s of this.streams) s.push(handle);
      return;
    }
    this.batchSession.set(handle, b.session);
    this.pulled.push(handle);
  };

  /** Feedback batches as they come (attaches the feedback link on first use); ends on close(). */
  feedback(): AsyncIterable<FeedbackBatchHandle> {
    const stream = new FeedbackStream();
    this.streams.add(stream);
    void this.keeper
      .whenOpen()
      .then((s) => s.openFeedback(this.onFeedback, this.feedbackCredit))
      .catch((e: unknown) => {
        if (this.listenerCount('error') > 0) this.emit('error', e);
      });
    return stream;
  }

  /**
   * One feedback batch (Java's `feedbackReceiver.receive(timeout)`, .NET's `ReceiveAsync(token)`),
   * or null when none came within `timeoutMs`; rejects with `signal.reason` once aborted.
   * Asks the hub for one batch at a time (link credit 1), so none waits locked unasked.
   */
  async receiveFeedback(options: ReceiveOptions = {}): Promise<FeedbackBatchHandle | null> {
    options.signal?.throwIfAborted();
    const s = await this.keeper.whenOpen();
    for (let b = this.pulled.shift(); b; b = this.pulled.shift()) {
      // A batch from a connection that has since dropped: the hub took its lock back.
      if (this.batchSession.get(b) === s) return b;
    }
    await s.openFeedback(this.onFeedback, this.streams.size > 0 ? this.feedbackCredit : 1);
    return this.pulled.next(options.timeoutMs ?? this.receiveTimeoutMs, options.signal);
  }

  purge(deviceId: string): Promise<number> {
    return this.registry.purge(deviceId);
  }

  createDevice(spec: DeviceSpec): Promise<Device> {
    return this.registry.createDevice(spec);
  }

  getDevice(deviceId: string): Promise<Device> {
    return this.registry.getDevice(deviceId);
  }

  updateDevice(spec: DeviceSpec, etag?: string): Promise<Device> {
    return this.registry.updateDevice(spec, etag);
  }

  deleteDevice(deviceId: string, etag?: string): Promise<void> {
    return this.registry.deleteDevice(deviceId, etag);
  }

  listDevices(): Promise<Device[]> {
    return this.registry.listDevices();
  }
}

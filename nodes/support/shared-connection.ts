/**
 * One connection per `c2d-hub-config` node, shared by the flow nodes using it
 * (the core MQTT broker model): opened when the first user registers, closed
 * when the last one deregisters, status pushed to every user, messages and
 * feedback batches fanned out to the users that asked for them. Failed opens
 * are retried with a capped backoff; every timer and listener is released on
 * close, so redeploys leave nothing behind.
 */
import type { DeviceMessage } from '../../lib/common/message';
import type { DeviceConnection, FeedbackBatchHandle, ServiceConnection } from '../../lib/client/types';
import { C2DError, errors } from '../../lib/common/errors';
import { statusFor, type ConnectionState, type NodeStatusLike } from './status';
import { SetupError } from './setup-error';

export type AnyConnection = DeviceConnection | ServiceConnection;

/** Options a user brings to the client the connection builds. */
export interface ConnectOptions {
  /** HTTP polling interval for the device role over http (from the c2d-receive node). */
  httpPollIntervalMs?: number;
}

export interface ConnectionUser {
  readonly id: string;
  status(s: NodeStatusLike): void;
  /** Device role: each received message (c2d-receive). */
  onMessage?(m: DeviceMessage): void;
  /** Service role: each feedback batch (c2d-feedback). */
  onFeedback?(b: FeedbackBatchHandle): void;
  /** What this user needs of the client (read when the client is built). */
  connectOptions?: ConnectOptions;
}

/** Builds (not opens) a client; may wait, e.g. for an in-process hub to start. */
export type ClientFactory = (signal: AbortSignal) => Promise<AnyConnection>;

const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 30_000;

export class SharedConnection {
  private readonly users = new Map<string, ConnectionUser>();
  private client: AnyConnection | undefined;
  private state: ConnectionState = 'disconnected';
  private reason: string | undefined;
  private attempt: AbortController | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  /** The last failure reason written to the log (retries of the same one stay quiet). */
  private logged: string | undefined;
  private closing: Promise<void> = Promise.resolve();
  private feedbackStop: (() => void) | undefined;
  private readonly waiters = new Set<(c: AnyConnection | Error) => void>();

  constructor(
    private readonly factory: ClientFactory,
    private readonly onError: (e: Error) => void,
  ) {}

  get connection(): AnyConnection | undefined {
    return this.state === 'connected' ? this.client : undefined;
  }

  /** The users' options for the next client: the shortest HTTP polling interval any of them asks for. */
  connectOptions(): ConnectOptions {
    const polls = [...this.users.values()].map((u) => u.connectOptions?.httpPollIntervalMs).filter((ms): ms is number => ms !== undefined);
    return polls.length > 0 ? { httpPollIntervalMs: Math.min(...polls) } : {};
  }

  register(user: ConnectionUser): void {
    this.users.set(user.id, user);
    if ((this.state === 'disconnected' || this.state === 'error') && !this.retryTimer) return this.connect();
    user.status(statusFor(this.state, this.reason));
    this.syncConsumers();
  }

  /** Removes a user; the connection closes when it was the last one. */
  async deregister(user: ConnectionUser): Promise<void> {
    this.users.delete(user.id);
    if (this.users.size === 0) await this.disconnect();
    else this.syncConsumers();
  }

  /** Resolves with the open connection, waiting up to `timeoutMs` for it; 503001 otherwise. */
  ready(timeoutMs: number): Promise<AnyConnection> {
    const c = this.connection;
    if (c) return Promise.resolve(c);
    return new Promise((resolve, reject) => {
      const settle = (r: AnyConnection | Error): void => {
        clearTimeout(timer);
        this.waiters.delete(settle);
        if (r instanceof Error) reject(r);
        else resolve(r);
      };
      const timer = setTimeout(() => settle(errors.unavailable(`Not connected within ${timeoutMs} ms${this.reason ? `: ${this.reason}` : ''}.`)), timeoutMs);
      this.waiters.add(settle);
    });
  }

  /** Drops the current client (e.g. its in-process hub stopped) and connects again if still used. */
  async reset(reason: string): Promise<void> {
    await this.disconnect(reason);
    if (this.users.size > 0) this.connect();
  }

  /** Closes for good (the config node's close). */
  async close(): Promise<void> {
    this.users.clear();
    await this.disconnect();
  }

  private setState(state: ConnectionState, reason?: string): void {
    this.state = state;
    this.reason = reason;
    const s = statusFor(state, reason);
    for (const u of this.users.values()) u.status(s);
  }

  private connect(): void {
    const attempt = new AbortController();
    this.attempt = attempt;
    this.setState('connecting');
    const run = async (): Promise<void> => {
      await this.closing;
      const client = await this.factory(attempt.signal);
      if (attempt.signal.aborted) return void (await client.close().catch(() => undefined));
      client.on('error', this.onClientError);
      client.on('warning', this.onClientWarning);
      client.on('disconnected', this.onClientDisconnected);
      client.on('disconnected_retrying', this.onClientRetrying);
      client.on('connected', this.onClientConnected);
      this.client = client;
      await client.open();
      if (attempt.signal.aborted) return;
      this.failures = 0;
      this.logged = undefined;
      this.onClientConnected();
    };
    run().catch((e: unknown) => {
      if (attempt.signal.aborted) return;
      this.fail(e instanceof Error ? e : new Error(String(e)));
    });
  }

  private readonly onClientError = (e: Error): void => this.onError(e);
  /** A client's advice (e.g. HTTPS polling faster than IoT Hub allows) goes to the log as the errors do. */
  private readonly onClientWarning = (w: { message: string }): void => this.onError(new Error(w.message));
  private readonly onClientRetrying = (s: { cause?: Error } | undefined): void => this.setState('connecting', s?.cause ? statusReason(s.cause) : undefined);
  private readonly onClientConnected = (): void => {
    if (!this.client?.connected) return;
    this.setState('connected');
    this.syncConsumers();
    for (const w of [...this.waiters]) w(this.client);
  };
  private readonly onClientDisconnected = (s: { reason?: string; cause?: Error } | undefined): void => {
    if (this.state === 'disconnected') return;
    this.fail(s?.cause ?? new Error(s?.reason ?? 'disconnected'));
  };

  /** A failed open or a final disconnect: show why, drop the client, retry while used. */
  private fail(e: Error): void {
    const reason = statusReason(e);
    // The status has room for a few words ("no connection string", or the
    // code: "404001 DeviceNotFound"); the log says what to fix ("Connection
    // string is not set..."). Once per distinct reason, not on every retry.
    if (reason !== this.logged) {
      this.logged = reason;
      this.onError(e);
    }
    void this.disconnect(reason);
    this.setState('error', reason);
    if (this.users.size === 0) return;
    const delay = Math.min(RETRY_FIRST_MS * 2 ** this.failures++, RETRY_MAX_MS);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.users.size > 0) this.connect();
    }, delay);
  }

  private disconnect(reason?: string): Promise<void> {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.attempt?.abort(errors.unavailable(reason ?? 'Connection closed.'));
    this.attempt = undefined;
    this.stopFeedback();
    const client = this.client;
    this.client = undefined;
    this.state = 'disconnected';
    this.reason = reason;
    if (this.users.size > 0) this.setState('disconnected', reason);
    for (const w of [...this.waiters]) w(errors.unavailable(reason ?? 'Connection closed.'));
    if (!client) return this.closing;
    client.off('message', this.onMessage);
    client.off('error', this.onClientError);
    client.off('warning', this.onClientWarning);
    client.off('disconnected', this.onClientDisconnected);
    client.off('disconnected_retrying', this.onClientRetrying);
    client.off('connected', this.onClientConnected);
    this.closing = client.close().catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
    return this.closing;
  }

  private readonly onMessage = (m: DeviceMessage): void => {
    for (const u of this.users.values()) u.onMessage?.(m);
  };

  /** Listens for messages and runs the feedback loop only while some user wants them. */
  private syncConsumers(): void {
    const client = this.connection;
    if (!client) return;
    const users = [...this.users.values()];
    const wantsMessages = users.some((u) => u.onMessage);
    if ('deviceId' in client) {
      const listening = client.listenerCount('message') > 0;
      if (wantsMessages && !listening) client.on('message', this.onMessage);
      if (!wantsMessages && listening) client.off('message', this.onMessage);
    }
    const wantsFeedback = users.some((u) => u.onFeedback);
    if ('feedback' in client && wantsFeedback && !this.feedbackStop) this.runFeedback(client);
    if (!wantsFeedback) this.stopFeedback();
  }

  private runFeedback(client: ServiceConnection): void {
    const it = client.feedback()[Symbol.asyncIterator]();
    this.feedbackStop = () => void it.return?.();
    const loop = async (): Promise<void> => {
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        for (const u of this.users.values()) u.onFeedback?.(r.value);
      }
    };
    loop().catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
  }

  private stopFeedback(): void {
    const stop = this.feedbackStop;
    this.feedbackStop = undefined;
    stop?.();
  }
}

/** A short reason for a status line: what to fix in the setup, IoT Hub code and name, or a socket error code. Never a secret. */
export function statusReason(e: unknown): string {
  if (e instanceof SetupError) return e.statusText;
  if (e instanceof C2DError) return `${e.code} ${e.name}`;
  const err = e as { code?: unknown; message?: unknown };
  if (typeof err?.code === 'string') return err.code;
  return String(err?.message ?? e).slice(0, 60);
}

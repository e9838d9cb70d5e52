/**
 * Keeps one live session (an AMQP connection, an MQTT connection, an HTTP
 * "session") up for a client: opens it, reports `connected`,
 * `disconnected_retrying` and `disconnected` with a ConnectionReason and the
 * cause, and reopens it under the RetryPolicy when it drops. Unauthorized and
 * other fatal errors stop at once (reason bad-credential / device-disabled):
 * retrying a wrong key only hammers the hub. Every timer is unref'd or cleared.
 */
import type { EventEmitter } from 'node:events';
import { C2DError, errors } from '../common/errors';
import { classifyError, type RetryPolicy } from '../common/retry';
import type { ConnectionReason, ConnectionStatus } from './types';

export interface LiveSession {
  /** Called once when the session drops by itself (not after close()). */
  onLost(listener: (cause: Error) => void): void;
  close(): Promise<void>;
}

/** The reason a failure is reported with. */
export function reasonFor(err: unknown): ConnectionReason {
  if (err instanceof C2DError) {
    if (err.name === 'DeviceDisabled') return 'device-disabled';
    if (err.retry === 'unauthorized') return /expired/i.test(err.message) ? 'expired-token' : 'bad-credential';
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ENETUNREACH' || code === 'EHOSTUNREACH') return 'no-network';
  return 'communication-error';
}

function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

type State = 'idle' | 'opening' | 'open' | 'retrying' | 'closed';

export class ConnectionKeeper<S extends LiveSession> {
  private session: S | undefined;
  private state: State = 'idle';
  private timer: NodeJS.Timeout | undefined;
  private waiters: { resolve: (s: S) => void; reject: (e: Error) => void }[] = [];
  private generation = 0;

  constructor(
    private readonly events: EventEmitter,
    private readonly connect: () => Promise<S>,
    private readonly policy: () => RetryPolicy,
    /** Restores what the app had asked for on a new session (e.g. the message subscription). */
    private readonly restore: (s: S) => Promise<void> = async () => {},
  ) {}

  get connected(): boolean {
    return this.state === 'open';
  }

  /** Open or reconnecting: a caller may wait for it. */
  get alive(): boolean {
    return this.state === 'open' || this.state === 'opening' || this.state === 'retrying';
  }

  get current(): S | undefined {
    return this.state === 'open' ? this.session : undefined;
  }

  /**
   * The session messages can be settled on: the open one, or a new one still
   * restoring (its subscription confirmed, the SUBACK read, but the keeper not
   * told yet). A hub may deliver right behind the SUBACK, in the same read
   * (MQTT-3.8.4 even allows before it): those messages belong to this session.
   */
  get settling(): S | undefined {
    return this.current ?? this.restoring;
  }

  private restoring: S | undefined;

  /** Opens; rejects when the first connection fails and the policy does not retry (or retries run out). */
  async open(): Promise<void> {
    if (this.state === 'open') return;
    if (this.state === 'closed') this.state = 'idle';
    if (this.state === 'opening' || this.state === 'retrying') {
      await this.whenOpen();
      return;
    }
    this.state = 'opening';
    const first = this.whenOpen();
    void this.attempt(1, Date.now());
    await first;
  }

  /** The open session, waiting through a reconnect; rejects once the keeper gave up or closed. */
  whenOpen(): Promise<S> {
    if (this.state === 'open' && this.session) return Promise.resolve(this.session);
    if (this.state === 'closed' || this.state === 'idle') return Promise.reject(errors.unavailable('The client is not open.'));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private async attempt(attempt: number, firstFailureAt: number): Promise<void> {
    const gen = ++this.generation;
    let s: S | undefined;
    try {
      s = await this.connect();
      if (this.isStale(gen)) {
        await s.close().catch(() => undefined);
        return;
      }
      // E.g. the hub still holds the old connection's C2D link (409002): this session goes, a retry follows.
      this.restoring = s;
      try {
        await this.restore(s);
      } finally {
        this.restoring = undefined;
      }
    } catch (e) {
      await s?.close().catch(() => undefined);
      if (this.isStale(gen)) return;
      this.failed(asError(e), attempt, firstFailureAt);
      return;
    }
    if (this.isStale(gen)) {
      await s.close().catch(() => undefined);
      return;
    }
    this.session = s;
    this.state = 'open';
    s.onLost((cause) => {
      if (this.session !== s || this.state !== 'open') return;
      this.session = undefined;
      this.state = 'retrying';
      void s.close().catch(() => undefined);
      this.failed(cause, 1, Date.now());
    });
    this.events.emit('connected', { reason: 'connected' } satisfies ConnectionStatus);
    for (const w of this.waiters.splice(0)) w.resolve(s);
  }

  /** Whether close() (or a newer attempt) happened while `gen` was connecting. */
  private isStale(gen: number): boolean {
    return this.state === 'closed' || gen !== this.generation;
  }

  private failed(cause: Error, attempt: number, firstFailureAt: number): void {
    const policy = this.policy();
    const elapsed = Date.now() - firstFailureAt;
    const cls = classifyError(cause);
    const retry = (cls === 'transient' || cls === 'throttled') && policy.shouldRetry(cause, attempt, elapsed);
    if (!retry) {
      this.state = 'closed';
      const reason: ConnectionReason = cls === 'transient' || cls === 'throttled' ? (attempt > 1 ? 'retry-expired' : reasonFor(cause)) : reasonFor(cause);
      this.events.emit('disconnected', { reason, cause } satisfies ConnectionStatus);
      for (const w of this.waiters.splice(0)) w.reject(cause);
      return;
    }
    const delayMs = Math.max(0, policy.nextDelayMs(attempt, cause));
    this.state = 'retrying';
    this.events.emit('disconnected_retrying', { reason: reasonFor(cause), cause, attempt, delayMs });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.state === 'retrying') void this.attempt(attempt + 1, firstFailureAt);
    }, delayMs);
    this.timer.unref();
  }

  async close(): Promise<void> {
    const wasOpen = this.state === 'open';
    const s = this.session;
    this.state = 'closed';
    this.generation++;
    this.session = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.waiters.splice(0)) w.reject(errors.unavailable('The client was closed.'));
    if (s) await s.close().catch(() => undefined);
    if (wasOpen) this.events.emit('disconnected', { reason: 'closed-by-client' } satisfies ConnectionStatus);
  }
}

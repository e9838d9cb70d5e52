/**
 * Retry policies in the style of the IoT SDKs: exponential backoff with
 * jitter for transient and throttling errors, none for the rest.
 */
import { C2DError, type RetryClass } from './errors';

export interface RetryPolicy {
  /** Whether to try again after `error`, the `attempt`-th failure (1-based), `elapsedMs` since the first try. */
  shouldRetry(error: unknown, attempt: number, elapsedMs: number): boolean;
  /** Milliseconds to wait before the next try. */
  nextDelayMs(attempt: number, error: unknown): number;
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED']);

/** Sorts any error into the class that decides whether to retry it. */
export function classifyError(error: unknown): RetryClass {
  if (error instanceof C2DError) return error.retry;
  const e = error as { code?: unknown; name?: unknown } | undefined;
  if (e && typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return 'transient';
  if (e && (e.name === 'NotConnectedError' || e.name === 'TimeoutError')) return 'transient';
  if (e && typeof e.code === 'string' && /^(CERT_|ERR_TLS_|DEPTH_ZERO|SELF_SIGNED|UNABLE_TO_)/.test(e.code)) return 'fatal';
  return 'transient';
}

export interface BackoffOptions {
  /** First delay (ms). */
  initialDelayMs: number;
  /** Largest delay (ms). */
  maxDelayMs: number;
  /** Give up this long after the first failure (ms); Infinity retries forever. */
  maxElapsedMs: number;
  /** Extra multiplier for throttling errors. */
  throttleFactor: number;
  /** Random source (tests inject one). */
  random: () => number;
}

/**
 * Exponential backoff with jitter as the IoT SDKs do it:
 * delay = min(initial * 2^(attempt-1), max) scaled by a random factor in [0.95, 1.05].
 * Retries transient and throttled errors; stops on unauthorized, not found and fatal ones.
 */
export class ExponentialBackoffWithJitter implements RetryPolicy {
  readonly options: BackoffOptions;
  constructor(options: Partial<BackoffOptions> = {}) {
    this.options = { initialDelayMs: 100, maxDelayMs: 10_000, maxElapsedMs: 240_000, throttleFactor: 10, random: Math.random, ...options };
  }
  shouldRetry(error: unknown, _attempt: number, elapsedMs: number): boolean {
    const cls = classifyError(error);
    return (cls === 'transient' || cls === 'throttled') && elapsedMs < this.options.maxElapsedMs;
  }
  nextDelayMs(attempt: number, error: unknown): number {
    const o = this.options;
    const base = Math.min(o.initialDelayMs * 2 ** Math.max(0, attempt - 1), o.maxDelayMs);
    const throttled = classifyError(error) === 'throttled' ? o.throttleFactor : 1;
    const jitter = 0.95 + 0.1 * o.random();
    return Math.round(Math.min(base * throttled, o.maxDelayMs * throttled) * jitter);
  }
}

/** Never retries. */
export class NoRetry implements RetryPolicy {
  shouldRetry(): boolean {
    return false;
  }
  nextDelayMs(): number {
    return 0;
  }
}

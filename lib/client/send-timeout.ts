/**
 * The send timeout, for every ServiceConnection. The seed's SDKs take a
 * timeout on send, "the default is one minute if unspecified" (Java's
 * MessagingClient waits 60 s for the acknowledgement; C#'s SendAsync throws
 * TimeoutException). A timed-out send rejects with 503001 ServiceUnavailable
 * (the code the Node SDK gives IoT Hub's own AMQP timeout condition,
 * `com.microsoft:timeout`) and is not tried again; but what was already on
 * the wire may still be committed, so a send repeated after a timeout (even
 * with the same messageId: the hub does not deduplicate) can deliver twice.
 */
import type { Clock } from '../common/clock';
import { C2DError, errors } from '../common/errors';

export const SEND_TIMEOUT_MS = 60_000;

/** The timeout of one send: the option, or one minute; 0 waits as long as the retry policy goes on. */
export function sendTimeoutOf(timeoutMs: unknown): number {
  if (timeoutMs === undefined) return SEND_TIMEOUT_MS;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw errors.invalid(`timeoutMs must be a number of milliseconds, 0 or more (got ${JSON.stringify(timeoutMs)}).`);
  }
  return timeoutMs;
}

export function sendTimedOut(deviceId: string, messageId: string, timeoutMs: number): C2DError {
  return errors.unavailable(
    `The hub did not confirm message '${messageId}' for device '${deviceId}' within ${timeoutMs} ms. It may still have been committed: ` +
      'sending it again may deliver it twice.',
  );
}

/**
 * Runs `work` under the timeout: rejects with sendTimedOut once it passes
 * and aborts `signal`, so `work` starts no new attempt after that.
 */
export async function withSendTimeout<T>(clock: Clock, timeoutMs: number, timedOut: () => C2DError, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  if (timeoutMs === 0) return work(ac.signal);
  let cancel: (() => void) | undefined;
  const expired = new Promise<never>((_, reject) => {
    cancel = clock.at(clock.now() + timeoutMs, () => {
      const e = timedOut();
      ac.abort(e);
      reject(e);
    });
  });
  const running = work(ac.signal);
  running.catch(() => undefined); // after a timeout its own outcome has nobody to go to
  try {
    return await Promise.race([running, expired]);
  } finally {
    cancel?.();
  }
}

/**
 * Send throttle: a token bucket on the injected clock. It holds up to one
 * second's worth of sends (maxSendsPerSecond) and refills continuously; a send
 * that finds it empty fails 429001 ThrottlingException. IoT Hub shapes traffic
 * before it throttles; a local hub answers at once so callers see it early.
 */
import type { Clock } from '../../common/clock';
import { errors } from '../../common/errors';

export class SendThrottle {
  private tokens: number;
  private lastMs: number;

  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock,
  ) {
    this.tokens = perSecond;
    this.lastMs = clock.now();
  }

  /** Takes one send from the bucket, or throws 429001. 0 = unlimited. */
  take(): void {
    if (this.perSecond <= 0) return;
    const now = this.clock.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((now - this.lastMs) * this.perSecond) / 1000);
    this.lastMs = now;
    if (this.tokens < 1) throw errors.throttled(this.perSecond);
    this.tokens -= 1;
  }
}

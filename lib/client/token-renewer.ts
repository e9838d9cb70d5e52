/**
 * Renews a SAS or Entra token before it expires: one unref'd timer, re-armed
 * after each renewal. How to renew is the transport's business (AMQP: put-token
 * again on the live $cbs link; MQTT: reconnect with the new password).
 */
import type { IssuedToken } from './credentials';

export interface RenewableCredentials {
  renewalDelay(t: IssuedToken): number | undefined;
}

export class TokenRenewer {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly credentials: RenewableCredentials,
    /** Puts a fresh token; resolves with its expiry (epoch ms). */
    private readonly renew: () => Promise<number>,
    private readonly onFailure: (e: Error) => void,
    expiresAtMs: number,
  ) {
    this.arm(expiresAtMs);
  }

  private arm(expiresAtMs: number): void {
    const delay = this.credentials.renewalDelay({ token: '', expiresAtMs });
    if (delay === undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.renew().then(
        (next) => this.arm(next),
        (e: unknown) => {
          if (!this.stopped) this.onFailure(e instanceof Error ? e : new Error(String(e)));
        },
      );
    }, delay);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

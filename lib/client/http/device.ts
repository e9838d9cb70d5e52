/**
 * HTTP device session (sdk-wire.md §4): GET .../messages/devicebound to
 * receive (200 with ETag = lock, or 204), DELETE .../{lock} to complete (with
 * `&reject` to reject), POST .../{lock}/abandon. HTTP has no connection, so
 * "connected" means the first request was authorized; a message listener
 * polls every `httpPollIntervalMs` and drains what is queued. A failing poll
 * ends the session, so ConnectionKeeper reports it and retries (the SDK only
 * debug-logs poll errors, which hides a wrong key). Device-to-cloud is
 * POST .../messages/events with the properties as `iothub-app-*` headers.
 */
import { HTTP_HEADERS, OCTET_STREAM, decodeC2DResponse, encodeAppProperties } from '../../common/codec/http';
import { hubPaths } from '../../common/codec/http-paths';
import type { DeviceMessage, Properties, Settlement } from '../../common/message';
import { trustedLockMs } from '../lock-estimate';
import type { DeviceSession, DeviceSessionOptions } from '../device-session';
import type { IssuedToken } from '../credentials';
import { httpRequest, makeAgent, type HttpTarget } from './request';

/** Waits `ms`; rejects with the signal's reason once it is aborted. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    t.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function openHttpDeviceSession(o: DeviceSessionOptions): Promise<DeviceSession> {
  const s = new HttpDeviceSession(o);
  try {
    // HTTP has nothing to open; one GET proves the credentials (a wrong key fails here,
    // not silently in a poll). A message it finds waits for receive() or the listener.
    await s.probe();
  } catch (e) {
    await s.close();
    throw e;
  }
  return s;
}

class HttpDeviceSession implements DeviceSession {
  private readonly target: HttpTarget;
  private token: IssuedToken | undefined;
  private timer: NodeJS.Timeout | undefined;
  private onMessage: ((m: DeviceMessage) => void) | undefined;
  private lostListener: ((e: Error) => void) | undefined;
  private closed = false;
  private polling = false;
  /** Messages the probe found before anyone asked. */
  private readonly early: DeviceMessage[] = [];

  constructor(private readonly o: DeviceSessionOptions) {
    const c = o.credentials;
    this.target = {
      host: c.host,
      ...((c.port ?? o.port) ? { port: c.port ?? o.port } : {}),
      agent: makeAgent({ ...(o.ca ? { ca: o.ca } : {}), ...(c.auth.kind === 'x509' ? { clientCert: c.auth } : {}) }),
      timeoutMs: o.connectTimeoutMs,
      userAgent: o.userAgent,
    };
  }

  /** A token, minted again once the current one is past its renewal point. */
  private authorization(): Record<string, string> {
    const c = this.o.credentials;
    if (!c.usesToken) return {};
    const renewAt = this.token && c.canRenew ? this.token.expiresAtMs - Math.min(c.tokenRenewalMarginMs, c.tokenLifetimeMs / 2) : Infinity;
    if (!this.token || c.nowMs() >= renewAt) {
      this.token = c.issueToken();
      this.o.onTokenRenewed?.(this.token.expiresAtMs);
    }
    return { authorization: this.token.token };
  }

  private headers(): Record<string, string> {
    const id = this.o.credentials.deviceId;
    return { ...this.authorization(), [HTTP_HEADERS.to]: `/devices/${encodeURIComponent(id)}/messages/devicebound` };
  }

  onLost(listener: (cause: Error) => void): void {
    this.lostListener = listener;
  }

  private lost(e: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.stopPolling();
    this.lostListener?.(e);
  }

  private async getOne(): Promise<DeviceMessage | null> {
    const deviceId = this.o.credentials.deviceId;
    const r = await httpRequest(this.target, 'GET', hubPaths.deviceBound(deviceId), this.headers());
    if (r.status === 204) return null;
    // HTTP carries no lock time: the client's estimate from arrival.
    return decodeC2DResponse(r.headers, r.body, { deviceId, receivedAtMs: this.o.clock.now(), lockTimeoutMs: trustedLockMs(this.o.lockTimeoutMs) });
  }

  async probe(): Promise<void> {
    const m = await this.getOne();
    if (m) this.early.push(m);
  }

  private schedule(delayMs: number): void {
    if (this.closed || !this.onMessage) return;
    this.timer = setTimeout(() => void this.poll(), delayMs);
    this.timer.unref();
  }

  private async poll(): Promise<void> {
    this.timer = undefined;
    if (this.polling || this.closed || !this.onMessage) return;
    this.polling = true;
    try {
      // Drain: keep asking while messages come, then wait the interval.
      for (;;) {
        const m = await this.getOne();
        if (!m || !this.onMessage || this.closed) break;
        this.onMessage(m);
      }
    } catch (e) {
      this.polling = false;
      this.lost(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.polling = false;
    this.schedule(this.o.httpPollIntervalMs);
  }

  private stopPolling(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  async enableMessages(onMessage: (m: DeviceMessage) => void): Promise<void> {
    const first = !this.onMessage;
    this.onMessage = onMessage;
    for (const m of this.early.splice(0)) onMessage(m);
    if (first) await this.poll();
  }

  async disableMessages(): Promise<void> {
    this.onMessage = undefined;
    this.stopPolling();
  }

  async receive(timeoutMs: number, signal?: AbortSignal): Promise<DeviceMessage | null> {
    // One GET answers at once; waiting longer means polling again until the deadline.
    signal?.throwIfAborted();
    const early = this.early.shift();
    if (early) return early;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = await this.getOne();
      if (signal?.aborted) {
        // The GET locked it already: it waits for the next receive (or the listener).
        if (m) this.early.push(m);
        throw signal.reason;
      }
      if (m || Date.now() + this.o.httpPollIntervalMs > deadline) return m;
      await pause(this.o.httpPollIntervalMs, signal);
      if (this.closed) return null;
    }
  }

  async settle(kind: Settlement, lockToken: string): Promise<void> {
    const id = this.o.credentials.deviceId;
    const h = { ...this.headers(), [HTTP_HEADERS.ifMatch]: `"${lockToken}"` };
    if (kind === 'abandon') await httpRequest(this.target, 'POST', hubPaths.deviceBoundAbandon(id, lockToken), h);
    else await httpRequest(this.target, 'DELETE', hubPaths.deviceBoundLock(id, lockToken, kind === 'reject'), h);
  }

  async sendEvent(body: Buffer, properties: Properties): Promise<void> {
    const id = this.o.credentials.deviceId;
    const h = {
      ...this.headers(),
      [HTTP_HEADERS.to]: `/devices/${encodeURIComponent(id)}/messages/events`,
      ...encodeAppProperties(properties),
      'content-type': OCTET_STREAM,
    };
    await httpRequest(this.target, 'POST', hubPaths.deviceEvents(id), h, body);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.onMessage = undefined;
    this.stopPolling();
    this.target.agent.destroy();
  }
}

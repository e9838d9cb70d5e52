/**
 * A backend's HTTPS calls: registry CRUD and purge (sdk-wire.md §5.2,
 * c2d-semantics.md §7), with a policy SAS or an Entra bearer token in
 * `Authorization`. Paths come from the shared codec (http-paths.ts); error
 * bodies become C2DErrors through http-errors.ts.
 */
import { randomUUID } from 'node:crypto';
import { JSON_CONTENT_TYPE } from '../../common/codec/http';
import { hubPaths } from '../../common/codec/http-paths';
import type { Device, DeviceSpec } from '../../hub/api';
import type { IssuedToken, ServiceCredentials } from '../credentials';
import { httpRequest, makeAgent, type HttpTarget } from './request';

export class RegistryHttp {
  private readonly target: HttpTarget;
  private token: IssuedToken | undefined;

  constructor(
    private readonly credentials: ServiceCredentials,
    o: { port?: number; ca?: string | Buffer; timeoutMs: number; userAgent: string },
  ) {
    this.target = {
      host: credentials.host,
      ...(o.port !== undefined ? { port: o.port } : credentials.port !== undefined ? { port: credentials.port } : {}),
      agent: makeAgent(o.ca ? { ca: o.ca } : {}),
      timeoutMs: o.timeoutMs,
      userAgent: o.userAgent,
    };
  }

  private async headers(json: boolean): Promise<Record<string, string>> {
    const c = this.credentials;
    const stale = !this.token || c.nowMs() >= this.token.expiresAtMs - Math.min(c.tokenRenewalMarginMs, c.tokenLifetimeMs / 2);
    if (stale) this.token = await c.issueToken();
    return { authorization: (this.token as IssuedToken).token, 'request-id': randomUUID(), ...(json ? { 'content-type': JSON_CONTENT_TYPE } : {}) };
  }

  private async call<T>(method: string, path: string, body?: unknown, extra: Record<string, string> = {}): Promise<T> {
    const r = await httpRequest(
      this.target,
      method,
      path,
      { ...(await this.headers(body !== undefined)), ...extra },
      body === undefined ? undefined : JSON.stringify(body),
    );
    return (r.body.length > 0 ? JSON.parse(r.body.toString('utf8')) : undefined) as T;
  }

  createDevice(spec: DeviceSpec): Promise<Device> {
    return this.call('PUT', hubPaths.device(spec.deviceId), spec);
  }

  getDevice(deviceId: string): Promise<Device> {
    return this.call('GET', hubPaths.device(deviceId));
  }

  /** Update needs an etag (IoT Hub): the given one, or `*` for any. */
  updateDevice(spec: DeviceSpec, etag = '*'): Promise<Device> {
    return this.call('PUT', hubPaths.device(spec.deviceId), spec, { 'if-match': `"${etag}"` });
  }

  async deleteDevice(deviceId: string, etag = '*'): Promise<void> {
    await this.call('DELETE', hubPaths.device(deviceId), undefined, { 'if-match': `"${etag}"` });
  }

  listDevices(): Promise<Device[]> {
    return this.call('GET', hubPaths.devices());
  }

  async purge(deviceId: string): Promise<number> {
    const r = await this.call<{ totalMessagesPurged?: number }>('DELETE', hubPaths.deviceCommands(deviceId));
    return r?.totalMessagesPurged ?? 0;
  }

  close(): void {
    this.target.agent.destroy();
  }
}

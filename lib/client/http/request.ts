/**
 * One HTTPS request to the hub, with a keep-alive agent per client. A status
 * of 300 or more becomes the C2DError the body names (shared codec
 * http-errors.ts), so callers see IoT Hub's codes (404001, 412002...).
 */
import * as https from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { decodeHttpError } from '../../common/codec/http-errors';
import { DEFAULT_PORTS } from '../../common/limits';
import { tlsServerName } from '../tls-name';
import { tlsClientAuth, type TlsClientAuth } from '../credentials';

export interface HttpTarget {
  host: string;
  port?: number;
  agent: https.Agent;
  timeoutMs: number;
  userAgent: string;
}

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export function makeAgent(o: { ca?: string | Buffer; clientCert?: TlsClientAuth }): https.Agent {
  return new https.Agent({
    keepAlive: true,
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.clientCert ? tlsClientAuth(o.clientCert) : {}),
  });
}

/** Sends the request; resolves for status < 300, rejects with a C2DError otherwise, or the socket error. */
export function httpRequest(t: HttpTarget, method: string, path: string, headers: Record<string, string>, body?: Buffer | string): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const req = https.request(
      {
        host: t.host,
        ...tlsServerName(t.host),
        port: t.port ?? DEFAULT_PORTS.https,
        method,
        path,
        agent: t.agent,
        headers: { 'user-agent': t.userAgent, ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
        timeout: t.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const data = Buffer.concat(chunks);
          if (status >= 300) reject(decodeHttpError(status, res.headers, data.toString('utf8')));
          else resolve({ status, headers: res.headers, body: data });
        });
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`HTTP ${method} timed out`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(payload);
  });
}

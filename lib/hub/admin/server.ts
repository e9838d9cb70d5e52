/**
 * The admin listener: plain HTTP, meant for loopback (or a pod's own
 * network), for health checks and scrapers:
 *   GET /health   200 while the process answers (alive)
 *   GET /ready    200 when the hub takes sends, else 503 with the reasons (JSON)
 *   GET /metrics  Prometheus text format
 * It carries no secret and changes nothing, so it has no auth; keep it off
 * networks others reach (the command binds it to 127.0.0.1 by default).
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HubMetrics } from './metrics';
import type { Readiness } from './readiness';

export interface AdminServer {
  readonly port: number;
  close(): Promise<void>;
}

export interface AdminServerOptions {
  port: number;
  host: string;
  readiness: Readiness;
  metrics: HubMetrics;
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export async function startAdminServer(o: AdminServerOptions): Promise<AdminServer> {
  const started = Date.now();
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      res.end();
      return;
    }
    const fail = (e: unknown): void => json(res, 500, { error: e instanceof Error ? e.message : String(e) });
    switch (url) {
      case '/health':
        json(res, 200, { status: 'alive', uptimeSeconds: Math.round((Date.now() - started) / 1000) });
        return;
      case '/ready':
        o.readiness.check().then((r) => json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', reasons: r.reasons }), fail);
        return;
      case '/metrics':
        o.metrics.metrics().then((text) => {
          res.writeHead(200, { 'content-type': o.metrics.contentType, 'content-length': Buffer.byteLength(text) });
          res.end(text);
        }, fail);
        return;
      default:
        json(res, 404, { error: 'Not found: the admin listener serves /health, /ready and /metrics.' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: o.port, host: o.host }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

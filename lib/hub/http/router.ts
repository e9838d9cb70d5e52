/**
 * The HTTPS request handler: a tiny dispatcher from IoT Hub's REST paths (and
 * this hub's own inspection paths under /c2d) to the route groups. It bounds the body before anything parses it, answers 404
 * for paths the hub does not serve and 405 (with `Allow`) for wrong methods,
 * and turns every thrown error into IoT Hub's error shape, so one bad request
 * never disturbs the next. Header size is bounded by the server's maxHeaderSize
 * (lib/hub/listeners.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HubApi } from '../api';
import type { BearerVerifier } from '../amqp/peer';
import { WIRE_LIMITS } from '../../common/limits';
import { C2DError } from '../../common/errors';
import { HttpWireError, encodeHttpError } from '../../common/codec/http-errors';
import { HTTP_HEADERS } from '../../common/codec/http';
import { parseHubPath, type HubRoute } from '../../common/codec/http-paths';
import type { Reply, RequestContext, RouteHandler, RouteTable } from './context';
import { deviceMessageRoutes } from './device-messages';
import { deviceEventRoutes } from './device-events';
import { registryRoutes } from './registry';
import { purgeRoutes } from './purge';
import { feedbackRoutes } from './feedback';
import { remoteOf, type AccessEvent, type AccessObserver } from '../access';
import { inspectionRoutes } from './inspection';

export interface HttpHandlerOptions {
  /** Largest request body in bytes (default WIRE_LIMITS.httpMaxBodyBytes). */
  maxBodyBytes?: number;
  /** Called with unexpected (non-IoT-Hub) errors, which the client sees only as a 500. Never given secrets. */
  onError?: (err: unknown) => void;
  /**
   * Receives each request's access decision: every refusal, and an acceptance
   * once per keep-alive connection and identity (a polling device would
   * otherwise report one per poll).
   */
  onAccess?: AccessObserver;
  /** Verifies Microsoft Entra bearer tokens on the service routes (lib/hub/entra.ts); absent: refused. */
  verifyBearerToken?: BearerVerifier;
}

export type HttpHandler = (req: IncomingMessage, res: ServerResponse) => void;

const ROUTES: RouteTable = { ...deviceMessageRoutes, ...deviceEventRoutes, ...registryRoutes, ...purgeRoutes, ...feedbackRoutes, ...inspectionRoutes };

/** Reads the whole body, refusing (413) once it passes `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return Promise.reject(tooLarge(max));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer): void => {
      size += c.length;
      if (size > max) {
        req.off('data', onData);
        reject(tooLarge(max));
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks, size)));
    req.once('error', reject);
  });
}

/** Whether the request announces a body (a bodiless GET is not "complete" until read, yet has nothing left to arrive). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function tooLarge(max: number): HttpWireError {
  return new HttpWireError('GenericRequestEntityTooLarge', `The request body is larger than ${max} bytes.`);
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const body = reply.body === undefined ? undefined : Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(reply.body, 'utf8');
  // 204 carries no Content-Length (RFC 9110 §8.6).
  res.writeHead(reply.status, reply.status === 204 ? reply.headers : { ...reply.headers, [HTTP_HEADERS.contentLength]: String(body?.length ?? 0) });
  res.end(body);
}

function route(req: IncomingMessage): { route: HubRoute; query: URLSearchParams; handler: RouteHandler } {
  // The path is split by hand, not through `new URL`, which would resolve
  // `.`/`..` segments and so change which device a path names.
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
  const r = parseHubPath(path);
  if (!r) throw new HttpWireError('GenericNotFound', 'The hub serves no resource at this path.');
  const methods = (ROUTES[r.kind] ?? {}) as Partial<Record<string, RouteHandler>>;
  const handler = methods[req.method ?? ''];
  if (!handler) {
    const allow = Object.keys(methods).join(', ');
    throw new HttpWireError('GenericMethodNotAllowed', `Use ${allow} on this path.`, { [HTTP_HEADERS.allow]: allow });
  }
  return { route: r, query, handler };
}

/** The request handler for the hub's HTTPS server. */
export function createHttpHandler(hub: HubApi, options: HttpHandlerOptions = {}): HttpHandler {
  const maxBody = options.maxBodyBytes ?? WIRE_LIMITS.httpMaxBodyBytes;
  const observe = options.onAccess;
  const seen = new WeakMap<object, Set<string>>();
  const accessOf = (req: IncomingMessage): ((e: AccessEvent) => void) | undefined => {
    if (!observe) return undefined;
    const remote = remoteOf(req.socket);
    return (e) => {
      if (e.type === 'auth-accepted') {
        const ids = seen.get(req.socket) ?? new Set<string>();
        seen.set(req.socket, ids);
        if (ids.has(e.identity)) return;
        ids.add(e.identity);
      }
      observe(remote ? { ...e, remote } : e);
    };
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      const { route: r, query, handler } = route(req);
      const body = await readBody(req, maxBody);
      const access = accessOf(req);
      const ctx: RequestContext = {
        hub,
        req,
        route: r,
        query,
        body,
        ...(access ? { access } : {}),
        ...(options.verifyBearerToken ? { verifyBearer: options.verifyBearerToken } : {}),
      };
      send(res, await handler(ctx));
    } catch (err) {
      if (!(err instanceof C2DError) && !(err instanceof HttpWireError)) options.onError?.(err);
      const e = encodeHttpError(err);
      const headers = { ...e.headers };
      // A refused body may still be arriving: close the connection after this
      // answer rather than read (or misparse) the rest.
      if (!req.complete && hasBody(req)) headers[HTTP_HEADERS.connection] = 'close';
      send(res, { status: e.status, headers, body: e.body });
    }
  };
  return (req, res) => {
    void handle(req, res);
  };
}

/**
 * What a route handler gets and gives back. Handlers are plain async
 * functions of (context) -> reply; the router owns the sockets.
 */
import type { IncomingMessage } from 'node:http';
import type { HubApi } from '../api';
import type { BearerVerifier } from '../amqp/peer';
import type { HubRoute } from '../../common/codec/http-paths';
import { HTTP_HEADERS, JSON_CONTENT_TYPE } from '../../common/codec/http';
import type { AccessEvent } from '../access';

export interface RequestContext<R extends HubRoute = HubRoute> {
  hub: HubApi;
  req: IncomingMessage;
  route: R;
  query: URLSearchParams;
  /** The request body, already read and bounded by the router. */
  body: Buffer;
  /** Where auth.ts reports the request's access decision (the router sets it when someone observes). */
  access?: (event: AccessEvent) => void;
  /** Verifies Entra bearer tokens on the service routes; absent: they are refused (401003). */
  verifyBearer?: BearerVerifier;
}

export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

export type RouteHandler<R extends HubRoute = HubRoute> = (ctx: RequestContext<R>) => Promise<Reply>;

/** The routes of one group: route kind -> method -> handler. */
export type RouteTable = {
  [K in HubRoute['kind']]?: Partial<Record<string, RouteHandler<Extract<HubRoute, { kind: K }>>>>;
};

export const noContent = (): Reply => ({ status: 204 });

/** A JSON reply; IoT Hub's content type, which the Node SDK requires before it parses a body. */
export function json(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return { status, headers: { [HTTP_HEADERS.httpContentType]: JSON_CONTENT_TYPE, ...headers }, body: JSON.stringify(value) };
}

/** One request header's value, by any spelling of its name (the first when repeated). */
export function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.req.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

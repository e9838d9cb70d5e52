/**
 * HTTP(S) proxies for the WebSocket transports (AMQP-WS, MQTT-WS), as
 * Node-RED's own nodes use them: an explicit proxy URL (with user:password
 * for basic auth), or the standard HTTPS_PROXY / https_proxy / ALL_PROXY
 * variables with NO_PROXY (proxy-from-env reads them), reached by HTTP
 * CONNECT (https-proxy-agent). The TLS to the hub runs inside the tunnel,
 * so the proxy sees only the host and port.
 */
import type { Agent } from 'node:http';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { getProxyForUrl } from 'proxy-from-env';
import { C2DError } from '../common/errors';

/**
 * The proxy setting of a client: a URL (`http://user:password@proxy:3128`),
 * `false` for none (the environment is not read), or absent for the
 * environment's.
 */
export type ProxySetting = string | false | undefined;

/** The agent that tunnels a WebSocket to `host:port` through the proxy, or undefined to go direct. */
export function webSocketAgent(host: string, port: number, proxy: ProxySetting): Agent | undefined {
  if (proxy === false) return undefined;
  // A wss:// connection is proxied as an https:// one: the same variables and NO_PROXY rules.
  const url = proxy ?? getProxyForUrl(`https://${host.includes(':') ? `[${host}]` : host}:${port}/`);
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never echo the value: it may hold the proxy's password.
    throw new C2DError('ArgumentInvalid', 'The proxy setting is not a URL such as http://proxy:3128.');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new C2DError('ArgumentInvalid', `A proxy URL starts with http:// or https:// (got ${parsed.protocol}//${parsed.host}).`);
  return new HttpsProxyAgent(parsed);
}

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
import { errors } from '../common/errors';

/** A proxy with the hosts to reach without it (Node-RED's `http proxy` node has both). */
export interface ProxyConfig {
  url: string;
  /** Host names (`.example.org` or `*.example.org` for a domain), optionally with `:port`, as NO_PROXY lists them. */
  noProxy?: readonly string[];
}

/**
 * The proxy setting of a client: a URL (`http://user:password@proxy:3128`),
 * a ProxyConfig, `false` for none (the environment is not read), or absent
 * for the environment's.
 */
export type ProxySetting = string | ProxyConfig | false | undefined;

/** Whether `host:port` is on a NO_PROXY-style list. */
export function bypassesProxy(host: string, port: number, list: readonly string[]): boolean {
  const h = host.toLowerCase();
  return list.some((raw) => {
    const entry = raw.trim().toLowerCase();
    if (!entry) return false;
    if (entry === '*') return true;
    const m = /^(.+):(\d+)$/.exec(entry);
    if (m && Number(m[2]) !== port) return false;
    const name = m ? m[1]! : entry;
    if (name.startsWith('*.') || name.startsWith('.')) return h.endsWith(name.replace(/^\*/, '')) || h === name.replace(/^\*?\./, '');
    return h === name;
  });
}

/** The agent that tunnels a WebSocket to `host:port` through the proxy, or undefined to go direct. */
export function webSocketAgent(host: string, port: number, proxy: ProxySetting): Agent | undefined {
  if (proxy === false) return undefined;
  if (typeof proxy === 'object' && bypassesProxy(host, port, proxy.noProxy ?? [])) return undefined;
  // A wss:// connection is proxied as an https:// one: the same variables and NO_PROXY rules.
  const url = typeof proxy === 'object' ? proxy.url : (proxy ?? getProxyForUrl(`https://${host.includes(':') ? `[${host}]` : host}:${port}/`));
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // Never echo the value: it may hold the proxy's password.
    throw errors.invalid('The proxy setting is not a URL such as http://proxy:3128.');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw errors.invalid(`A proxy URL starts with http:// or https:// (got ${parsed.protocol}//${parsed.host}).`);
  return new HttpsProxyAgent(parsed);
}

/**
 * Node-RED's own conventions for a connection node, in one place: the core
 * `tls-config` node (certificate, key, CA, passphrase through its documented
 * addTLSOptions), the core `http proxy` node (URL, basic-auth credentials,
 * hosts to reach directly), and `${NAME}` environment variables inside
 * credentials (Node-RED itself substitutes only a whole `${NAME}` value).
 */
import { errors } from '../../lib/common/errors';
import type { ProxyConfig } from '../../lib/client/proxy';
import type { Node, RED } from './red';

export interface TlsParts {
  ca?: string;
  cert?: string;
  key?: string;
  passphrase?: string;
}

interface TlsConfigNode {
  addTLSOptions(opts: Record<string, unknown>): Record<string, unknown>;
}

interface HttpProxyNode {
  url?: string;
  noproxy?: string[];
  credentials?: { username?: string; password?: string };
}

const text = (v: unknown): string | undefined => (v === undefined || v === null || v === '' ? undefined : Buffer.isBuffer(v) ? v.toString('utf8') : String(v));

/** What a `tls-config` node holds, as PEM text; undefined when `id` is empty. Fails when the node is missing. */
export function tlsConfigOf(red: RED, id: string | undefined, who: string): TlsParts | undefined {
  if (!id) return undefined;
  const node = red.nodes.getNode(id) as unknown as TlsConfigNode | null;
  if (!node || typeof node.addTLSOptions !== 'function') throw errors.invalid(`The TLS config node of ${who} is missing.`);
  const o = node.addTLSOptions({});
  const parts: TlsParts = {};
  for (const k of ['ca', 'cert', 'key', 'passphrase'] as const) {
    const v = text(o[k]);
    if (v !== undefined) parts[k] = v;
  }
  return parts;
}

/** What an `http proxy` node says, with its user name and password in the URL (basic auth); undefined when `id` is empty. */
export function proxyConfigOf(red: RED, id: string | undefined, who: string): ProxyConfig | undefined {
  if (!id) return undefined;
  const node = red.nodes.getNode(id) as unknown as HttpProxyNode | null;
  if (!node || !node.url) throw errors.invalid(`The proxy config node of ${who} is missing or has no URL.`);
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(node.url) ? node.url : `http://${node.url}`);
  } catch {
    throw errors.invalid(`The proxy config node of ${who} has a URL that is not one.`);
  }
  const user = node.credentials?.username;
  const password = node.credentials?.password;
  if (user) url.username = encodeURIComponent(user);
  if (password) url.password = encodeURIComponent(password);
  return { url: url.toString(), noProxy: node.noproxy ?? [] };
}

const REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * Credentials with every `${NAME}` replaced by NAME from the node's flow or
 * group environment, or the process's (RED.util.getSetting: the lookup
 * Node-RED's own substitution uses). An unset NAME is an error naming it,
 * never its neighbours' values.
 */
export function expandCredentials<T extends object>(red: RED, node: Node, creds: T): T {
  const getSetting = (red.util as unknown as { getSetting(node: Node, name: string): unknown }).getSetting;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(creds)) {
    out[k] =
      typeof v === 'string'
        ? v.replace(REF, (_all, name: string) => {
            const value = getSetting(node, name);
            if (value === undefined || value === null || value === '')
              throw errors.invalid(`The environment variable ${name} (in the ${k} credential) is not set.`);
            return String(value);
          })
        : v;
  }
  return out as T;
}

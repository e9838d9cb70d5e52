/**
 * IoT Hub connection strings: `Name=Value` pairs separated by `;`; a value may
 * contain `=` (split at the first one). c2d-semantics.md §6.4.
 * `ModuleId` is IoT Hub's but refused here: modules are out of scope (IoT Hub
 * has no C2D queue for them), and ignoring it would connect as the device.
 */
import { C2DError } from './errors';
import { DEFAULT_PORTS } from './limits';

export interface ConnectionString {
  HostName: string;
  DeviceId?: string;
  SharedAccessKey?: string;
  SharedAccessKeyName?: string;
  SharedAccessSignature?: string;
  GatewayHostName?: string;
  x509?: boolean;
}

const KNOWN = ['HostName', 'DeviceId', 'SharedAccessKey', 'SharedAccessKeyName', 'SharedAccessSignature', 'GatewayHostName', 'x509'] as const;
type Known = (typeof KNOWN)[number];

function bad(why: string): C2DError {
  return new C2DError('ArgumentInvalid', `Invalid connection string: ${why}`);
}

/** Parses any connection string; names are matched case-insensitively. */
export function parseConnectionString(cs: string): ConnectionString {
  if (typeof cs !== 'string' || cs.trim() === '') throw bad('it is empty.');
  const out: Partial<Record<Known, string>> = {};
  for (const raw of cs.split(';')) {
    const part = raw.trim();
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(`'${part.split('=')[0]}' has no value (expected Name=Value).`);
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name.toLowerCase() === 'moduleid') {
      throw bad(`it names a module (ModuleId=${value}); modules are not supported, only devices: remove ModuleId and use the device's own connection string.`);
    }
    const known = KNOWN.find((k) => k.toLowerCase() === name.toLowerCase()) ?? (name.toLowerCase() === 'x509cert' ? 'x509' : undefined);
    if (!known) throw bad(`unknown part '${name}'.`);
    if (out[known] !== undefined) throw bad(`'${known}' appears twice.`);
    if (value === '') throw bad(`'${known}' is empty.`);
    out[known] = value;
  }
  if (!out.HostName) throw bad('HostName is missing.');
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$/.test(out.HostName)) throw bad(`HostName '${out.HostName}' is not a host name (with an optional :port).`);
  if (out.x509 !== undefined && out.x509.toLowerCase() !== 'true') throw bad(`x509 must be 'true' when present.`);
  if (out.SharedAccessSignature !== undefined && !out.SharedAccessSignature.startsWith('SharedAccessSignature ')) {
    throw bad(`SharedAccessSignature must hold a whole token ('SharedAccessSignature sr=...').`);
  }
  if (out.SharedAccessKey !== undefined && !/^[A-Za-z0-9+/]+={0,2}$/.test(out.SharedAccessKey)) {
    throw bad('SharedAccessKey is not base64.');
  }
  const { x509, ...rest } = out;
  return { ...rest, HostName: out.HostName, ...(x509 !== undefined ? { x509: true } : {}) };
}

/** Parses a device connection string: HostName, DeviceId and exactly one of SharedAccessKey, SharedAccessSignature, x509=true. */
export function parseDeviceConnectionString(cs: string): ConnectionString & { DeviceId: string } {
  const p = parseConnectionString(cs);
  if (!p.DeviceId) throw bad('DeviceId is missing.');
  const auth = [p.SharedAccessKey, p.SharedAccessSignature, p.x509].filter((v) => v !== undefined).length;
  if (auth === 0) throw bad('give one of SharedAccessKey, SharedAccessSignature or x509=true.');
  if (auth > 1) throw bad('give only one of SharedAccessKey, SharedAccessSignature or x509=true.');
  return p as ConnectionString & { DeviceId: string };
}

/** Parses a service connection string: HostName, SharedAccessKeyName and SharedAccessKey (or a SharedAccessSignature). */
export function parseServiceConnectionString(cs: string): ConnectionString {
  const p = parseConnectionString(cs);
  if (p.DeviceId) throw bad('this is a device connection string (it has DeviceId); a service needs a shared access policy.');
  if (p.SharedAccessSignature) return p;
  if (!p.SharedAccessKeyName) throw bad('SharedAccessKeyName is missing.');
  if (!p.SharedAccessKey) throw bad('SharedAccessKey is missing.');
  return p;
}

/** Formats a connection string in IoT Hub's order. */
export function formatConnectionString(c: ConnectionString): string {
  const parts: string[] = [`HostName=${c.HostName}`];
  if (c.DeviceId) parts.push(`DeviceId=${c.DeviceId}`);
  if (c.SharedAccessKeyName) parts.push(`SharedAccessKeyName=${c.SharedAccessKeyName}`);
  if (c.SharedAccessKey) parts.push(`SharedAccessKey=${c.SharedAccessKey}`);
  if (c.SharedAccessSignature) parts.push(`SharedAccessSignature=${c.SharedAccessSignature}`);
  if (c.GatewayHostName) parts.push(`GatewayHostName=${c.GatewayHostName}`);
  if (c.x509) parts.push('x509=true');
  return parts.join(';');
}

/** Splits `host[:port]`. */
export function splitHostPort(hostName: string): { host: string; port?: number } {
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(hostName);
  const host = m?.[1] ?? hostName;
  return m?.[2] ? { host, port: Number(m[2]) } : { host };
}

/**
 * The `HostName` a client of a hub on `port` writes for `protocol`: the bare
 * hub name on IoT Hub's standard port for it, `name:port` on any other.
 */
export function hostNameFor(hubName: string, protocol?: keyof typeof DEFAULT_PORTS, port?: number): string {
  return protocol && port !== undefined && port !== DEFAULT_PORTS[protocol] ? `${hubName}:${port}` : hubName;
}

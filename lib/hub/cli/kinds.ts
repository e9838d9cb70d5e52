/**
 * The value kinds of the command's options: how one option's value is read
 * from a flag or an environment variable (text) and from the config file
 * (JSON), and checked, with an error that names where the bad value came
 * from (`--amqps`, `C2D_AMQPS_PORT`, `ports.amqps in hub.json`).
 */
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_LIMITS, validateLimits, type HubLimits } from '../../common/limits';
import { RIGHTS, type Right } from '../../common/sas';
import { isValidDeviceId } from '../../common/validate';
import { assertJwks } from '../entra';

/** A bad value; `where` names the flag, variable or config key it came from. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface Kind<T> {
  /** The placeholder in --help, e.g. `<port|off>`; absent: a flag without a value. */
  readonly arg?: string;
  /** Values of a flag (several when it is repeated) or of a variable (one). */
  fromText(texts: string[], where: string): T;
  /** A config-file value; relative paths are resolved against `baseDir` (the file's folder). */
  fromJson(value: unknown, where: string, baseDir: string): T;
}

const fail = (where: string, what: string, got: unknown): never => {
  throw new ConfigError(`${where} ${what} (got ${JSON.stringify(got)}).`);
};

const last = (texts: string[]): string => texts[texts.length - 1] ?? '';

/** Splits a variable's list (`a,b, c`); repeated flags are lists already. */
const items = (texts: string[]): string[] =>
  texts
    .flatMap((t) => t.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${where} is not valid JSON: ${(e as Error).message}.`);
  }
}

/** Checks an object's keys against the allowed ones: unknown keys are errors, not ignored. */
export function onlyKeys(value: unknown, allowed: readonly string[], where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(where, 'must be an object', value);
  const o = value as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ConfigError(`${where} has an unknown key '${k}' (known: ${allowed.join(', ')}).`);
  }
  return o;
}

export const text: Kind<string> = {
  arg: '<text>',
  fromText: (t, where) => text.fromJson(last(t), where, ''),
  fromJson(v, where) {
    if (typeof v !== 'string' || v.trim() === '') fail(where, 'must be a non-empty string', v);
    return (v as string).trim();
  },
};

/** A folder or file path: relative to the working directory (flags, variables) or to the config file. */
export function pathKind(arg: string, mustExist: boolean): Kind<string> {
  const check = (p: string, where: string): string => {
    if (mustExist && !fs.existsSync(p)) throw new ConfigError(`${where}: no such file '${p}'.`);
    return p;
  };
  return {
    arg,
    fromText: (t, where) => check(path.resolve(text.fromText(t, where)), where),
    fromJson: (v, where, baseDir) => check(path.resolve(baseDir, text.fromJson(v, where, baseDir)), where),
  };
}

/** A list of strings: a repeatable flag, a comma-separated variable, a string or an array in the file. */
export const texts: Kind<string[]> = {
  arg: '<text>',
  fromText: (t) => items(t),
  fromJson(v, where) {
    const list = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(list) || list.length === 0 || list.some((x) => typeof x !== 'string' || x.trim() === ''))
      fail(where, 'must be a string or a non-empty array of strings', v);
    return (list as string[]).map((s) => s.trim());
  },
};

/** A TCP port, or off. */
export const port: Kind<number | false> = {
  arg: '<port|off>',
  fromText: (t, where) => port.fromJson(/^\d+$/.test(last(t)) ? Number(last(t)) : last(t), where, ''),
  fromJson(v, where) {
    if (v === false || v === 'off') return false;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) fail(where, "must be a port number or 'off'", v);
    return v as number;
  },
};

/**
 * A setting that is on unless turned off: on the command line the flag (`--no-...`) is just
 * present and means false; a variable or the config file spells the setting itself (true/false).
 */
export const offFlag: Kind<boolean> = {
  fromText(t, where) {
    return where.startsWith('--') ? false : flag.fromText(t, where);
  },
  fromJson(v, where) {
    return flag.fromJson(v, where, '');
  },
};

export const flag: Kind<boolean> = {
  fromText(t, where) {
    // A flag given on the command line is just present (parseArgs gives 'true'); a variable spells it.
    const v = last(t).toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(v)) return true;
    if (['false', '0', 'no', 'off'].includes(v)) return false;
    return fail(where, 'must be true or false', last(t));
  },
  fromJson(v, where) {
    if (typeof v !== 'boolean') fail(where, 'must be true or false', v);
    return v as boolean;
  },
};

/** One of `values`, compared without case; the value is given back as spelled in `values`. */
export function choice<T extends string>(values: readonly T[]): Kind<T> {
  const k: Kind<T> = {
    arg: `<${values.map((v) => v.toLowerCase()).join('|')}>`,
    fromText: (t, where) => k.fromJson(last(t), where, ''),
    fromJson(v, where) {
      const hit = typeof v === 'string' ? values.find((x) => x.toLowerCase() === v.toLowerCase()) : undefined;
      if (hit === undefined) fail(where, `must be ${values.map((x) => x.toLowerCase()).join(' or ')}`, v);
      return hit as T;
    },
  };
  return k;
}

/** Hub limits by HubLimits name, checked by validateLimits (the hub's own rules). */
export const limits: Kind<Partial<HubLimits>> = {
  arg: '<name=value>',
  fromText(t, where) {
    const out: Record<string, unknown> = {};
    for (const pair of items(t)) {
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      if (eq <= 0 || !Object.hasOwn(DEFAULT_LIMITS, name)) fail(where, 'takes name=value with a HubLimits name', pair);
      const raw = pair.slice(eq + 1).trim();
      out[name] = typeof DEFAULT_LIMITS[name as keyof HubLimits] === 'boolean' ? raw === 'true' : raw === '' ? NaN : Number(raw);
    }
    return limits.fromJson(out, where, '');
  },
  fromJson(v, where) {
    const o = onlyKeys(v, Object.keys(DEFAULT_LIMITS), where);
    const problems = validateLimits({ ...DEFAULT_LIMITS, ...o } as HubLimits);
    if (problems.length > 0) throw new ConfigError(`${where}: ${problems.join('; ')}.`);
    return o as Partial<HubLimits>;
  },
};

/**
 * PEM files of CA certificates (X.509 CA-signed devices). Each must hold at
 * least one certificate Node can parse, so a wrong file fails at start, named.
 */
export const caFiles: Kind<string[]> = {
  arg: '<file>',
  fromText: (t, where) => caFiles.fromJson(items(t), where, process.cwd()),
  fromJson(v, where, baseDir) {
    return texts.fromJson(v, where, baseDir).map((f) => {
      const file = path.resolve(baseDir, f);
      let pem: string;
      try {
        pem = fs.readFileSync(file, 'utf8');
      } catch (e) {
        throw new ConfigError(`${where}: cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
      }
      const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
      try {
        if (blocks.length === 0) throw new Error('no CERTIFICATE block');
        for (const b of blocks) new X509Certificate(b);
      } catch (e) {
        throw new ConfigError(`${where}: '${file}' is not a PEM certificate file (${(e as Error).message}).`);
      }
      return file;
    });
  },
};

/** A device of the config: IoT Hub's three kinds of device identity, in a flat shape. */
export interface DeviceConfig {
  deviceId: string;
  /** sas (default, or when keys are given), x509 (self-signed, by thumbprint; default when a thumbprint is given), ca (CA-signed). */
  auth: 'sas' | 'x509' | 'ca';
  primaryKey?: string;
  secondaryKey?: string;
  primaryThumbprint?: string;
  secondaryThumbprint?: string;
  status?: 'enabled' | 'disabled';
}

const DEVICE_KEYS = ['deviceId', 'auth', 'primaryKey', 'secondaryKey', 'primaryThumbprint', 'secondaryThumbprint', 'status'] as const;

function optionalString(o: Record<string, unknown>, key: string, where: string): string | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') fail(`${where}.${key}`, 'must be a non-empty string', v);
  return v as string;
}

function deviceOf(v: unknown, where: string): DeviceConfig {
  const o = typeof v === 'string' ? { deviceId: v } : onlyKeys(v, DEVICE_KEYS, where);
  if (!isValidDeviceId(o.deviceId))
    fail(`${where}.deviceId`, "must be a device id: 1 to 128 ASCII letters, digits or - . + % _ # * ? ! ( ) , = @ $ '", o.deviceId);
  const d: DeviceConfig = { deviceId: o.deviceId as string, auth: 'sas' };
  for (const k of ['primaryKey', 'secondaryKey', 'primaryThumbprint', 'secondaryThumbprint'] as const) {
    const s = optionalString(o, k, where);
    if (s !== undefined) d[k] = s;
  }
  const thumbprints = d.primaryThumbprint !== undefined || d.secondaryThumbprint !== undefined;
  const keys = d.primaryKey !== undefined || d.secondaryKey !== undefined;
  d.auth = o.auth === undefined ? (thumbprints ? 'x509' : 'sas') : choice(['sas', 'x509', 'ca'] as const).fromJson(o.auth, `${where}.auth`, '');
  if (d.auth !== 'sas' && keys) throw new ConfigError(`${where}: keys are for auth 'sas' only (this device is '${d.auth}').`);
  if (d.auth !== 'x509' && thumbprints) throw new ConfigError(`${where}: thumbprints are for auth 'x509' only (this device is '${d.auth}').`);
  if (d.auth === 'x509' && !thumbprints) throw new ConfigError(`${where}: an x509 device needs primaryThumbprint or secondaryThumbprint.`);
  if (o.status !== undefined) d.status = choice(['enabled', 'disabled'] as const).fromJson(o.status, `${where}.status`, '');
  return d;
}

function devicesOf(v: unknown, where: string): DeviceConfig[] {
  if (!Array.isArray(v)) fail(where, 'must be an array of devices', v);
  const list = (v as unknown[]).map((d, i) => deviceOf(d, `${where}[${i}]`));
  const seen = new Set<string>();
  for (const d of list) {
    if (seen.has(d.deviceId)) throw new ConfigError(`${where}: device '${d.deviceId}' is listed twice.`);
    seen.add(d.deviceId);
  }
  return list;
}

/** JSON (an object or an array of them), or comma-separated ids on the command line and in variables. */
export const devices: Kind<DeviceConfig[]> = {
  arg: '<id|json>',
  fromText(t, where) {
    const list = t.flatMap((s) => (/^\s*[[{]/.test(s) ? [parseJson(s, where)].flat() : items([s])));
    return devicesOf(list, where);
  },
  fromJson: (v, where) => devicesOf(v, where),
};

export interface PolicyConfig {
  keyName: string;
  rights: Right[];
  primaryKey?: string;
  secondaryKey?: string;
}

function policiesOf(v: unknown, where: string): PolicyConfig[] {
  if (!Array.isArray(v)) fail(where, 'must be an array of policies', v);
  const seen = new Set<string>();
  return (v as unknown[]).map((p, i) => {
    const w = `${where}[${i}]`;
    const o = onlyKeys(p, ['keyName', 'rights', 'primaryKey', 'secondaryKey'], w);
    const keyName = o.keyName;
    if (typeof keyName !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(keyName)) fail(`${w}.keyName`, 'must be 1..64 letters, digits, _ . -', keyName);
    if (seen.has(keyName as string)) throw new ConfigError(`${where}: policy '${String(keyName)}' is listed twice.`);
    seen.add(keyName as string);
    const rights = o.rights;
    if (!Array.isArray(rights) || rights.length === 0 || rights.some((r) => !RIGHTS.includes(r as Right)))
      fail(`${w}.rights`, `must be a non-empty array of ${RIGHTS.join(', ')}`, rights);
    const out: PolicyConfig = { keyName: keyName as string, rights: [...new Set(rights as Right[])] };
    for (const k of ['primaryKey', 'secondaryKey'] as const) {
      const s = optionalString(o, k, w);
      if (s !== undefined) out[k] = s;
    }
    return out;
  });
}

/** Shared access policies: JSON everywhere (an object or an array of them). */
export const policies: Kind<PolicyConfig[]> = {
  arg: '<json>',
  fromText: (t, where) =>
    policiesOf(
      t.flatMap((s) => [parseJson(s, where)].flat()),
      where,
    ),
  fromJson: (v, where) => policiesOf(v, where),
};

/** A JSON Web Key Set file (Microsoft Entra issuer keys the hub trusts); read and checked at start. */
export const jwksFile: Kind<string> = {
  arg: '<file>',
  fromText: (t, where) => jwksFile.fromJson(last(t), where, process.cwd()),
  fromJson(v, where, baseDir) {
    const file = path.resolve(baseDir, text.fromJson(v, where, baseDir));
    let jwks: unknown;
    try {
      jwks = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      throw new ConfigError(`${where}: cannot read '${file}' as JSON (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
    }
    try {
      assertJwks(jwks, `${where} '${file}'`);
    } catch (e) {
      throw new ConfigError((e as Error).message);
    }
    return file;
  },
};

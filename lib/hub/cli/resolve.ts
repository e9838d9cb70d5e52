/**
 * Turns a command line, a config file and the environment into one CliConfig,
 * through the option table (options.ts): defaults, then the file, then
 * flags, then `C2D_*` variables. Unknown flags and unknown file keys are
 * errors; an unknown `C2D_*` variable is not (the name space is shared with
 * other tools), only the ones in the table are read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, onlyKeys } from './kinds';
import { CONFIG_ENV, CONFIG_FLAG, OPTIONS, defaults, type CliConfig, type Command, type OptionSpec } from './options';

export interface Invocation {
  command: Command;
  /** The FILE of export and import. */
  file?: string;
  help: boolean;
  config: CliConfig;
}

const COMMANDS: readonly Command[] = ['serve', 'export', 'import', 'reset'];

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let o = target;
  for (const p of parts.slice(0, -1)) {
    o[p] = { ...((o[p] as Record<string, unknown> | undefined) ?? {}) };
    o = o[p] as Record<string, unknown>;
  }
  o[parts[parts.length - 1]!] = value;
}

/** The file's keys as a tree; every level is checked against the table, so a typo is an error. */
function readFile(file: string, apply: (spec: OptionSpec, value: unknown, where: string) => void): void {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`Cannot read the config file '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(`The config file '${file}' is not valid JSON: ${(e as Error).message}.`);
  }
  const keyed = OPTIONS.filter((o) => o.key !== undefined);
  const walk = (value: unknown, prefix: string): void => {
    // The keys allowed at this level: option keys under `prefix`, up to the next dot.
    const here = new Set(keyed.filter((o) => o.key!.startsWith(prefix)).map((o) => o.key!.slice(prefix.length).split('.')[0]!));
    const where = prefix ? prefix.slice(0, -1) : 'the file';
    const obj = onlyKeys(value, [...here], where);
    for (const [k, v] of Object.entries(obj)) {
      const spec = keyed.find((o) => o.key === prefix + k);
      if (spec) apply(spec, v, `${prefix}${k}`);
      else walk(v, `${prefix}${k}.`);
    }
  };
  try {
    walk(json, '');
  } catch (e) {
    // Every message names the key; this names the file.
    if (e instanceof ConfigError) throw new ConfigError(`${file}: ${e.message}`);
    throw e;
  }
}

export function resolve(argv: string[], env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Invocation {
  const parseOptions: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    [CONFIG_FLAG]: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  };
  for (const o of OPTIONS) parseOptions[o.flag] = { type: o.kind.arg ? 'string' : 'boolean', ...(o.multiple ? { multiple: true } : {}) };
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({ args: argv, options: parseOptions, allowPositionals: true, strict: true });
  } catch (e) {
    throw new ConfigError(`${(e as Error).message} See c2d-hub --help.`);
  }
  const { values, positionals } = parsed;
  const first = positionals[0];
  const command: Command = first !== undefined && (COMMANDS as readonly string[]).includes(first) ? (first as Command) : 'serve';
  const rest = first !== undefined && command === first ? positionals.slice(1) : positionals;
  const wantsFile = command === 'export' || command === 'import';
  if (rest.length > (wantsFile ? 1 : 0)) throw new ConfigError(`Unexpected argument '${rest[wantsFile ? 1 : 0]}'. See c2d-hub --help.`);
  if (wantsFile && rest.length === 0 && !values.help) throw new ConfigError(`c2d-hub ${command} needs a FILE. See c2d-hub --help.`);

  const config = defaults(cwd) as unknown as Record<string, unknown>;
  config.dataDir = path.resolve(cwd, 'c2d-hub-data');
  const apply = (spec: OptionSpec, value: unknown): void => setPath(config, spec.path, value);

  const configFile = (env[CONFIG_ENV] ?? values[CONFIG_FLAG]) as string | undefined;
  if (configFile !== undefined) {
    const file = path.resolve(cwd, configFile);
    readFile(file, (spec, v, where) => apply(spec, spec.kind.fromJson(v, where, path.dirname(file))));
  }
  for (const spec of OPTIONS) {
    const v = values[spec.flag];
    if (v === undefined) continue;
    if (!spec.commands.includes(command)) throw new ConfigError(`--${spec.flag} does not apply to ${command === 'serve' ? 'the hub' : `c2d-hub ${command}`}.`);
    const texts = (Array.isArray(v) ? v : [v]).map(String);
    apply(spec, spec.kind.fromText(texts, `--${spec.flag}`));
  }
  for (const spec of OPTIONS) {
    if (spec.env === undefined || env[spec.env] === undefined) continue;
    apply(spec, spec.kind.fromText([env[spec.env]!], spec.env));
  }

  const out = config as unknown as CliConfig;
  const tls = out.tls;
  if (tls && (tls.cert === undefined) !== (tls.key === undefined))
    throw new ConfigError('Give both a TLS certificate and key (--cert and --key, tls.cert and tls.key), or neither.');
  return { command, ...(wantsFile && rest[0] ? { file: path.resolve(cwd, rest[0]) } : {}), help: values.help === true, config: out };
}

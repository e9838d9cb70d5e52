/**
 * The real `c2d-hub` command as a child process, for the CLI tests: start it,
 * read its banner (ports, admin port), wait for log lines, stop it. Every
 * command a test starts is killed by killAll() if the test ends first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const BIN = path.resolve(__dirname, '../../../bin/c2d-hub.js');

const started = new Set<ChildProcess>();

/** The test environment without C2D_* variables of the caller's own (the command reads them). */
function cleanEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('C2D_')) env[k] = v;
  return { ...env, ...extra };
}

export interface CliRun {
  child: ChildProcess;
  /** Everything printed on stdout so far. */
  out(): string;
  err(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): CliRun {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv(env) });
  started.add(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      started.delete(child);
      resolve(code);
    }),
  );
  return { child, out: () => out, err: () => err, exited };
}

/** Runs a command to its end: exit code, stdout, stderr. */
export async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; out: string; err: string }> {
  const r = spawnCli(args, env);
  const code = await r.exited;
  return { code, out: r.out(), err: r.err() };
}

/** Waits until stdout matches `pattern` (or the command exits, which fails). */
export function waitForOutput(run: CliRun, pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const m = run.out().match(pattern);
      if (!m) return false;
      cleanup();
      resolve(m);
      return true;
    };
    const onData = (): void => void check();
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`c2d-hub exited ${String(code)} before printing ${pattern}: ${run.out()}${run.err()}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`c2d-hub did not print ${pattern} within ${timeoutMs} ms: ${run.out()}${run.err()}`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      run.child.stdout!.off('data', onData);
      run.child.off('exit', onExit);
    };
    run.child.stdout!.on('data', onData);
    run.child.once('exit', onExit);
    check();
  });
}

export interface StartedCli extends CliRun {
  ports: Record<string, number>;
  adminPort?: number;
  /** SIGTERM, and the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the hub and resolves once it runs (text banner or the JSON hub-started line). */
export async function startCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<StartedCli> {
  const run = spawnCli(args, env);
  await waitForOutput(run, /Ctrl\+C to stop|"event":"hub-started".*\n/);
  const out = run.out();
  const ports: Record<string, number> = {};
  let adminPort: number | undefined;
  const json = out.split('\n').find((l) => l.includes('"event":"hub-started"'));
  if (json) {
    const started = JSON.parse(json) as { ports: Record<string, number>; adminPort?: number };
    Object.assign(ports, started.ports);
    adminPort = started.adminPort;
  } else {
    for (const m of out.matchAll(/^\s+(amqps|mqtts|https|admin)\s+port (\d+)/gm)) {
      if (m[1] === 'admin') adminPort = Number(m[2]);
      else ports[m[1]!] = Number(m[2]);
    }
  }
  return {
    ...run,
    ports,
    ...(adminPort !== undefined ? { adminPort } : {}),
    stop: async () => {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGTERM');
      return run.exited;
    },
  };
}

export function killAll(): void {
  for (const child of started) child.kill('SIGKILL');
}

/**
 * The hub under soak: the `c2d-hub` command (bin/c2d-hub.js) as a user runs
 * it, from a config file, in its own process pinned to its own core, with the
 * admin listener on (its /metrics is how the soak reads the hub: process
 * figures, queue gauges and event counters) and the log as JSON lines. Every
 * line it prints is read as it comes: info lines are counted by event, warn
 * and error lines (and anything that is not a log line) are kept, to be
 * judged expected or not at the end. The full log goes to a file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { pinnable } from '../../bench/lib/ipc';

export const BIN = path.resolve(__dirname, '../../../bin/c2d-hub.js');

export interface HubLogLine {
  stream: 'stdout' | 'stderr';
  level: string;
  event: string;
  text: string;
}

export interface HubProcess {
  pid: number;
  ports: { amqps: number; mqtts: number; https: number };
  adminPort: number;
  caFile: string;
  /** Info lines by event. */
  infoCounts: Map<string, number>;
  /** Warn and error lines, and lines that are not log lines (stack traces, warnings). */
  problems: HubLogLine[];
  exited: Promise<number | null>;
  exitCode(): number | null | undefined;
  metrics(): Promise<Metrics>;
  /** SIGTERM (the command closes everything in order); resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** A scrape of /metrics: `get(name, labels)` is one sample's value (0 when absent), `sum(name)` adds every label set. */
export interface Metrics {
  get(name: string, labels?: Record<string, string>): number;
  sum(name: string, where?: Record<string, string>): number;
  /** Every label set of one metric with its value. */
  all(name: string): { labels: Record<string, string>; value: number }[];
}

export function readMetrics(text: string): Metrics {
  const families = parsePrometheusTextFormat(text);
  const samples = (name: string): { labels: Record<string, string>; value: number }[] =>
    families.find((f) => f.name === name)?.metrics.map((m) => ({ labels: m.labels ?? {}, value: Number(m.value ?? 0) })) ?? [];
  const matches = (l: Record<string, string>, want: Record<string, string>): boolean => Object.entries(want).every(([k, v]) => l[k] === v);
  return {
    get: (name, labels = {}) => samples(name).find((s) => Object.keys(s.labels).length === Object.keys(labels).length && matches(s.labels, labels))?.value ?? 0,
    sum: (name, where = {}) =>
      samples(name)
        .filter((s) => matches(s.labels, where))
        .reduce((a, s) => a + s.value, 0),
    all: samples,
  };
}

export interface StartHubOptions {
  configFile: string;
  logFile: string;
  /** The core to pin the hub to (when taskset exists). */
  cpu: number;
}

export async function startHubProcess(o: StartHubOptions): Promise<HubProcess> {
  const args = [BIN, '--config', o.configFile];
  // Pinned before exec, so every thread the hub makes (V8's included) stays on its core.
  const [cmd, argv] = pinnable() ? ['/usr/bin/taskset', ['-c', String(o.cpu), process.execPath, ...args]] : [process.execPath, args];
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('C2D_')) env[k] = v;
  const child: ChildProcess = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const log = fs.createWriteStream(o.logFile);
  const infoCounts = new Map<string, number>();
  const problems: HubLogLine[] = [];
  let started: ((l: Record<string, unknown>) => void) | undefined;
  const startedLine = new Promise<Record<string, unknown>>((resolve) => (started = resolve));
  const read = (stream: 'stdout' | 'stderr', input: NodeJS.ReadableStream): void => {
    readline.createInterface({ input }).on('line', (line) => {
      log.write(`${stream === 'stderr' ? '! ' : ''}${line}\n`);
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = line.startsWith('{') ? (JSON.parse(line) as Record<string, unknown>) : undefined;
      } catch {
        parsed = undefined;
      }
      if (parsed && typeof parsed.level === 'string' && typeof parsed.event === 'string') {
        if (parsed.event === 'hub-started') started?.(parsed);
        if (parsed.level === 'info') infoCounts.set(parsed.event, (infoCounts.get(parsed.event) ?? 0) + 1);
        else problems.push({ stream, level: parsed.level, event: parsed.event, text: line });
        return;
      }
      if (line.trim() !== '') problems.push({ stream, level: 'raw', event: '', text: line });
    });
  };
  read('stdout', child.stdout!);
  read('stderr', child.stderr!);
  let code: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (c) => {
      code = c;
      log.end();
      resolve(c);
    }),
  );
  const first = await Promise.race([startedLine, exited.then((c) => c)]);
  if (typeof first !== 'object' || first === null) {
    throw new Error(`c2d-hub exited (${String(first)}) before it started:\n${problems.map((p) => p.text).join('\n')}`);
  }
  const ports = first.ports as { amqps: number; mqtts: number; https: number };
  const adminPort = first.adminPort as number;
  const metrics = async (): Promise<Metrics> => {
    const r = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { signal: AbortSignal.timeout(20_000) });
    if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
    return readMetrics(await r.text());
  };
  return {
    pid: child.pid!,
    ports,
    adminPort,
    caFile: first.caFile as string,
    infoCounts,
    problems,
    exited,
    exitCode: () => code,
    metrics,
    async stop() {
      if (code === undefined) {
        child.kill('SIGTERM');
        const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(killer);
      }
      return exited;
    },
  };
}

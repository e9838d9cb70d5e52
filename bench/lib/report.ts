/**
 * The table printed at the end of `npm run bench`, and its section in
 * BENCHMARKS.md (between markers, so the hand-written Engine section stays).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fmt, machine } from './measure';
import type { Row } from './result';

const BEGIN = '<!-- bench:begin (written by npm run bench) -->';
const END = '<!-- bench:end -->';

function cell(n: number | undefined, digits = 0): string {
  return n === undefined || !Number.isFinite(n) ? '' : fmt(n, digits);
}

export function table(rows: Row[]): string {
  const head = '| scenario | setup | msgs/s | p50 ms | p99 ms | p99.9 ms | max ms | hub CPU s | hub µs/msg | load µs/msg | hub peak RSS MB | target |';
  const sep = '|---|---|---|---|---|---|---|---|---|---|---|---|';
  const lines = rows.map((r) => {
    const l = r.latency;
    const target = r.target
      ? `${r.target.met ? 'MET' : 'NOT MET'}: ${r.target.text}${r.target.ratio !== undefined ? ` (ratio ${r.target.ratio.toFixed(2)})` : ''}`
      : '';
    return `| ${r.scenario} | ${r.setup} | ${cell(r.rate)} | ${cell(l?.p50, 2)} | ${cell(l?.p99, 2)} | ${cell(l?.p999, 2)} | ${cell(l?.max, 2)} | ${cell(r.hubCpuS, 2)} | ${cell(r.hubCpuUsPerMsg)} | ${cell(r.loadCpuUsPerMsg)} | ${cell(r.hubMaxRssMB)} | ${target} |`;
  });
  return [head, sep, ...lines].join('\n');
}

export function notes(rows: Row[]): string {
  return rows
    .filter((r) => r.note)
    .map((r) => `- ${r.scenario} (${r.setup}): ${r.note}`)
    .join('\n');
}

export function machineLine(): string {
  const m = machine();
  return `Machine: nproc ${m.nproc}, ${m.cpu}, node ${m.node}, ${m.date}; shared with other jobs while measured.`;
}

export function writeBenchmarks(rows: Row[], args: string): void {
  const file = path.join(__dirname, '..', '..', '..', 'BENCHMARKS.md');
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '# Benchmarks\n';
  const section = [
    BEGIN,
    '## Harness: scenarios and same-run baselines',
    '',
    `Run: \`npm run bench${args ? ` -- ${args}` : ''}\`. ${machineLine()}`,
    'The hub runs in its own process pinned to cpu 1 (taskset), the load generators in the bench process on cpu 0.',
    'hub µs/msg and load µs/msg: CPU time (user + system) of the hub process and of the load generator per message while measuring.',
    '256-byte messages, warm-up before measuring, latency send -> device receive (hdr-histogram-js).',
    '',
    table(rows),
    '',
    notes(rows),
    END,
  ].join('\n');
  const start = old.indexOf(BEGIN);
  const end = old.indexOf(END);
  const next = start >= 0 && end > start ? old.slice(0, start) + section + old.slice(end + END.length) : `${old.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, next);
}

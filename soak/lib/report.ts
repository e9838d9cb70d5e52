/**
 * What a soak leaves behind: the minute table and the verdicts as Markdown,
 * and a small SVG chart (RSS of the hub and of Node-RED, and the p99
 * send -> receive latency, over the run), drawn here from the numbers.
 * RELIABILITY.md keeps its own prose; the soak replaces only what sits
 * between its two markers.
 */
import * as fs from 'node:fs';
import type { Criterion, MinuteRow } from './criteria';

export const BEGIN = '<!-- soak:begin (written by npm run soak; edits between these markers are replaced) -->';
export const END = '<!-- soak:end -->';

const f = (x: number | undefined, d = 1): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(d));

export function hubTable(rows: readonly MinuteRow[]): string {
  const head =
    '| min | RSS MB | heap MB | external MB | fds | handles | conns | devices | loop p99 ms | send p99 ms | push p99 ms | HTTPS p99 ms | store MB | WAL MB | queued | locked | dead letters | sent | 403004 |';
  const sep = `|${'---:|'.repeat(19)}`;
  const lines = rows.map(
    (r) =>
      `| ${r.minute} | ${f(r.hub.rssMB)} | ${f(r.hub.heapUsedMB)} | ${f(r.hub.externalMB)} | ${r.hub.openFds} | ${r.hub.activeHandles} | ${r.hub.connections} | ${r.connectedDevices} | ${f(r.hub.eventLoopP99Ms)} | ${f(r.sendP99Ms)} | ${f(r.pushP99Ms)} | ${f(r.httpP99Ms, 0)} | ${f(r.hub.storeMB)} | ${f(r.hub.walMB)} | ${r.hub.queued} | ${r.hub.locked} | ${r.hub.deadLetters} | ${r.sent} | ${r.refusedQueueFull} |`,
  );
  return [head, sep, ...lines].join('\n');
}

export function redTable(rows: readonly MinuteRow[]): string {
  const head =
    '| min | RSS MB | heap MB | external MB | fds | handles | loop p99 ms | embedded flow p99 ms | msgs | network flow p99 ms | store MB | WAL MB | queued | locked | dead letters |';
  const sep = `|${'---:|'.repeat(15)}`;
  const lines = rows.map((r) =>
    r.red
      ? `| ${r.minute} | ${f(r.red.rssMB)} | ${f(r.red.heapUsedMB)} | ${f(r.red.externalMB)} | ${r.red.openFds} | ${r.red.activeHandles} | ${f(r.red.eventLoopP99Ms)} | ${f(r.red.latencyP99Ms, 0)} | ${r.red.latencyCount} | ${f(r.red.networkP99Ms, 0)} | ${f(r.red.storeMB)} | ${f(r.red.walMB)} | ${r.red.queued} | ${r.red.locked} | ${r.red.deadLetters} |`
      : `| ${r.minute} | (no sample) ||||||||||||| `,
  );
  return [head, sep, ...lines].join('\n');
}

export function verdicts(cs: readonly Criterion[]): string {
  return cs.map((c) => `- ${c.met ? '**met**' : '**NOT met**'}: ${c.name} — ${c.detail}`).join('\n');
}

interface Series {
  label: string;
  color: string;
  points: [number, number][];
}

function panel(x0: number, y0: number, w: number, h: number, title: string, unit: string, series: Series[], maxMinute: number): string {
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const top = Math.max(1, ...ys) * 1.1;
  const sx = (m: number): number => x0 + (m / Math.max(1, maxMinute)) * w;
  const sy = (v: number): number => y0 + h - (v / top) * h;
  const parts: string[] = [];
  parts.push(`<text x="${x0}" y="${y0 - 8}" font-size="13" font-weight="bold">${title}</text>`);
  parts.push(`<rect x="${x0}" y="${y0}" width="${w}" height="${h}" fill="none" stroke="#999"/>`);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    const y = sy(v);
    parts.push(`<line x1="${x0}" y1="${y.toFixed(1)}" x2="${x0 + w}" y2="${y.toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${x0 - 6}" y="${(y + 4).toFixed(1)}" font-size="11" text-anchor="end">${v.toFixed(v < 10 ? 1 : 0)}</text>`);
  }
  const step = Math.max(1, Math.ceil(maxMinute / 12));
  for (let m = 0; m <= maxMinute; m += step) parts.push(`<text x="${sx(m).toFixed(1)}" y="${y0 + h + 15}" font-size="11" text-anchor="middle">${m}</text>`);
  parts.push(`<text x="${x0 + w / 2}" y="${y0 + h + 30}" font-size="11" text-anchor="middle">minute</text>`);
  parts.push(`<text x="${x0 - 38}" y="${y0 + h / 2}" font-size="11" text-anchor="middle" transform="rotate(-90 ${x0 - 38} ${y0 + h / 2})">${unit}</text>`);
  series.forEach((s, i) => {
    if (s.points.length > 0) {
      const pts = s.points.map(([m, v]) => `${sx(m).toFixed(1)},${sy(v).toFixed(1)}`).join(' ');
      parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>`);
    }
    parts.push(
      `<rect x="${x0 + 10 + i * 150}" y="${y0 + 8}" width="12" height="3" fill="${s.color}"/><text x="${x0 + 26 + i * 150}" y="${y0 + 13}" font-size="11">${s.label}</text>`,
    );
  });
  return parts.join('\n');
}

/** RSS (hub, Node-RED) and p99 latency (push transports, Node-RED's flows) per minute. */
export function chart(rows: readonly MinuteRow[]): string {
  const maxMinute = Math.max(1, ...rows.map((r) => r.minute));
  const rss: Series[] = [
    { label: 'hub RSS', color: '#1f77b4', points: rows.map((r) => [r.minute, r.hub.rssMB]) },
    { label: 'Node-RED RSS', color: '#d62728', points: rows.filter((r) => r.red).map((r) => [r.minute, r.red!.rssMB]) },
  ];
  const lat: Series[] = [
    { label: 'MQTT + AMQP p99', color: '#2ca02c', points: rows.filter((r) => r.pushCount > 0).map((r) => [r.minute, r.pushP99Ms]) },
    {
      label: 'Node-RED embedded flow p99',
      color: '#9467bd',
      points: rows.filter((r) => r.red && r.red.latencyCount > 0).map((r) => [r.minute, r.red!.latencyP99Ms]),
    },
  ];
  const w = 640;
  const h = 180;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w + 90}" height="${2 * h + 120}" font-family="sans-serif">`,
    '<rect width="100%" height="100%" fill="white"/>',
    panel(60, 30, w, h, 'Resident memory', 'MB', rss, maxMinute),
    panel(60, h + 90, w, h, 'Send -> receive latency, p99 per minute', 'ms', lat, maxMinute),
    '</svg>',
    '',
  ].join('\n');
}

/** Replaces the soak section of `file` (or appends one), keeping everything else. */
export function writeSection(file: string, section: string, preamble: string): void {
  const body = `${BEGIN}\n${section.trim()}\n${END}`;
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : `${preamble.trim()}\n\n`;
  const a = old.indexOf(BEGIN);
  const b = old.indexOf(END);
  const next = a >= 0 && b > a ? `${old.slice(0, a)}${body}${old.slice(b + END.length)}` : `${old.trimEnd()}\n\n${body}\n`;
  fs.writeFileSync(file, next);
}

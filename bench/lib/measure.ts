/**
 * What every scenario records: a latency histogram (hdr-histogram-js, in
 * microseconds, reported in ms), rates, and the machine the figures came from.
 */
import fs from 'node:fs';
import os from 'node:os';
import * as hdr from 'hdr-histogram-js';

export interface Latency {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  count: number;
}

export class LatencyRecorder {
  private readonly h = hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });

  /** Records one latency given in milliseconds (fractional). */
  recordMs(ms: number): void {
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  reset(): void {
    this.h.reset();
  }

  summary(): Latency {
    const at = (p: number): number => this.h.getValueAtPercentile(p) / 1000;
    return { p50: at(50), p99: at(99), p999: at(99.9), max: this.h.maxValue / 1000, count: this.h.totalCount };
  }
}

export function machine(): { nproc: number; cpu: string; node: string; date: string } {
  const cpu = /model name\s*:\s*(.*)/.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? os.cpus()[0]?.model ?? 'unknown';
  return { nproc: os.cpus().length, cpu, node: process.version, date: new Date().toISOString().slice(0, 16).replace('T', ' ') + ' UTC' };
}

/** A body of `bytes` bytes with a send timestamp (performance.now(), ms) in its first 8 bytes. */
export function stampedBody(bytes: number): Buffer {
  const b = Buffer.alloc(Math.max(8, bytes), 'x');
  b.writeDoubleLE(performance.now(), 0);
  return b;
}

export function stampOf(body: Buffer): number {
  return body.readDoubleLE(0);
}

export function tmpDir(prefix = 'c2d-bench-'): string {
  return fs.mkdtempSync(`${os.tmpdir()}/${prefix}`);
}

/** The middle element by `key` (the upper middle for an even count): noisy runs are summarised by their median. */
export function medianBy<T>(xs: readonly T[], key: (x: T) => number): T {
  return [...xs].sort((a, b) => key(a) - key(b))[Math.floor(xs.length / 2)]!;
}

export function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/**
 * Latency windows that cross process boundaries: each load process records
 * into an HdrHistogram (microseconds), hands it over compressed each minute
 * and starts afresh; the driver adds the windows of every process up and
 * reads percentiles from the sum.
 */
import * as hdr from 'hdr-histogram-js';

const HIGHEST_US = 600_000_000;

function fresh(): hdr.Histogram {
  return hdr.build({ bitBucketSize: 64, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3 });
}

export interface LatencySummary {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export class LatencyWindow {
  private h = fresh();

  recordMs(ms: number): void {
    this.h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(ms * 1000))));
  }

  /** The window so far, compressed; the next one starts empty. */
  take(): string {
    const out = hdr.encodeIntoCompressedBase64(this.h);
    this.h.reset();
    return out;
  }
}

/** Adds windows up; a percentile of the sum, in ms. */
export class LatencySum {
  private readonly h = fresh();

  add(encoded: string | undefined): this {
    if (encoded) this.h.add(hdr.decodeFromCompressedBase64(encoded, 64));
    return this;
  }

  summary(): LatencySummary {
    const at = (p: number): number => (this.h.totalCount === 0 ? 0 : this.h.getValueAtPercentile(p) / 1000);
    return { count: this.h.totalCount, p50: at(50), p99: at(99), max: this.h.totalCount === 0 ? 0 : this.h.maxValue / 1000 };
  }
}

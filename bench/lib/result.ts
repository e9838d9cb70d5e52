/** One line of the final table, and the shape every scenario returns. */
import type { Latency } from './measure';

export interface Row {
  scenario: string;
  /** What was run (devices, transport, ack...). */
  setup: string;
  /** Messages per second, when the scenario measures a rate. */
  rate?: number;
  latency?: Latency;
  /** CPU seconds of the hub process while measuring, and per message (µs). */
  hubCpuS?: number;
  hubCpuUsPerMsg?: number;
  /** CPU time of the load generator (the bench process: service and device clients) per message while measuring (µs). */
  loadCpuUsPerMsg?: number;
  /** Peak RSS of the hub process (MB). */
  hubMaxRssMB?: number;
  /** Free text: the baseline, ratio, other figures. */
  note?: string;
  target?: { text: string; met: boolean; ratio?: number };
}

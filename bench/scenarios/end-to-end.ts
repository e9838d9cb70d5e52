/**
 * Scenarios 1 and 2: end to end, durable. ServiceClient sends over AMQP
 * (each send acknowledged after the commit) -> the hub -> DeviceClients over
 * MQTT, AMQP or HTTP polling receive and complete (committed). With ack
 * full, a feedback receiver drains the feedback and the run ends only when
 * every record arrived. Send -> device receive latency from a timestamp in
 * the body (sender and devices share this process's clock).
 */
import fs from 'node:fs';
import type { AckMode } from '../../lib/common/message';
import type { DeviceTransport } from '../../lib/client/types';
import type { ServiceClient } from '../../lib/client/service-client';
import { Fleet, openService, pool, sendWithBackpressure, startHub } from '../lib/fleet';
import { fmt, LatencyRecorder, stampOf, stampedBody, tmpDir } from '../lib/measure';
import type { Row } from '../lib/result';

export interface EndToEndOptions {
  transport: DeviceTransport;
  devices: number;
  ack: AckMode;
  messages: number;
  /** Sends in flight at the ServiceClient. */
  window: number;
  bodyBytes?: number;
}

export const FEEDBACK_WINDOW_MS = 200;

export interface EndToEndResult extends Row {
  rate: number;
}

async function drainFeedback(service: ServiceClient, counter: { records: number; wake?: () => void }): Promise<void> {
  for await (const batch of service.feedback()) {
    counter.records += batch.records.length;
    await batch.complete().catch(() => undefined);
    counter.wake?.();
  }
}

export async function endToEnd(o: EndToEndOptions): Promise<EndToEndResult> {
  const bodyBytes = o.bodyBytes ?? 256;
  const dataDir = tmpDir();
  // With ack, the last partial feedback batch would wait out the 15 s default window: cut it after 200 ms.
  const limits = o.ack === 'none' ? undefined : { feedbackBatchWindowMs: FEEDBACK_WINDOW_MS };
  const { child, info } = await startHub({ dataDir, devices: o.devices, limits });
  let service: ServiceClient | undefined;
  let fleet: Fleet | undefined;
  try {
    service = await openService(info);
    const svc = service;
    const feedback: { records: number; wake?: () => void } = { records: 0 };
    if (o.ack !== 'none') void drainFeedback(svc, feedback);
    const lat = new LatencyRecorder();
    const devices = (fleet = new Fleet(info, {
      transport: o.transport,
      devices: o.devices,
      onMessage: (m) => lat.recordMs(performance.now() - stampOf(m.body)),
    }));
    await devices.open();
    let sent = 0;
    let retries = 0;
    const run = async (count: number): Promise<number> => {
      const t0 = performance.now();
      await pool(count, o.window, async () => {
        const d = sent++ % o.devices;
        // Not `retries += await ...`: that reads `retries` before the await and loses the other senders' counts.
        const r = await sendWithBackpressure(svc, `dev-${d}`, stampedBody(bodyBytes), { ack: o.ack }, () => devices.room(d));
        retries += r;
      });
      await child.call('waitCompleted', { count: sent });
      if (o.ack === 'full' || o.ack === 'positive') {
        while (feedback.records < sent) await new Promise<void>((resolve) => (feedback.wake = resolve));
      }
      return performance.now() - t0;
    };
    await run(Math.max(o.devices, Math.min(2000, o.messages))); // warm-up: every device once
    lat.reset(); // the warm-up does not count
    retries = 0;
    const before = await child.call<{ cpuS: number; hub: { commits: number } }>('stats');
    const load0 = process.cpuUsage();
    const ms = await run(o.messages);
    const load = process.cpuUsage(load0);
    const after = await child.call<{ cpuS: number; maxRssMB: number; hub: { commits: number } }>('stats');
    const cpu = after.cpuS - before.cpuS;
    return {
      scenario: o.transport === 'mqtt' ? '1 end to end' : '2 end to end',
      setup: `${o.transport}, ${o.devices} devices, ack ${o.ack}${o.ack === 'none' ? '' : ` (feedback window ${FEEDBACK_WINDOW_MS} ms)`}, ${o.messages} msgs, ${o.window} sends in flight`,
      rate: (o.messages * 1000) / ms,
      latency: lat.summary(),
      hubCpuS: cpu,
      hubCpuUsPerMsg: (cpu * 1e6) / o.messages,
      hubMaxRssMB: after.maxRssMB,
      loadCpuUsPerMsg: (load.user + load.system) / o.messages,
      note: [
        `${fmt(o.messages / Math.max(1, after.hub.commits - before.hub.commits), 1)} messages per store commit (a message is one send and one completion)`,
        ...(retries > 0 ? [`${retries} sends met a full queue (403004) and were sent again`] : []),
      ].join('; '),
    };
  } finally {
    await fleet?.close();
    await service?.close();
    await child.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

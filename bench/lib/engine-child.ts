/**
 * The hub's engine with no network: sends through Hub.send, deliveries to
 * in-process receivers that complete each message at once, the real SQLite
 * store (WAL, synchronous FULL, group commit). Run in its own process on the
 * hub's core, it is the part of the end-to-end cost that is the engine's and
 * the store's; the rest of the hub's CPU per message is the protocol servers.
 */
import fs from 'node:fs';
import { Hub } from '../../lib/hub';
import { processStats, serve } from './ipc';
import { tmpDir } from './measure';
import { autoCompleteReceivers, pumpSends } from './in-process';

serve({
  async run(a: {
    devices: number;
    messages: number;
    window: number;
    bodyBytes: number;
  }): Promise<{ perSec: number; cpuUsPerMsg: number; messagesPerCommit: number }> {
    const dir = tmpDir('c2d-engine-');
    const hub = await Hub.open({ dataDir: dir });
    try {
      for (let i = 0; i < a.devices; i++) await hub.registry.createDevice({ deviceId: `dev-${i}` });
      autoCompleteReceivers(hub, a.devices);
      const run = (n: number): Promise<void> => pumpSends(hub, { devices: a.devices, count: n, window: a.window, bodyBytes: a.bodyBytes });
      await run(Math.min(5000, a.messages)); // warm-up
      const c0 = processStats().cpuS;
      const commits0 = hub.stats().commits;
      const t0 = performance.now();
      await run(a.messages);
      const ms = performance.now() - t0;
      const cpuS = processStats().cpuS - c0;
      return { perSec: (a.messages * 1000) / ms, cpuUsPerMsg: (cpuS * 1e6) / a.messages, messagesPerCommit: a.messages / (hub.stats().commits - commits0) };
    } finally {
      await hub.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  },
  async close(): Promise<void> {},
});

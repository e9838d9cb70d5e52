/**
 * Scenario 6 in its own process (and core): a real Node-RED runtime
 * (node-red-node-test-helper) with the flow c2d-send -> embedded hub ->
 * c2d-receive (auto-complete) -> sink, and c2d-feedback -> counter. The
 * hub is in the same process, as in a user's Node-RED. Sends are injected
 * with `window` in flight (a c2d-send output frees a slot).
 */
import fs from 'node:fs';
import { once, type EventEmitter } from 'node:events';
import { ALL_NODES, baseFlow, helper, isConnected, statusReaches, type TestNode } from '../../test/nodes/helpers';
import { processStats, serve } from './ipc';
import { tmpDir } from './measure';

async function run(a: { messages: number; window: number; bodyBytes: number }): Promise<{ rate: number; cpuS: number; maxRssMB: number; feedback: number }> {
  const dir = tmpDir();
  try {
    await helper.load(ALL_NODES, [
      ...baseFlow(dir, { feedbackWindow: '0.2' }),
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', wires: [['sent']] },
      { id: 'sent', z: 'f1', type: 'helper' },
      { id: 'recv', z: 'f1', type: 'c2d-receive', hub: 'dev', settle: 'auto', wires: [['sink']] },
      { id: 'sink', z: 'f1', type: 'test-sink', wires: [[]] },
      { id: 'fb', z: 'f1', type: 'c2d-feedback', hub: 'svc', wires: [['fbout']] },
      { id: 'fbout', z: 'f1', type: 'helper' },
    ]);
    await statusReaches(helper.getNode('recv'), isConnected);
    await statusReaches(helper.getNode('send'), isConnected);
    const send: TestNode = helper.getNode('send');
    const sent: EventEmitter = helper.getNode('sent');
    const fbout: EventEmitter = helper.getNode('fbout');
    let feedback = 0;
    fbout.on('input', () => feedback++);
    const payload = 'x'.repeat(a.bodyBytes);
    const round = async (count: number): Promise<number> => {
      const target = feedback + count;
      const t0 = performance.now();
      let injected = 0;
      const inject = (): void => {
        if (injected >= count) return;
        injected++;
        send.receive({ payload, deviceId: 'dev1', ack: 'full' });
      };
      sent.on('input', inject);
      for (let i = 0; i < a.window; i++) inject();
      while (feedback < target) await once(fbout, 'input');
      sent.off('input', inject);
      return performance.now() - t0;
    };
    await round(Math.min(500, a.messages)); // warm-up
    const before = processStats();
    const ms = await round(a.messages);
    const after = processStats();
    return { rate: (a.messages * 1000) / ms, cpuS: after.cpuS - before.cpuS, maxRssMB: after.maxRssMB, feedback };
  } finally {
    await helper.unload();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

serve({ run, close: () => undefined });

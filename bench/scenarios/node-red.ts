/** Scenario 6: the Node-RED path (see lib/node-red-child.ts), messages per second end to end with feedback. */
import { HUB_CPU } from '../lib/fleet';
import { Child } from '../lib/ipc';
import type { Row } from '../lib/result';

export async function nodeRedPath(o: { messages: number; window: number; bodyBytes: number }): Promise<Row> {
  const child = Child.start('lib/node-red-child', { cpu: HUB_CPU });
  try {
    const r = await child.call<{ rate: number; cpuS: number; maxRssMB: number }>('run', o);
    return {
      scenario: '6 Node-RED path',
      setup: `c2d-send -> embedded hub -> c2d-receive (auto) -> sink; ack full -> c2d-feedback; 1 device, ${o.window} in flight, ${o.messages} msgs`,
      rate: r.rate,
      hubCpuS: r.cpuS,
      hubCpuUsPerMsg: (r.cpuS * 1e6) / o.messages,
      hubMaxRssMB: r.maxRssMB,
      note: 'the whole Node-RED process (runtime, nodes and hub) in one process; CPU and RSS are that process',
    };
  } finally {
    await child.stop();
  }
}

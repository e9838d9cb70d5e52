/**
 * Child process of crash.test: sends and settles against a file-backed Hub
 * until it is killed, printing one line per operation:
 *   SENT <id>        after send() resolved (the message is durable)
 *   COMPLETING <id>  before complete() is called (it may or may not land)
 *   COMPLETED <id>   after complete() resolved (it must never come back)
 * Usage: node crash-child.js <dataDir> <round> <FULL|NORMAL>
 */
import { Hub } from '../../lib/hub';
import type { StoreSynchronous } from '../../lib/hub/api';

const DEVICES = Array.from({ length: 8 }, (_, i) => `crash${i}`);

async function main(): Promise<void> {
  const [dataDir, round, synchronous] = process.argv.slice(2);
  if (!dataDir || !round || !synchronous) throw new Error('usage: crash-child <dataDir> <round> <FULL|NORMAL>');
  const hub = await Hub.open({ dataDir, synchronous: synchronous as StoreSynchronous }); // Hub.open checks the value
  for (const d of DEVICES) if (!hub.registry.getDevice(d)) await hub.registry.createDevice({ deviceId: d });
  const say = (line: string): void => {
    process.stdout.write(`${line}\n`);
  };
  let n = 0;
  const worker = async (w: number): Promise<void> => {
    for (;;) {
      const d = DEVICES[(w + n) % DEVICES.length]!;
      const id = `r${round}-w${w}-${n++}`;
      try {
        await hub.send(d, { body: Buffer.from(id), messageId: id });
        say(`SENT ${id}`);
      } catch (e) {
        if ((e as { code?: number }).code !== 403004) throw e;
      }
      // Settle about two of every three sends, so queues hold messages across crashes.
      if (n % 3 !== 0) {
        const m = await hub.receive(d);
        if (m) {
          say(`COMPLETING ${m.messageId}`);
          await hub.complete(d, m.lockToken);
          say(`COMPLETED ${m.messageId}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 6 }, (_, w) => worker(w)));
}

main().catch((e: unknown) => {
  process.stderr.write(`crash-child: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(2);
});

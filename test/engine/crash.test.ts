/**
 * Crash test: a child process sends and settles against a file-backed Hub
 * and prints every ACKNOWLEDGED operation; we SIGKILL it
 * at a random point, reopen the store and check that every acknowledged send
 * is still pending or was settled, and that nothing acknowledged as completed
 * came back. Repeated on the same dataDir (C2D_LONG=1 for more rounds), with
 * the store at synchronous FULL (the default) and at NORMAL, whose promise is
 * exactly this: no sync per commit, yet a crash of the process loses nothing
 * acknowledged (only a crash of the machine could).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { Hub } from '../../lib/hub';
import { STORE_SYNCHRONOUS, type StoreSynchronous } from '../../lib/hub/api';
import { removeDir, tempDir } from './helpers';

const ROUNDS = process.env.C2D_LONG === '1' ? 30 : 5;

/** Runs the child until it has printed `lines` acknowledgements, then SIGKILLs it. */
function runAndKill(dataDir: string, round: number, lines: number, synchronous: StoreSynchronous): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'crash-child.js'), dataDir, String(round), synchronous], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: string[] = [];
    let err = '';
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      out.push(line);
      if (out.length === lines) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve(out);
      else reject(new Error(`child exited ${code}: ${err}`));
    });
  });
}

for (const synchronous of STORE_SYNCHRONOUS) {
  describe(`crash safety (synchronous ${synchronous}): SIGKILL at random points loses no acknowledged send and resurrects no completed message`, function () {
    this.timeout(ROUNDS * 20_000);
    let dir: string;
    before(() => {
      dir = tempDir();
    });
    after(() => removeDir(dir));

    it(`survives ${ROUNDS} kills`, async () => {
      const sent = new Set<string>();
      const completing = new Set<string>();
      const completed = new Set<string>();
      for (let round = 0; round < ROUNDS; round++) {
        const lines = await runAndKill(dir, round, 20 + Math.floor(Math.random() * 400), synchronous);
        for (const line of lines) {
          const [what, id] = line.split(' ') as [string, string];
          if (what === 'SENT') sent.add(id);
          else if (what === 'COMPLETING') completing.add(id);
          else if (what === 'COMPLETED') completed.add(id);
        }
        const hub = await Hub.open({ dataDir: dir });
        try {
          const pending = new Set<string>();
          for (const d of hub.registry.listDevices()) for (const e of hub.queueOf(d.deviceId)!.messages) pending.add(e.message.messageId);
          for (const id of sent) assert.ok(pending.has(id) || completing.has(id), `acknowledged send ${id} was lost (round ${round})`);
          for (const id of completed) assert.ok(!pending.has(id), `completed message ${id} came back (round ${round})`);
          for (const id of pending) assert.ok(!completed.has(id));
        } finally {
          await hub.close();
        }
      }
      assert.ok(sent.size > 0 && completed.size > 0, 'the child did work');
    });
  });
}

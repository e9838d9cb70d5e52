import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../lib/common/clock';
import { Hub } from '../../lib/hub';
import { SqliteStore } from '../../lib/hub/engine/sqlite-store';
import { Scheduler } from '../../lib/hub/engine/scheduler';
import { body, codeOf, removeDir, tempDir } from './helpers';

/** A hub on a data folder with device dev1, and a second, read-only connection to its file. */
async function withHubAndReader(fn: (hub: Hub, reader: Database.Database) => Promise<void>, options: { lazyCommitMs?: number } = {}): Promise<void> {
  const dir = tempDir();
  const hub = await Hub.open({ dataDir: dir, clock: new ManualClock(), ...options });
  const reader = new Database(path.join(dir, 'hub.db'), { readonly: true });
  try {
    await hub.registry.createDevice({ deviceId: 'dev1' });
    await fn(hub, reader);
  } finally {
    reader.close();
    await hub.close();
    removeDir(dir);
  }
}

const policy = (n: number) => ({ t: 'putPolicy' as const, policy: { keyName: `p${n}`, primaryKey: 'a'.repeat(44), secondaryKey: 'b'.repeat(44), rights: [] } });

describe('SQLite store: group commit', () => {
  it('writes arriving in the same tick share one transaction, and each caller resolves after it', async () => {
    const store = new SqliteStore();
    await Promise.all([1, 2, 3].map((n) => store.write([policy(n)])));
    assert.equal(store.commits, 1);
    await store.write([policy(4)]);
    assert.equal(store.commits, 2);
    assert.equal(store.load().policies.length, 4);
    store.close();
  });

  it('a lazy write rides the next group someone waits on, and commits on its own when none comes', async () => {
    // A window far longer than the test, so that only the joining can commit the lazy write.
    const joining = new SqliteStore({ lazyCommitMs: 600_000 });
    let lazyDone = false;
    const lazy = joining.write([policy(1)], { lazy: true }).then(() => (lazyDone = true));
    await new Promise((r) => setImmediate(r));
    assert.equal(joining.commits, 0, 'a lazy write does not start a commit at the next turn');
    assert.equal(lazyDone, false);
    // A write someone waits on, a tick later: both go in its one transaction, in order.
    await joining.write([policy(2)]);
    assert.equal(joining.commits, 1);
    await lazy;
    assert.ok(lazyDone);
    assert.deepEqual(
      joining
        .load()
        .policies.map((p) => p.keyName)
        .sort(),
      ['p1', 'p2'],
    );
    // close() commits what is still waiting.
    const last = joining.write([policy(3)], { lazy: true });
    joining.close();
    await last;
    assert.equal(joining.commits, 2);
    // Alone, with the default window, it still commits and only then resolves.
    const store = new SqliteStore();
    await store.write([policy(4)], { lazy: true });
    assert.equal(store.commits, 1);
    assert.deepEqual(
      store.load().policies.map((p) => p.keyName),
      ['p4'],
    );
    store.close();
  });

  it("a lazy completion (an MQTT PUBACK) shares the next send's commit; any completion is durable when complete() resolves", () =>
    withHubAndReader(
      async (hub, reader) => {
        await hub.send('dev1', { body: body('a') });
        const m = await hub.receive('dev1');
        assert.ok(m);
        const before = hub.stats().commits;
        const completing = hub.complete('dev1', m.lockToken, { lazy: true });
        await new Promise((r) => setImmediate(r));
        assert.equal(hub.stats().commits, before, 'a lazy settlement does not commit on its own at the next turn');
        await Promise.all([completing, hub.send('dev1', { body: body('b') })]);
        assert.equal(hub.stats().commits - before, 1);
        const rows = reader.prepare('SELECT seq FROM messages').all() as { seq: number }[];
        assert.deepEqual(
          rows.map((r) => r.seq),
          [2],
        );
        // A completion with no send behind it: durable once complete() resolves.
        const m2 = await hub.receive('dev1');
        assert.ok(m2);
        await hub.complete('dev1', m2.lockToken);
        assert.equal((reader.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 0);
      },
      { lazyCommitMs: 600_000 },
    )); // only the send's commit can take the lazy completion

  it('a send resolves only once its row is committed (visible to another connection)', () =>
    withHubAndReader(async (hub, reader) => {
      const count = reader.prepare('SELECT count(*) AS n FROM messages');
      const sends = Array.from({ length: 10 }, (_, i) => hub.send('dev1', { body: body(String(i)) }));
      assert.equal((count.get() as { n: number }).n, 0, 'nothing is committed in the tick of the call');
      await Promise.all(sends);
      assert.equal((count.get() as { n: number }).n, 10);
    }));
});

describe('hub options', () => {
  it('refuses bad limits with 400004', async () => {
    assert.equal(await codeOf(Hub.open({ limits: { maxDeliveryCount: 0 } })), 400004);
    assert.equal(await codeOf(Hub.open({ limits: { feedbackLockMs: 1000 } })), 400004);
  });

  it('uses the given hub name', async () => {
    const hub = await Hub.open({ hubName: 'myhub.local' });
    assert.equal(hub.hubName, 'myhub.local');
    await hub.close();
  });
});

describe('one scheduler for every deadline', () => {
  it('runs keys in time order with a single clock timer, and stays bounded under lazy deletion', () => {
    const clock = new ManualClock(0);
    const fired: string[] = [];
    const s = new Scheduler(clock, (k) => fired.push(`${k}@${clock.now()}`));
    s.schedule('b', 200);
    s.schedule('a', 100);
    s.schedule('a', 150); // later than a's current time: no-op
    assert.equal(clock.pendingCount, 1);
    clock.advance(300);
    assert.deepEqual(fired, ['a@100', 'b@200']);
    for (let i = 0; i < 10_000; i++) s.schedule('k', 1_000_000 - i);
    assert.ok(s.size <= 64 + 2, `heap holds ${s.size} entries`);
    assert.equal(clock.pendingCount, 1);
    s.stop();
    assert.equal(clock.pendingCount, 0);
  });
});

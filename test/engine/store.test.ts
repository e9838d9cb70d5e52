import assert from 'node:assert/strict';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../lib/common/clock';
import { Hub } from '../../lib/hub';
import { SqliteStore } from '../../lib/hub/engine/sqlite-store';
import { Scheduler } from '../../lib/hub/engine/scheduler';
import { body, codeOf, removeDir, tempDir } from './helpers';

describe('SQLite store: group commit', () => {
  it('writes arriving in the same tick share one transaction, and each caller resolves after it', async () => {
    const store = new SqliteStore();
    const policy = (n: number) => ({ t: 'putPolicy' as const, policy: { keyName: `p${n}`, primaryKey: 'a'.repeat(44), secondaryKey: 'b'.repeat(44), rights: [] } });
    await Promise.all([1, 2, 3].map((n) => store.write([policy(n)])));
    assert.equal(store.commits, 1);
    await store.write([policy(4)]);
    assert.equal(store.commits, 2);
    assert.equal(store.load().policies.length, 4);
    store.close();
  });

  it('a send resolves only once its row is committed (visible to another connection)', async () => {
    const dir = tempDir();
    const hub = await Hub.open({ dataDir: dir, clock: new ManualClock() });
    const reader = new Database(path.join(dir, 'hub.db'), { readonly: true });
    try {
      await hub.registry.createDevice({ deviceId: 'dev1' });
      const count = reader.prepare('SELECT count(*) AS n FROM messages');
      const sends = Array.from({ length: 10 }, (_, i) => hub.send('dev1', { body: body(String(i)) }));
      assert.equal((count.get() as { n: number }).n, 0, 'nothing is committed in the tick of the call');
      await Promise.all(sends);
      assert.equal((count.get() as { n: number }).n, 10);
    } finally {
      reader.close();
      await hub.close();
      removeDir(dir);
    }
  });
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

/**
 * Whether the sender set `ack` is kept with the message, so a delivery
 * carries `iothub-ack` only then (IoT Hub's rule) while the feedback rules
 * keep using the effective ack (`none` when unset). The store needs no new
 * column: the flag travels in each row's meta JSON, so a database written
 * before the flag existed opens unchanged.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../lib/common/clock';
import { deliveredAck } from '../../lib/common/message';
import { Hub } from '../../lib/hub';
import { body, mustReceive, removeDir, tempDir } from './helpers';

describe('a message knows whether its sender set ack', () => {
  let dir: string;
  const hubs: Hub[] = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const h of hubs.splice(0)) await h.close();
    removeDir(dir);
  });
  const open = async (clock = new ManualClock()): Promise<Hub> => {
    const h = await Hub.open({ dataDir: dir, clock });
    hubs.push(h);
    return h;
  };

  it('unset: effective ack none, nothing delivered; set (even to none): delivered as set, and this survives a restart', async () => {
    let hub = await open();
    await hub.registry.createDevice({ deviceId: 'dev1' });
    await hub.send('dev1', { body: body('a'), messageId: 'unset' });
    await hub.send('dev1', { body: body('b'), messageId: 'none', ack: 'none' });
    await hub.send('dev1', { body: body('c'), messageId: 'full', ack: 'full' });
    await hub.close();
    hubs.length = 0;
    hub = await open();
    const got = [await mustReceive(hub), await mustReceive(hub), await mustReceive(hub)];
    assert.deepEqual(
      got.map((m) => [m.messageId, m.ack, deliveredAck(m)]),
      [
        ['unset', 'none', undefined],
        ['none', 'none', 'none'],
        ['full', 'full', 'full'],
      ],
    );
  });

  it('opens a database written before the flag existed: a stored none is not delivered, any other mode is', async () => {
    let hub = await open();
    await hub.registry.createDevice({ deviceId: 'dev1' });
    await hub.send('dev1', { body: body('a'), messageId: 'old-none', ack: 'none' });
    await hub.send('dev1', { body: body('b'), messageId: 'old-positive', ack: 'positive' });
    await hub.close();
    hubs.length = 0;
    // Rewrite the rows as the previous version stored them: meta without ackSetBySender.
    const db = new Database(path.join(dir, 'hub.db'));
    for (const r of db.prepare('SELECT device_id, seq, meta FROM messages').all() as { device_id: string; seq: number; meta: string }[]) {
      const meta = JSON.parse(r.meta) as Record<string, unknown>;
      assert.equal(meta.ackSetBySender, true, 'the flag is stored in the row meta');
      delete meta.ackSetBySender;
      db.prepare('UPDATE messages SET meta = ? WHERE device_id = ? AND seq = ?').run(JSON.stringify(meta), r.device_id, r.seq);
    }
    db.close();
    hub = await open();
    const got = [await mustReceive(hub), await mustReceive(hub)];
    assert.deepEqual(
      got.map((m) => [m.messageId, m.ack, deliveredAck(m)]),
      [
        ['old-none', 'none', undefined],
        ['old-positive', 'positive', 'positive'],
      ],
    );
  });
});

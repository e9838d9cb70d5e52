import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/common/clock';
import { Hub } from '../../lib/hub';
import { body, codeOf, drainFeedback, mustReceive, removeDir, tempDir } from './helpers';

/**
 * After a restart the hub reads each device's queue from disk when the queue
 * is first touched, or in a background pass (device-queues.ts). The rules must
 * not be able to tell: every operation sees the whole queue, deadlines that
 * passed while the hub was down apply, and nothing is lost or doubled.
 */
describe('lazy recovery: queues read back on first touch or in the background', () => {
  let dir: string;
  const hubs: Hub[] = [];
  beforeEach(() => {
    dir = tempDir();
  });
  afterEach(async () => {
    for (const h of hubs.splice(0)) await h.close();
    removeDir(dir);
  });
  const open = async (clock: ManualClock): Promise<Hub> => {
    const h = await Hub.open({ dataDir: dir, clock });
    hubs.push(h);
    return h;
  };
  const fill = async (hub: Hub, devices: number, perDevice: number, ttlMs?: number): Promise<void> => {
    for (let d = 0; d < devices; d++) await hub.registry.createDevice({ deviceId: `d${d}` });
    for (let k = 0; k < perDevice; k++) {
      await Promise.all(
        Array.from({ length: devices }, (_, d) =>
          hub.send(`d${d}`, { body: body(`${d}-${k}`), messageId: `${d}-${k}`, ack: 'full', ...(ttlMs ? { expiryTimeUtc: hub_now(hub) + ttlMs } : {}) }),
        ),
      );
    }
  };
  let clockRef: ManualClock;
  const hub_now = (_: Hub): number => clockRef.now();

  it('a full queue on disk refuses a send right after the restart, and sequence numbers go on', async () => {
    const clock = (clockRef = new ManualClock());
    let hub = await open(clock);
    await fill(hub, 3, 50);
    await hub.close();
    hub = await open(clock);
    assert.equal(await codeOf(hub.send('d1', { body: body('x') })), 403004);
    await hub.complete('d2', (await mustReceive(hub, 'd2')).lockToken);
    assert.equal((await hub.send('d2', { body: body('y') })).sequenceNumber, 51);
  });

  it('counts and hands out every message exactly once, in order, whichever way each queue was loaded', async () => {
    const clock = (clockRef = new ManualClock());
    let hub = await open(clock);
    await fill(hub, 120, 3);
    await hub.close();
    hub = await open(clock);
    // One device touched at once, the others left to the background pass or to stats().
    assert.deepEqual((await mustReceive(hub, 'd7')).messageId, '7-0');
    assert.deepEqual(
      { ...hub.stats(), feedbackBatches: undefined, commits: undefined },
      {
        devices: 120,
        connectedDevices: 0,
        queued: 359,
        locked: 1,
        deadLetters: 0,
        feedbackPending: 0,
        feedbackBatches: undefined,
        commits: undefined,
        synchronous: 'FULL',
      },
    );
    for (const d of [0, 60, 119]) {
      const got: string[] = [];
      for (let k = 0; k < 3; k++) {
        const m = await mustReceive(hub, `d${d}`);
        got.push(m.messageId);
        await hub.complete(`d${d}`, m.lockToken);
      }
      assert.deepEqual(got, [`${d}-0`, `${d}-1`, `${d}-2`]);
      assert.equal(await hub.receive(`d${d}`), null);
    }
  });

  it('dead-letters in the background what expired while the hub was down, with Expired feedback', async () => {
    const clock = (clockRef = new ManualClock());
    let hub = await open(clock);
    await fill(hub, 200, 1, 60_000);
    await hub.close();
    clock.advance(120_000);
    hub = await open(clock);
    // Nobody touches a queue: the background pass must find all 200.
    let expired = 0;
    await new Promise<void>((resolve) => {
      hub.events.on('deadLettered', (e) => {
        if (e.reason === 'Expired' && ++expired === 200) resolve();
      });
    });
    await hub.flushFeedback();
    const records = await drainFeedback(hub);
    assert.equal(records.length, 200);
    assert.ok(records.every((r) => r.statusCode === 'Expired'));
    assert.equal(hub.stats().queued, 0);
  });
});

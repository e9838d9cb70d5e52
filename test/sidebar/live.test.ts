/**
 * The sidebar's live view of a hub (nodes/sidebar/live.ts) on a real hub
 * with an injected clock: updates only while an editor watches, at most one
 * per 250 ms with the first change out at once, every complete second of
 * traffic reported, changed devices named (or "many"), and the rate history.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/common/clock';
import { LiveHub, type LiveUpdate } from '../../nodes/sidebar/live';
import { body, mustReceive, openTestHub, type TestHub } from '../engine/helpers';

describe('sidebar live updates (one hub, injected clock)', () => {
  let t: TestHub;
  let live: LiveHub;
  let updates: Array<LiveUpdate & { clock: number }>;

  async function open(options: ConstructorParameters<typeof LiveHub>[2] = {}): Promise<void> {
    t = await openTestHub({}, { clock: new ManualClock(Date.UTC(2026, 0, 1, 0, 0, 0, 100)) });
    updates = [];
    live = new LiveHub(t.hub, (u) => updates.push({ ...u, clock: t.clock.now() }), { clock: t.clock, ...options });
  }

  afterEach(async () => {
    live?.close();
    await t?.hub.close();
  });

  /** Sends n messages; their events are out, and whatever is due now has run (a timer due now, on the system clock, is the next turn of the loop). */
  async function send(n: number, deviceId = 'dev1'): Promise<void> {
    for (let i = 0; i < n; i++) await t.hub.send(deviceId, { body: body(`m${i}`) });
    await t.hub.idle();
    t.clock.advance(0);
  }

  it('sends nothing while no editor watches, and stops once the lease is over', async () => {
    await open({ leaseMs: 60_000 });
    await send(3);
    t.clock.advance(5_000);
    assert.equal(updates.length, 0, 'nobody watches yet');
    live.watch();
    await send(1);
    assert.equal(updates.length, 1);
    t.clock.advance(61_000);
    updates.length = 0;
    await send(2);
    t.clock.advance(5_000);
    assert.deepEqual(updates, [], 'the lease ended');
  });

  it('sends the first change at once, then at most one update per 250 ms, and the last change within 250 ms', async () => {
    await open();
    live.watch();
    await send(1);
    assert.equal(updates.length, 1, 'the first change goes out at once');
    const first = updates[0]!.clock;
    // A burst: a change every 10 ms for 2 s (each message taken and completed, so the queue never fills).
    for (let i = 0; i < 200; i++) {
      t.clock.advance(10);
      await send(1);
      await t.hub.complete('dev1', (await mustReceive(t.hub)).lockToken);
    }
    const lastChange = t.clock.now();
    t.clock.advance(250);
    const times = updates.map((u) => u.clock);
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 250, `updates ${times[i - 1]} and ${times[i]} are closer than 250 ms`);
    assert.ok(times.length <= Math.floor((lastChange + 250 - first) / 250) + 1, `${times.length} updates in ${lastChange + 250 - first} ms`);
    assert.ok(times[times.length - 1]! >= lastChange && times[times.length - 1]! <= lastChange + 250, 'the last change went out within 250 ms');
    const n = updates.length;
    t.clock.advance(5_000);
    // Quiet: at most the report of the last second with traffic, once it has ended; then nothing.
    assert.ok(updates.length <= n + 1);
    if (updates.length === n + 1) assert.equal(updates[n]!.clock % 1000, 0, "a second's report comes as it ends");
    const m = updates.length;
    t.clock.advance(5_000);
    assert.equal(updates.length, m, 'quiet: no more updates');
  });

  it('counts messages in (enqueued) and out (delivered) per second, and reports each second with traffic once it has ended', async () => {
    await open();
    live.watch();
    const start = Math.floor(t.clock.now() / 1000);
    await send(3);
    await mustReceive(t.hub);
    await mustReceive(t.hub);
    t.clock.advance(1_000);
    await send(1);
    t.clock.advance(1_000);
    const last = updates[updates.length - 1]!;
    assert.equal(last.rates.endSecond, start + 1, 'the update after second start+1 ended reports it');
    assert.deepEqual(last.rates.in.slice(-2), [3, 1]);
    assert.deepEqual(last.rates.out.slice(-2), [2, 0]);
    const history = live.rates(300, t.clock.now());
    assert.equal(history.in.length, 300);
    assert.equal(
      history.in.reduce((a, b) => a + b, 0),
      4,
    );
    assert.equal(
      history.out.reduce((a, b) => a + b, 0),
      2,
    );
    // Five minutes later the counts have left the window.
    t.clock.advance(301_000);
    assert.equal(
      live.rates(300).in.reduce((a, b) => a + b, 0),
      0,
    );
  });

  it('names the devices that changed, and says "many" (null) beyond maxChangedDevices', async () => {
    await open({ maxChangedDevices: 3 });
    for (const id of ['a', 'b', 'c', 'd', 'e']) await t.hub.registry.createDevice({ deviceId: id });
    await t.hub.idle();
    live.watch();
    await send(1, 'a');
    assert.deepEqual(updates.pop()!.changed, ['a']);
    t.clock.advance(10);
    await send(1, 'b');
    await send(1, 'c');
    t.clock.advance(250);
    assert.deepEqual([...updates.pop()!.changed!].sort(), ['b', 'c']);
    t.clock.advance(10);
    for (const id of ['a', 'b', 'c', 'd']) await send(1, id);
    t.clock.advance(250);
    assert.equal(updates.pop()!.changed, null);
  });

  it("keeps each device's last activity, and forgets a deleted device", async () => {
    await open();
    await send(1);
    const at = t.clock.now();
    assert.equal(live.lastActivity('dev1'), at);
    t.clock.advance(1_000);
    await t.hub.registry.deleteDevice('dev1');
    await t.hub.idle();
    assert.equal(live.lastActivity('dev1'), undefined);
  });
});

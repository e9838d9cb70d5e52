/**
 * The parts of aedes the hub takes over (aedes-client.ts), on a real aedes broker and a
 * real mqemitter: what they must still do, since the delivery tests only see behaviour that
 * would look the same with aedes' own indexes in place.
 */
import assert from 'node:assert/strict';
import { deviceBoundFilter } from '../../lib/common/codec/mqtt';
import { emitterWithoutDeviceBound, takeOverOutgoing, takeOverSubscriptions, type Aedes } from '../../lib/hub/mqtt/aedes-client';

/** Resolves with whether `listener` ran for a message on `topic` once mqemitter has delivered it. */
function emitReaches(mq: ReturnType<typeof emitterWithoutDeviceBound>, topic: string, ran: () => boolean): Promise<boolean> {
  return new Promise((resolve, reject) => mq.emit({ topic }, (e?: Error) => (e ? reject(e) : resolve(ran()))));
}

describe('aedes takeovers (aedes-client.ts)', () => {
  it('the emitter leaves device-bound filters out and indexes every other filter', async () => {
    const mq = emitterWithoutDeviceBound();
    let c2d = false;
    let sys = false;
    await new Promise<void>((resolve) => mq.on(deviceBoundFilter('d1'), (_m, done) => { c2d = true; done(); }, resolve));
    await new Promise<void>((resolve) => mq.on('$SYS/+/new/clients', (_m, done) => { sys = true; done(); }, resolve));
    assert.equal(await emitReaches(mq, 'devices/d1/messages/devicebound/%24.mid=1', () => c2d), false);
    assert.equal(await emitReaches(mq, '$SYS/b1/new/clients', () => sys), true);
    // Removing a filter that was never indexed calls back as mqemitter does.
    await new Promise<void>((resolve) => mq.removeListener(deviceBoundFilter('d1'), () => undefined, resolve));
    await new Promise<void>((resolve) => mq.close(resolve));
  });

  describe('the clean=false subscription store', () => {
    let broker: Aedes;
    let store: {
      addSubscriptions(c: { id: string }, subs: { topic: string; qos: number }[]): Promise<void>;
      removeSubscriptions(c: { id: string }, topics: string[]): Promise<void>;
      subscriptionsByClient(c: { id: string }): Promise<{ topic: string; qos: number }[]>;
      cleanSubscriptions(c: { id: string }): Promise<void>;
      countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
      getClientList(topic: string): AsyncIterable<string>;
    };
    beforeEach(async () => {
      const { Aedes } = await import('aedes');
      broker = await Aedes.createBroker({ mq: emitterWithoutDeviceBound() });
      takeOverOutgoing(broker, () => undefined);
      takeOverSubscriptions(broker);
      store = (broker as unknown as { persistence: typeof store }).persistence;
    });
    afterEach(async () => {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
    });

    const list = async (topic: string): Promise<string[]> => {
      const ids: string[] = [];
      for await (const id of store.getClientList(topic)) ids.push(id);
      return ids;
    };

    it('keeps one record per filter (a later SUBSCRIBE replaces it), per client id', async () => {
      const a = { id: 'a' };
      await store.addSubscriptions(a, [{ topic: deviceBoundFilter('a'), qos: 1 }]);
      await store.addSubscriptions(a, [{ topic: deviceBoundFilter('a'), qos: 0 }, { topic: 'other/#', qos: 1 }]);
      await store.addSubscriptions({ id: 'b' }, [{ topic: deviceBoundFilter('b'), qos: 1 }]);
      assert.deepEqual((await store.subscriptionsByClient(a)).map((s) => [s.topic, s.qos]), [[deviceBoundFilter('a'), 0], ['other/#', 1]]);
      assert.deepEqual(await store.countOffline(), { subsCount: 2, clientsCount: 2 });
      assert.deepEqual(await list('other/#'), ['a']);
      // What it returns is a copy: aedes may change it without changing the session.
      (await store.subscriptionsByClient(a))[0]!.qos = 1;
      assert.equal((await store.subscriptionsByClient(a))[0]!.qos, 0);
    });

    it('UNSUBSCRIBE removes a filter, the last one the client; clean=true removes them all', async () => {
      const a = { id: 'a' };
      await store.addSubscriptions(a, [{ topic: 'x/#', qos: 1 }, { topic: 'y/#', qos: 1 }]);
      await store.removeSubscriptions(a, ['x/#']);
      assert.deepEqual((await store.subscriptionsByClient(a)).map((s) => s.topic), ['y/#']);
      await store.removeSubscriptions(a, ['y/#']);
      assert.deepEqual(await store.countOffline(), { subsCount: 0, clientsCount: 0 });
      await store.addSubscriptions(a, [{ topic: 'x/#', qos: 1 }]);
      await store.cleanSubscriptions(a);
      assert.deepEqual(await store.subscriptionsByClient(a), []);
    });
  });
});

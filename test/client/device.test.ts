/**
 * DeviceClient against the embedded hub over real TLS sockets, for every
 * transport: callback and polling receive, complete / reject / abandon,
 * 412002 after the lock was lost, MQTT's clear refusal of reject/abandon,
 * status events, a wrong key.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { DeviceClient } from '../../lib/client/device-client';
import { DEVICE_TRANSPORTS, type DeviceTransport } from '../../lib/client/types';
import { C2DError } from '../../lib/common/errors';
import type { ReceivedMessage } from '../../lib/common/message';
import { NoRetry } from '../../lib/common/retry';
import { generateKey } from '../../lib/common/sas';
import { Rig } from './rig';

let rigRef: Rig;
/** Messages still queued or locked for one device. */
function pending(id: string): number {
  return rigRef.hub.registry.getDevice(id)?.cloudToDeviceMessageCount ?? -1;
}

function nextMessage(client: DeviceClient): Promise<ReceivedMessage> {
  return new Promise((resolve) => client.once('message', resolve));
}

async function until(cond: () => boolean, what: string, events: NodeJS.EventEmitter, event: string): Promise<void> {
  while (!cond()) {
    const t = setTimeout(() => undefined, 5000);
    try {
      await once(events, event);
    } finally {
      clearTimeout(t);
    }
  }
  void what;
}

describe('DeviceClient (network, every transport)', function () {
  this.timeout(20_000);
  let rig: Rig;
  const clients: DeviceClient[] = [];
  before(async () => {
    rig = await Rig.start();
    rigRef = rig;
  });
  after(async () => {
    await rig.close();
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
  });

  async function device(id: string, transport: DeviceTransport): Promise<DeviceClient> {
    const cs = await rig.deviceConnectionString(id, transport);
    const c = DeviceClient.fromConnectionString(cs, { transport, ca: rig.tls.cert, retryPolicy: new NoRetry(), httpPollIntervalMs: 50 });
    clients.push(c);
    return c;
  }

  for (const transport of DEVICE_TRANSPORTS) {
    describe(transport, () => {
      const mqtt = transport.startsWith('mqtt');

      it('reports connected on open and disconnected (closed-by-client) on close', async () => {
        const c = await device(`st-${transport}`, transport);
        const connected = once(c, 'connected');
        await c.open();
        assert.deepEqual((await connected)[0], { reason: 'connected' });
        assert.equal(c.connected, true);
        const disconnected = once(c, 'disconnected');
        await c.close();
        assert.equal(((await disconnected)[0] as { reason: string }).reason, 'closed-by-client');
      });

      it('delivers a message to a message listener with its properties, and complete removes it', async () => {
        const id = `cb-${transport}`;
        const c = await device(id, transport);
        await c.open();
        const got = nextMessage(c);
        await rig.hub.send(id, { body: Buffer.from('hello'), messageId: 'm1', correlationId: 'c1', ack: 'full', properties: { color: 'red' } });
        const m = await got;
        assert.equal(m.body.toString(), 'hello');
        assert.equal(m.messageId, 'm1');
        assert.equal(m.correlationId, 'c1');
        assert.equal(m.properties.color, 'red');
        assert.equal(m.deviceId, id);
        assert.ok(m.lockToken);
        assert.ok(m.expiryTimeUtc > Date.now() - 1000);
        if (!mqtt) assert.equal(m.ack, 'full');
        const completed = once(rig.hub.events, 'completed');
        await c.complete(m);
        assert.equal(((await completed)[0] as { messageId: string }).messageId, 'm1');
        assert.equal(pending(id), 0);
      });

      it('receive() polls one message, or null when none comes', async () => {
        const id = `poll-${transport}`;
        const c = await device(id, transport);
        await c.open();
        assert.equal(await c.receive({ timeoutMs: 200 }), null);
        await rig.hub.send(id, { body: Buffer.from('p1'), messageId: 'p1' });
        const m = await c.receive({ timeoutMs: 5000 });
        assert.equal(m?.messageId, 'p1');
        if (!mqtt) {
          assert.equal(m?.deliveryCount, 0);
          assert.ok((m?.enqueuedTimeUtc ?? 0) > 0);
        }
        await c.complete(m as ReceivedMessage);
      });

      if (mqtt) {
        it('reject and abandon fail with 405001 OperationNotSupported naming MQTT', async () => {
          const id = `nr-${transport}`;
          const c = await device(id, transport);
          await c.open();
          await rig.hub.send(id, { body: Buffer.from('x'), messageId: 'x' });
          const m = await c.receive({ timeoutMs: 5000 });
          for (const op of ['reject', 'abandon'] as const) {
            await assert.rejects(c[op](m as ReceivedMessage), (e: C2DError) => e.code === 405001 && /not supported over MQTT/.test(e.message));
          }
          await c.complete(m as ReceivedMessage);
        });

        it('PUBACKs only on complete(): an unsettled message stays locked', async () => {
          const id = `manual-${transport}`;
          const c = await device(id, transport);
          await c.open();
          const got = nextMessage(c);
          await rig.hub.send(id, { body: Buffer.from('x'), messageId: 'held' });
          const m = await got;
          // Round trip a second message so any automatic PUBACK would have reached the hub.
          const second = nextMessage(c);
          await rig.hub.send(id, { body: Buffer.from('y'), messageId: 'second' });
          await second;
          assert.equal(rig.hub.stats().locked, 2, 'both still locked');
          const completed = once(rig.hub.events, 'completed');
          await c.complete(m);
          await completed;
          assert.equal(rig.hub.stats().locked, 1);
        });
      } else {
        it('reject dead-letters, abandon puts back with delivery count + 1', async () => {
          const id = `ra-${transport}`;
          const c = await device(id, transport);
          await c.open();
          await rig.hub.send(id, { body: Buffer.from('a'), messageId: 'a' });
          const m1 = await c.receive({ timeoutMs: 5000 });
          const abandoned = once(rig.hub.events, 'abandoned');
          await c.abandon(m1 as ReceivedMessage);
          await abandoned;
          const m2 = await c.receive({ timeoutMs: 5000 });
          assert.equal(m2?.messageId, 'a');
          assert.equal(m2?.deliveryCount, 1);
          const rejected = once(rig.hub.events, 'rejected');
          await c.reject(m2 as ReceivedMessage);
          await rejected;
          assert.equal(pending(id), 0);
        });

        it('settling after the lock expired fails with 412002', async () => {
          const id = `lost-${transport}`;
          const c = await device(id, transport);
          await c.open();
          await rig.hub.send(id, { body: Buffer.from('l'), messageId: 'l' });
          const m = await c.receive({ timeoutMs: 5000 });
          rig.clock.advance(rig.hub.limits.lockTimeoutMs + 1);
          await assert.rejects(c.complete(m as ReceivedMessage), (e: C2DError) => e.code === 412002);
          await rig.hub.purge(id);
        });
      }

      if (transport.startsWith('amqp')) {
        it("a message left unsettled past its lock does not hold the session: the device keeps receiving past rhea's 2,048-delivery ring", async function () {
          // rhea frees a session's deliveries in order, once both sides settled them. The hub
          // settles its side of a delivery whose lock it lost (412002), so the one message this
          // device never settles does not keep the next 2,100 in memory and then end the connection.
          this.timeout(120_000);
          const id = `ring-${transport}`;
          const c = await device(id, transport);
          let disconnected = false;
          c.on('disconnected', () => (disconnected = true));
          await c.open();
          await rig.hub.send(id, { body: Buffer.from('never settled'), messageId: 'kept' });
          const kept = await c.receive({ timeoutMs: 5000 });
          assert.equal(kept?.messageId, 'kept');
          const expired = once(rig.hub.events, 'lockExpired');
          rig.clock.advance(rig.hub.limits.lockTimeoutMs + 1);
          await expired;
          const again = await c.receive({ timeoutMs: 5000 });
          assert.equal(again?.messageId, 'kept');
          await c.complete(again as ReceivedMessage);
          const total = 2100;
          let completed = 0;
          const done = new Promise<void>((resolve, reject) => {
            c.on('message', (m: ReceivedMessage) => {
              c.complete(m).then(() => {
                if (++completed === total) resolve();
              }, reject);
            });
          });
          for (let sent = 0; sent < total;) {
            while (sent < total && sent - completed < 40) await rig.hub.send(id, { body: Buffer.from(String(sent)), messageId: `r${sent++}` });
            await Promise.race([once(rig.hub.events, 'completed'), done]);
          }
          await done;
          assert.equal(disconnected, false, 'the connection stayed up');
          assert.equal(pending(id), 0);
          await assert.rejects(c.complete(kept as ReceivedMessage), (e: C2DError) => e.code === 412002);
        });

        for (const order of [
          ['reject', 'complete'],
          ['complete', 'reject'],
        ] as const) {
          it(`two messages settled in the same tick (${order.join(', then ')}) each get their own outcome at the hub`, async () => {
            // rhea sends dispositions in ranges; it once merged these two into one range with the first's state.
            const id = `tick-${order[0]}-${transport}`;
            const c = await device(id, transport);
            const got: ReceivedMessage[] = [];
            const both = new Promise<void>((resolve) =>
              c.on('message', (m: ReceivedMessage) => {
                got.push(m);
                if (got.length === 2) resolve();
              }),
            );
            await c.open();
            const outcomes = new Map<string, string>();
            const track = (name: 'rejected' | 'completed') => (e: { deviceId: string; messageId: string }) => {
              if (e.deviceId === id) outcomes.set(e.messageId, name);
            };
            rig.hub.events.on('rejected', track('rejected'));
            rig.hub.events.on('completed', track('completed'));
            await rig.hub.send(id, { body: Buffer.from('1'), messageId: 'first' });
            await rig.hub.send(id, { body: Buffer.from('2'), messageId: 'second' });
            await both;
            const [m1, m2] = got as [ReceivedMessage, ReceivedMessage];
            await Promise.all([c[order[0]](m1), c[order[1]](m2)]);
            await rig.hub.idle();
            const past = (s: string): string => (s === 'reject' ? 'rejected' : 'completed');
            assert.deepEqual(Object.fromEntries(outcomes), { [m1.messageId!]: past(order[0]), [m2.messageId!]: past(order[1]) });
            assert.equal(pending(id), 0);
          });
        }

        it('receives and completes more messages on one connection than an AMQP session holds (2048), never reconnecting', async () => {
          // rcv-settle-mode second: the hub settles after the device's outcome and the device
          // answers nothing more; the hub must still let go of the delivery.
          const id = `many-${transport}`;
          const c = await device(id, transport);
          const total = 2200;
          let drops = 0;
          let completed = 0;
          const settleErrors: unknown[] = [];
          let finish: () => void = () => undefined;
          const done = new Promise<void>((resolve) => (finish = resolve));
          c.on('disconnected', () => {
            drops++;
            finish();
          });
          c.on('message', (m: ReceivedMessage) => {
            c.complete(m).then(
              () => {
                if (++completed === total) finish();
              },
              (e: unknown) => {
                settleErrors.push(e);
                finish();
              },
            );
          });
          await c.open();
          const depth = rig.hub.limits.maxQueueDepth;
          let stop = false;
          void done.then(() => (stop = true));
          for (let sent = 0; sent < total && !stop;) {
            while (sent < total && pending(id) < depth) {
              await rig.hub.send(id, { body: Buffer.from(String(sent)) });
              sent++;
            }
            await Promise.race([once(rig.hub.events, 'completed'), done]);
          }
          await done;
          assert.deepEqual({ completed, drops, settleErrors: settleErrors.map(String) }, { completed: total, drops: 0, settleErrors: [] });
        });
      }

      it('a wrong key: disconnected with reason bad-credential, no retry', async () => {
        const id = `bad-${transport}`;
        await rig.addDevice(id);
        const cs = await rig.deviceConnectionString(id, transport, generateKey());
        // Default retry policy: an unauthorized error must still stop at once.
        const c = DeviceClient.fromConnectionString(cs, { transport, ca: rig.tls.cert });
        clients.push(c);
        let retrying = 0;
        c.on('disconnected_retrying', () => retrying++);
        const disconnected = once(c, 'disconnected');
        await assert.rejects(c.open(), (e: C2DError) => e.code === 401003);
        const status = (await disconnected)[0] as { reason: string; cause: Error };
        assert.equal(status.reason, 'bad-credential');
        assert.ok(status.cause);
        assert.equal(retrying, 0);
      });
    });
  }
  void until;
});

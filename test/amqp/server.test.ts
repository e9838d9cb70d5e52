/**
 * The hub's AMQP server against the real Hub, driven by rhea clients over
 * loopback TCP (c2d-semantics.md §1.3, §2, §4, §5.1; sdk-wire.md §2, §5).
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { message as rheaMessage, types as rheaTypes, type Delivery, type EventContext, type Message, type Receiver } from 'rhea';
import { FEEDBACK_CONTENT_TYPE } from '../../lib/common/message';
import { encodeServiceSend } from '../../lib/common/codec/amqp';
import { Client, closeError, nextMessage, outcomeOf, settle, startRig, type Rig } from './helpers';

describe('AMQP server', function () {
  let rig: Rig;
  beforeEach(async () => {
    rig = await startRig();
    await rig.hub.registry.createDevice({ deviceId: 'dev1' });
    await rig.hub.registry.createDevice({ deviceId: 'dev2' });
  });
  afterEach(async () => rig.close());

  async function service(): Promise<Client> {
    const c = await rig.connect();
    assert.equal((await c.putToken(rig.policyToken(), 'localhost')).status, 200);
    return c;
  }

  async function device(id = 'dev1'): Promise<Client> {
    const c = await rig.connect();
    assert.equal((await c.putToken(rig.deviceToken(id), encodeURIComponent(`localhost/devices/${id}`))).status, 200);
    return c;
  }

  /** Sends on /messages/devicebound and resolves the disposition. */
  async function send(
    c: Client,
    deviceId: string,
    m: Parameters<typeof encodeServiceSend>[1],
  ): Promise<{ outcome: string; error?: { condition: string; description: string } }> {
    const sender = (c as unknown as { svc?: Awaited<ReturnType<Client['attachSender']>> }).svc ?? (await c.attachSender('/messages/devicebound'));
    (c as unknown as { svc: typeof sender }).svc = sender;
    const d = sender.send(encodeServiceSend(deviceId, m) as Message);
    const { outcome, ctx } = await outcomeOf(sender, d.id);
    return { outcome, error: (ctx.delivery?.remote_state as { error?: { condition: string; description: string } } | undefined)?.error };
  }

  describe('CBS put-token', () => {
    it('answers a device token and a policy token with status-code 200 as a number, correlated by message-id', async () => {
      const d = await rig.connect();
      const r = await d.putToken(rig.deviceToken('dev1'), 'localhost%2Fdevices%2Fdev1');
      assert.equal(r.status, 200);
      assert.equal(typeof r.status, 'number');
      const s = await rig.connect();
      assert.equal((await s.putToken(rig.policyToken(), 'localhost')).status, 200);
      // C# service audience form.
      assert.equal((await s.putToken(rig.policyToken(), 'amqps://localhost:5671/')).status, 200);
    });

    it('answers a bad token with status-code 401 and a description naming 401003', async () => {
      const c = await rig.connect();
      const bad = rig.deviceToken('dev1').replace(/sig=[^&]+/, 'sig=AAAA');
      const r = await c.putToken(bad, 'localhost%2Fdevices%2Fdev1');
      assert.equal(r.status, 401);
      assert.match(String(r.description), /401003/);
      assert.equal((await c.putToken(rig.deviceToken('dev1'), 'localhost%2Fdevices%2Fdev2')).status, 401, 'token for another audience');
      assert.equal((await c.putToken('Bearer eyJ.x.y', 'localhost')).status, 401, 'no bearer verifier configured');
    });
  });

  describe('service send -> device receive', () => {
    it('delivers every property, unsettled, with the lock token as the 16-byte delivery tag and the hub annotations', async () => {
      const s = await service();
      const d = await device();
      const r = await d.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 10 });
      const got = nextMessage(r);
      const expiry = rig.clock.now() + 600_000;
      assert.equal(
        (
          await send(s, 'dev1', {
            body: Buffer.from('hello'),
            messageId: 'm1',
            correlationId: 'c1',
            userId: 'me',
            expiryTimeUtc: expiry,
            ack: 'full',
            contentType: 'text/plain',
            contentEncoding: 'utf-8',
            properties: { color: 'red' },
          })
        ).outcome,
        'accepted',
      );
      const { message: m, delivery } = await got;
      assert.ok(m && delivery);
      assert.equal(m.to, '/devices/dev1/messages/devicebound');
      assert.equal(m.message_id, 'm1');
      assert.equal(m.correlation_id, 'c1');
      assert.equal(Buffer.from(m.user_id as unknown as Buffer).toString(), 'me');
      assert.equal(new Date(m.absolute_expiry_time as Date).getTime(), expiry);
      assert.equal(m.content_type, 'text/plain');
      assert.equal(m.content_encoding, 'utf-8');
      assert.deepEqual(m.application_properties, { color: 'red', 'iothub-ack': 'full' });
      assert.equal((m.body as { typecode: number }).typecode, 0x75, 'body is a data section');
      assert.equal((m.body as { content: Buffer }).content.toString(), 'hello');
      assert.equal(m.message_annotations?.['x-opt-sequence-number'], 1);
      assert.equal(m.message_annotations?.['iothub-deliverycount'], 0);
      assert.ok(m.message_annotations?.['iothub-enqueuedtime'] instanceof Date);
      assert.equal((delivery.tag as Buffer).length, 16);
      assert.equal(delivery.remote_settled, false, 'sent unsettled');
      settle(delivery, 'accepted');
    });

    it('keeps a uuid message-id a uuid on the device link', async () => {
      const s = await service();
      const d = await device();
      const r = await d.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 10 });
      const got = nextMessage(r);
      const sender = await s.attachSender('/messages/devicebound');
      const id = Buffer.from('0f8fad5bd9cb469fa16570867728950e', 'hex');
      sender.send({
        to: '/devices/dev1/messages/devicebound',
        message_id: rheaTypes.wrap_uuid(id),
        body: rheaMessage.data_section(Buffer.from('x')),
      } as unknown as Message);
      const { message: m } = await got;
      assert.ok(Buffer.isBuffer(m?.message_id) && (m.message_id as Buffer).equals(id));
    });
  });

  describe('device outcomes (c2d-semantics.md §1.3)', () => {
    async function receiveOne(): Promise<{ r: Awaited<ReturnType<Client['attachReceiver']>>; ctx: Awaited<ReturnType<typeof nextMessage>> }> {
      const s = await service();
      const d = await device();
      const r = await d.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 10 });
      const got = nextMessage(r);
      await send(s, 'dev1', { body: Buffer.from('x'), messageId: 'm1' });
      return { r, ctx: await got };
    }

    it('accepted completes the message', async () => {
      const { ctx } = await receiveOne();
      const completed = once(rig.hub.events, 'completed');
      settle(ctx.delivery, 'accepted');
      assert.deepEqual((await completed)[0], { deviceId: 'dev1', messageId: 'm1' });
      assert.equal(rig.hub.stats().queued + rig.hub.stats().locked, 0);
    });

    it('rejected dead-letters the message', async () => {
      const { ctx } = await receiveOne();
      const dead = once(rig.hub.events, 'deadLettered');
      settle(ctx.delivery, 'rejected');
      assert.equal((await dead)[0].reason, 'Rejected');
    });

    it('released abandons: the message comes again with delivery count + 1', async () => {
      const { r, ctx } = await receiveOne();
      const again = nextMessage(r);
      settle(ctx.delivery, 'released');
      const second = await again;
      assert.equal(second.message?.message_id, 'm1');
      assert.equal(second.message?.message_annotations?.['iothub-deliverycount'], 1);
      settle(second.delivery, 'accepted');
      await once(rig.hub.events, 'completed');
    });

    it('closing the device link puts its locked message back for the next receiver', async () => {
      const { r } = await receiveOne();
      r.close();
      await once(r, 'receiver_close');
      const d2 = await device();
      const r2 = await d2.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 10 });
      assert.equal((await nextMessage(r2)).message?.message_id, 'm1');
    });
  });

  describe('one C2D link per device', () => {
    it('a newer link for the same device takes over; the older connection is closed with amqp:link:stolen', async () => {
      const old = await device();
      await old.attachReceiver('/devices/dev1/messages/devicebound');
      const disconnects: unknown[] = [];
      rig.hub.events.on('deviceDisconnected', (e) => disconnects.push(e));
      const d2 = await device();
      const r2 = await d2.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 5 });
      assert.equal(closeError(await old.closed).condition, 'amqp:link:stolen');
      await once((old.conn as unknown as { socket: net.Socket }).socket, 'close');
      const got = nextMessage(r2);
      await rig.hub.send('dev1', { body: Buffer.from('x'), messageId: 'after' });
      assert.equal((await got).message?.message_id, 'after');
      assert.deepEqual(disconnects, [], 'still connected through the newer connection');
      assert.equal(rig.hub.registry.getDevice('dev1')?.connectionState, 'Connected');
    });
  });

  describe('send errors carry IoT Hub codes', () => {
    it('the 51st pending message is rejected with amqp:resource-limit-exceeded naming 403004', async () => {
      const s = await service();
      for (let i = 0; i < 50; i++) assert.equal((await send(s, 'dev1', { body: Buffer.from(String(i)) })).outcome, 'accepted');
      const r = await send(s, 'dev1', { body: Buffer.from('51') });
      assert.equal(r.outcome, 'rejected');
      assert.equal(r.error?.condition, 'amqp:resource-limit-exceeded');
      assert.match(r.error?.description ?? '', /403004/);
    });

    it('a send to an unknown device is rejected with amqp:not-found', async () => {
      const s = await service();
      const r = await send(s, 'nobody', { body: Buffer.from('x') });
      assert.equal(r.outcome, 'rejected');
      assert.equal(r.error?.condition, 'amqp:not-found');
      assert.match(r.error?.description ?? '', /404001/);
    });
  });

  describe('link authorization', () => {
    it("device A cannot attach device B's link", async () => {
      const d = await device('dev1');
      await assert.rejects(d.attachReceiver('/devices/dev2/messages/devicebound'), { condition: 'amqp:unauthorized-access' });
    });

    it('a device token cannot attach /messages/devicebound or the feedback link', async () => {
      const d = await device('dev1');
      await assert.rejects(d.attachSender('/messages/devicebound'), { condition: 'amqp:unauthorized-access' });
      await assert.rejects(d.attachReceiver('/messages/serviceBound/feedback'), { condition: 'amqp:unauthorized-access' });
    });

    it('a device attaches its own twin links (as the C SDK does on start); a twin request is rejected with amqp:not-implemented', async () => {
      const d = await device('dev1');
      // The C SDK's AMQP transport gives up the connection when either attach is refused.
      const twinOut = await d.attachSender('amqps://127.0.0.1/devices/dev1/twin');
      await d.attachReceiver('amqps://127.0.0.1/devices/dev1/twin');
      if (!twinOut.sendable()) await once(twinOut, 'sendable');
      const delivery = twinOut.send({ body: '', application_properties: { operation: 'GET' } } as Message);
      const { outcome, ctx } = await outcomeOf(twinOut, delivery.id);
      assert.equal(outcome, 'rejected');
      const error = (ctx.delivery?.remote_state as { error?: { condition?: string; description?: string } }).error;
      assert.equal(error?.condition, 'amqp:not-implemented');
      assert.match(String(error?.description), /twins are not served/);
      await assert.rejects(d.attachReceiver('/devices/dev2/twin'), { condition: 'amqp:unauthorized-access' });
    });

    it('a link to an unknown address is refused with amqp:not-found', async () => {
      const s = await service();
      await assert.rejects(s.attachReceiver('/messages/serviceBound/filenotifications'), { condition: 'amqp:not-found' });
    });

    it('an expired token without renewal ends the connection with 401003', async () => {
      const d = await rig.connect();
      assert.equal((await d.putToken(rig.deviceToken('dev1', 60), 'localhost%2Fdevices%2Fdev1')).status, 200);
      await d.attachReceiver('/devices/dev1/messages/devicebound');
      rig.clock.advance(61_000 + 5 * 60_000);
      const ctx = await d.closed;
      assert.match(String(closeError(ctx).description), /401003/);
    });

    it('a connection that authorizes nothing within the auth timeout is closed', async () => {
      const c = await rig.connect();
      rig.clock.advance(30_000);
      const ctx = await c.closed;
      assert.equal(closeError(ctx).condition, 'amqp:unauthorized-access');
    });

    it('SASL PLAIN with a device token authorizes that device without CBS', async () => {
      const c = await Client.connect(rig.port, { username: 'dev1@sas.localhost', password: rig.deviceToken('dev1') });
      try {
        await c.attachReceiver('/devices/dev1/messages/devicebound');
      } finally {
        await c.close();
      }
    });
  });

  describe('feedback', () => {
    /** Sends `messageId` to dev1 with ack full, completes it there, and resolves the feedback batch that says so on `fb`. */
    async function completedBatch(s: Client, fb: Receiver, messageId: string): Promise<EventContext> {
      const d = await device();
      const r = await d.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 10 });
      const got = nextMessage(r);
      await send(s, 'dev1', { body: Buffer.from('x'), messageId, ack: 'full' });
      const completed = once(rig.hub.events, 'completed');
      settle((await got).delivery, 'accepted');
      await completed;
      const batch = nextMessage(fb);
      await rig.hub.flushFeedback();
      return batch;
    }

    it('the feedback link receives a JSON batch with the feedback content type', async () => {
      const s = await service();
      const fb = await s.attachReceiver('/messages/serviceBound/feedback', { credit_window: 10 });
      const { message: m, delivery } = await completedBatch(s, fb, 'm-fb');
      assert.equal(m?.content_type, FEEDBACK_CONTENT_TYPE);
      assert.equal(Buffer.from(m?.user_id as unknown as Buffer).toString(), 'localhost');
      const records = JSON.parse((m?.body as { content: Buffer }).content.toString());
      assert.equal(records[0].originalMessageId, 'm-fb');
      assert.equal(records[0].statusCode, 'Success');
      assert.equal(records[0].deviceId, 'dev1');
      assert.equal((delivery?.tag as Buffer).length, 16);
      settle(delivery, 'accepted');
    });

    it('a batch left unsettled past its lock is settled by the hub with 412002 (so it holds nothing in the session) and comes again', async () => {
      const s = await service();
      const fb = await s.attachReceiver('/messages/serviceBound/feedback', { credit_window: 0, rcv_settle_mode: 1 });
      fb.add_credit(1);
      const kept = (await completedBatch(s, fb, 'm-lost')).delivery as Delivery;
      const settledByHub = new Promise<Delivery>((resolve) => fb.on('settled', (ctx: EventContext) => ctx.delivery === kept && resolve(kept)));
      const again = nextMessage(fb);
      rig.clock.advance(rig.hub.limits.feedbackLockMs + 1);
      const error = ((await settledByHub).remote_state as { error?: { condition?: string; description?: string } }).error;
      assert.equal(error?.condition, 'com.microsoft:message-lock-lost');
      assert.match(String(error?.description), /412002/);
      // The hub's settlement freed the link's slot: the batch comes again on the one credit granted.
      fb.add_credit(1);
      const redelivered = await again;
      assert.deepEqual(Buffer.from(redelivered.delivery?.tag as Buffer).length, 16);
      assert.notDeepEqual(Buffer.from(redelivered.delivery?.tag as Buffer), Buffer.from(kept.tag as Buffer), 'a new lock');
      assert.equal(JSON.parse((redelivered.message?.body as { content: Buffer }).content.toString())[0].originalMessageId, 'm-lost');
      settle(redelivered.delivery, 'accepted');
    });
  });

  describe('hostile input', () => {
    async function raw(bytes: Buffer): Promise<void> {
      const sock = net.connect(rig.port, '127.0.0.1');
      await once(sock, 'connect');
      sock.on('error', () => undefined);
      sock.write(bytes);
      await once(sock, 'close');
    }

    it('socket garbage and an oversize frame close that connection while another client keeps working', async () => {
      const s = await service();
      await raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      const oversize = Buffer.alloc(12);
      Buffer.from('AMQP\x00\x01\x00\x00', 'latin1').copy(oversize);
      oversize.writeUInt32BE(64 * 1024 * 1024, 8);
      await raw(oversize);
      assert.equal((await send(s, 'dev1', { body: Buffer.from('still here') })).outcome, 'accepted');
    });
  });

  describe('connections', () => {
    it('reports a device connected on put-token and disconnected when its connection ends', async () => {
      const connected = once(rig.hub.events, 'deviceConnected');
      const d = await device('dev1');
      assert.deepEqual((await connected)[0], { deviceId: 'dev1', protocol: 'amqp' });
      const disconnected = once(rig.hub.events, 'deviceDisconnected');
      await d.close();
      assert.equal((await disconnected)[0].deviceId, 'dev1');
    });

    it('close() settles every service send that reached it before closing the connection', async () => {
      const s = await service();
      const sender = await s.attachSender('/messages/devicebound');
      const outcomes = Array.from({ length: 5 }, (_, i) =>
        outcomeOf(sender, sender.send(encodeServiceSend('dev1', { body: Buffer.from(String(i)) }) as Message).id),
      );
      await once(rig.hub.events, 'enqueued');
      const closing = rig.server.close();
      for (const { outcome, ctx } of await Promise.all(outcomes)) {
        const cond = (ctx.delivery?.remote_state as { error?: { condition?: string } } | undefined)?.error?.condition;
        assert.ok(outcome === 'accepted' || cond === 'com.microsoft:timeout', `${outcome} ${cond}`);
      }
      assert.equal(closeError(await s.closed).condition, 'amqp:connection:forced');
      await closing;
      assert.equal(rig.server.connectionCount, 0);
    });
  });
});

describe('AMQP server limits', () => {
  it('a device granting more credit than it settles gets at most 500 unsettled deliveries, and more as it settles', async () => {
    const rig = await startRig({ limits: { maxQueueDepth: 3000 } });
    try {
      await rig.hub.registry.createDevice({ deviceId: 'dev1' });
      await Promise.all(Array.from({ length: 2100 }, (_, i) => rig.hub.send('dev1', { body: Buffer.from(String(i)) })));
      const d = await rig.connect();
      assert.equal((await d.putToken(rig.deviceToken('dev1'), 'localhost%2Fdevices%2Fdev1')).status, 200);
      const r = await d.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 5000 });
      const got: Awaited<ReturnType<typeof nextMessage>>[] = [];
      let wake: () => void = () => undefined;
      r.on('message', (ctx) => {
        got.push(ctx);
        wake();
      });
      const until = (n: number): Promise<void> =>
        new Promise((resolve) => {
          wake = () => got.length >= n && resolve();
          wake();
        });
      await until(500);
      // One more round trip on the same connection: nothing beyond the bound arrived meanwhile.
      assert.equal((await d.putToken(rig.deviceToken('dev1'), 'localhost%2Fdevices%2Fdev1')).status, 200);
      assert.equal(got.length, 500);
      settle(got[0].delivery, 'accepted');
      await until(501);
    } finally {
      await rig.close();
    }
  });

  // Node hands over at most 64 KB per read; a message spanning reads is checked between them.
  it('a message larger than the bound arriving in pieces closes the connection', async () => {
    const rig = await startRig({ maxFrameBytes: 16 * 1024 });
    try {
      const s = await rig.connect();
      assert.equal((await s.putToken(rig.policyToken(), 'localhost')).status, 200);
      const sender = await s.attachSender('/messages/devicebound');
      sender.send(encodeServiceSend('dev1', { body: Buffer.alloc(300 * 1024) }) as Message);
      await s.closed;
      assert.ok(rig.log.some((l) => l.event === 'framing-error'));
    } finally {
      await rig.close();
    }
  });
});

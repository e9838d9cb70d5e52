/**
 * What other AMQP stacks put on the wire, against the hub's AMQP server
 * (issue 16 "AMQP: what other stacks send"): azure-uamqp-c's SASL MSSBCBS
 * and management-style `$cbs`, links that share a name (Qpid Proton's
 * default), the header's delivery-count, and refusals that are always an
 * AMQP error frame, never a dropped socket (AMQP 1.0 §2.4.3).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import type { Connection, Delivery, EventContext, Receiver, Session } from 'rhea';
import { outcomes, keyLinksByNameAndRole } from '../../lib/common/rhea-internals';
import { closeError, nextMessage, startRig, type Rig } from './helpers';
import { ManagementCbs, amqpOver, saslMssbcbs } from './uamqp-like-client';

describe('AMQP stacks other than the Node SDKs', function () {
  let rig: Rig;
  beforeEach(async () => {
    rig = await startRig({ authTimeoutMs: 5000 });
    await rig.hub.registry.createDevice({ deviceId: 'dev1' });
  });
  afterEach(async () => rig.close());

  describe('SASL MSSBCBS, as azure-uamqp-c performs it (the Azure IoT C SDK, Python uamqp)', () => {
    it('offers MSSBCBS in an AMQP array of symbols and answers its sasl-init (no initial response) with outcome ok', async () => {
      const x = await saslMssbcbs(rig.port);
      try {
        assert.equal(x.mechanisms.type, 'Array32', 'azure-uamqp-c reads the list with amqpvalue_get_array_item_count');
        assert.ok(
          x.mechanisms.elementTypes.every((t) => t.startsWith('Sym')),
          'symbols',
        );
        assert.ok(x.mechanisms.names.includes('MSSBCBS'), x.mechanisms.names.join(','));
        assert.equal(x.outcomeCode, 0);
      } finally {
        x.socket.destroy();
      }
    });

    it('then a put-token on $cbs-sender/$cbs-receiver with a ulong message-id authorizes the device, and C2D flows', async () => {
      const x = await saslMssbcbs(rig.port);
      const c = await amqpOver(x.socket);
      const cbs = await ManagementCbs.attach(c);
      const reply = await cbs.putToken('localhost/devices/dev1', rig.deviceToken('dev1'));
      assert.equal(reply.status, 200);
      assert.equal(reply.correlationId, 0, 'the ulong message-id comes back as the correlation-id');
      const r = c.open_receiver({ source: { address: '/devices/dev1/messages/devicebound' }, autoaccept: false, credit_window: 1 });
      await once(r, 'receiver_open');
      const got = nextMessage(r);
      await rig.hub.send('dev1', { body: Buffer.from('to a C SDK device') });
      const ctx = await got;
      assert.equal(Buffer.from((ctx.message?.body as { content: Buffer }).content).toString(), 'to a C SDK device');
      ctx.delivery?.accept();
      c.close();
    });

    it('proves nothing by itself: without a put-token a device link is refused with 401003 and the auth timeout closes the connection', async () => {
      const x = await saslMssbcbs(rig.port);
      const c = await amqpOver(x.socket);
      const closed = once(c, 'connection_close');
      const r = c.open_receiver({ source: { address: '/devices/dev1/messages/devicebound' } });
      const [refused] = (await once(r, 'receiver_close')) as [EventContext];
      assert.match(
        String(
          (r.error as { description?: string } | undefined)?.description ?? (refused.receiver?.error as { description?: string } | undefined)?.description,
        ),
        /401003/,
      );
      rig.clock.advance(5000);
      const [ctx] = (await closed) as [EventContext];
      assert.equal(closeError(ctx).condition, 'amqp:unauthorized-access');
    });

    it('a mechanism the hub does not offer gets sasl-outcome auth, not a dropped socket', async () => {
      const x = await saslMssbcbs(rig.port, 'GSSAPI');
      x.socket.destroy();
      assert.equal(x.outcomeCode, 1);
    });
  });

  describe('links are named by name and role (AMQP 1.0 §2.6.1)', () => {
    /** A client session keyed the same way, since rhea's client also keys links by name alone. */
    async function session(c: Connection): Promise<Session> {
      const s = c.create_session();
      keyLinksByNameAndRole(s);
      s.begin();
      await once(s, 'session_open');
      return s;
    }

    it("a $cbs sender and receiver with the same name (Proton's default) both attach and a put-token is answered", async () => {
      const c = (await rig.connect()).conn;
      const s = await session(c);
      const sender = s.open_sender({ name: 'container-$cbs', target: { address: '$cbs' } });
      const receiver = s.open_receiver({ name: 'container-$cbs', source: { address: '$cbs' }, autoaccept: true });
      await Promise.all([once(sender, 'sendable'), once(receiver, 'receiver_open')]);
      const reply = nextMessage(receiver);
      sender.send({
        message_id: 'r1',
        reply_to: 'cbs',
        application_properties: { operation: 'put-token', type: 'servicebus.windows.net:sastoken', name: 'localhost/devices/dev1' },
        body: rig.deviceToken('dev1'),
      });
      const ctx = await reply;
      assert.equal(ctx.message?.application_properties?.['status-code'], 200);
      assert.equal(ctx.message?.correlation_id, 'r1');
    });

    it('a second link with the name and role of one still attached closes the connection with amqp:not-allowed', async () => {
      const client = await rig.connect();
      const s = await session(client.conn);
      const first = s.open_sender({ name: 'dup', target: { address: '$cbs' } });
      await once(first, 'sendable');
      s.open_sender({ name: 'dup', target: { address: '$cbs' } });
      const ctx = await client.closed;
      assert.equal(closeError(ctx).condition, 'amqp:not-allowed');
      assert.match(String(closeError(ctx).description), /already attached/);
    });
  });

  describe('refusals are AMQP error frames, not dropped sockets (AMQP 1.0 §2.4.3)', () => {
    /** Writes raw bytes on an open rhea connection's socket, as a broken peer would. */
    function raw(c: Connection, bytes: Buffer): void {
      (c as unknown as { socket: net.Socket }).socket.write(bytes);
    }

    it('an undecodable frame after open gets close{amqp:decode-error} and the socket is ended by the hub after it', async () => {
      const client = await rig.connect();
      // A frame of 12 bytes whose body is the reserved AMQP type code 0x01.
      raw(client.conn, Buffer.from([0, 0, 0, 12, 2, 0, 0, 0, 0x00, 0x53, 0x10, 0x01]));
      const ctx = await client.closed;
      assert.ok(['amqp:decode-error', 'amqp:internal-error'].includes(String(closeError(ctx).condition)), String(closeError(ctx).condition));
      assert.ok(rig.log.some((l) => l.event === 'frame-refused'));
    });

    it('a frame larger than the hub allows, after open, gets close{amqp:connection:framing-error}', async () => {
      const client = await rig.connect();
      const big = Buffer.alloc(12);
      big.writeUInt32BE(64 * 1024 * 1024, 0);
      raw(client.conn, big);
      const ctx = await client.closed;
      assert.equal(closeError(ctx).condition, 'amqp:connection:framing-error');
    });
  });

  describe('header.delivery-count counts prior unsuccessful deliveries (AMQP 1.0 §3.2.1)', () => {
    it('goes 0, 1, 2 with iothub-deliverycount after released and modified{delivery-failed}', async () => {
      const d = await rig.connect();
      assert.equal((await d.putToken(rig.deviceToken('dev1'), 'localhost%2Fdevices%2Fdev1')).status, 200);
      const r: Receiver = await d.attachReceiver('/devices/dev1/messages/devicebound', { credit_window: 1 });
      const seen: [unknown, unknown][] = [];
      await rig.hub.send('dev1', { body: Buffer.from('x') });
      for (const outcome of [outcomes.released(), outcomes.modified({ delivery_failed: true }), outcomes.accepted()]) {
        const ctx = await nextMessage(r);
        seen.push([ctx.message?.delivery_count, ctx.message?.message_annotations?.['iothub-deliverycount']]);
        (ctx.delivery as Delivery).update(true, outcome.described());
      }
      assert.deepEqual(seen, [
        [0, 0],
        [1, 1],
        [2, 2],
      ]);
    });
  });
});

/**
 * Pins every rhea internal the hub and the clients use (lib/common/rhea-internals.ts)
 * against the installed rhea, on real connections over loopback: an upgrade
 * that moves one fails here, by name, instead of in a running hub.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import { create_container, type Connection, type Delivery, type EventContext, type Receiver, type Sender, type Session } from 'rhea';
import WebSocket, { WebSocketServer } from 'ws';
import {
  HEARTBEAT_TIMER_FIELDS,
  acceptSocket,
  endSocket,
  incompleteTransferBytes,
  keyLinksByNameAndRole,
  linkCredit,
  markSettledByPeer,
  outcomes,
  saslServerMechanisms,
  senderPermits,
  stopHeartbeats,
  webSocketConnector,
  writeDispositionsApart,
  type RheaSocket,
} from '../../lib/common/rhea-internals';
import { webSocketStream } from '../../lib/hub/amqp/frame-guard';

interface Pair {
  server: Promise<Connection>;
  client: Connection;
  /** Raw server-side sockets, to listen beside rhea. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

/** A rhea server connection (accepted on a plain TCP socket) and a rhea client connected to it. */
async function pair(options: { server?: Record<string, unknown>; client?: Record<string, unknown>; onSession?: (s: Session) => void } = {}): Promise<Pair> {
  const sockets: net.Socket[] = [];
  let resolveServer!: (c: Connection) => void;
  const server = new Promise<Connection>((r) => (resolveServer = r));
  const listener = net.createServer((socket) => {
    sockets.push(socket);
    const container = create_container({ id: 'pin-server' });
    if (options.server?.sasl_server_mechanisms) container.sasl_server_mechanisms = options.server.sasl_server_mechanisms as never;
    const c = container.create_connection({ container_id: 'pin-server', ...options.server } as never);
    c.on('error', () => undefined);
    c.on('protocol_error', () => undefined);
    c.on('disconnected', () => undefined);
    if (options.onSession) c.on('session_open', (ctx: EventContext) => options.onSession?.(ctx.session as Session));
    acceptSocket(c, socket as unknown as RheaSocket);
    resolveServer(c);
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  const port = (listener.address() as net.AddressInfo).port;
  const client = create_container({ id: 'pin-client' }).connect({ host: '127.0.0.1', port, reconnect: false, ...options.client } as never);
  client.on('error', () => undefined);
  client.on('connection_error', () => undefined);
  client.on('disconnected', () => undefined);
  await once(client, 'connection_open');
  return {
    server,
    client,
    sockets,
    async close() {
      client.close();
      for (const s of sockets) s.destroy();
      listener.close();
      stopHeartbeats(await server);
      stopHeartbeats(client);
    },
  };
}

function opened<L extends Sender | Receiver>(link: L): Promise<L> {
  return new Promise((resolve) => link.once(link.is_sender() ? 'sender_open' : 'receiver_open', () => resolve(link)));
}

describe('rhea internals, pinned (lib/common/rhea-internals.ts)', function () {
  this.timeout(20_000);

  it('acceptSocket serves an accepted socket as a server connection', async () => {
    const p = await pair();
    try {
      const s = await p.server;
      if (!s.is_remote_open()) await once(s, 'connection_open');
      assert.equal(s.is_remote_open(), true);
    } finally {
      await p.close();
    }
  });

  it('stopHeartbeats clears the heartbeat and idle timers rhea keeps on the connection', async () => {
    const p = await pair({ server: { idle_time_out: 60_000 }, client: { idle_time_out: 60_000 } });
    try {
      const s = (await p.server) as unknown as Record<string, unknown>;
      // The first frames have gone out: rhea has armed its timers under these names.
      await new Promise((r) => setImmediate(r));
      assert.ok(
        HEARTBEAT_TIMER_FIELDS.some((k) => s[k] !== undefined),
        `one of ${HEARTBEAT_TIMER_FIELDS.join(', ')} is set`,
      );
      stopHeartbeats(s as unknown as Connection);
      for (const k of HEARTBEAT_TIMER_FIELDS) assert.equal(s[k], undefined, k);
    } finally {
      await p.close();
    }
  });

  it('endSocket ends the socket under a client connection', async () => {
    const p = await pair();
    try {
      const gone = once(p.client, 'disconnected');
      endSocket(p.client);
      await gone;
    } finally {
      await p.close();
    }
  });

  it('webSocketConnector connects rhea over a WebSocket (here to a server on webSocketStream)', async () => {
    const web = http.createServer();
    const wss = new WebSocketServer({ server: web });
    const serverOpen = new Promise<Connection>((resolve) =>
      wss.on('connection', (ws) => {
        const c = create_container({ id: 'pin-ws' }).create_connection({ container_id: 'pin-ws' } as never);
        c.on('error', () => undefined);
        c.on('disconnected', () => undefined);
        c.once('connection_open', () => resolve(c));
        acceptSocket(c, webSocketStream(ws));
      }),
    );
    web.listen(0, '127.0.0.1');
    await once(web, 'listening');
    const port = (web.address() as net.AddressInfo).port;
    const container = create_container({ id: 'pin-ws-client' });
    const connect = webSocketConnector(container, WebSocket);
    const client = container.connect({ connection_details: connect(`ws://127.0.0.1:${port}/`, ['AMQPWSB10'], {}), reconnect: false } as never);
    client.on('error', () => undefined);
    client.on('disconnected', () => undefined);
    try {
      await once(client, 'connection_open');
      stopHeartbeats(await serverOpen);
    } finally {
      client.close();
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      web.closeAllConnections();
      web.close();
    }
  });

  it('incompleteTransferBytes sees a message arriving in pieces, and nothing once it is whole', async () => {
    const p = await pair({ server: { max_frame_size: 16 * 1024 } });
    try {
      const s = await p.server;
      let most = 0;
      // rhea's own 'data' listener came first: this one runs after rhea has taken each chunk.
      p.sockets[0]!.on('data', () => (most = Math.max(most, incompleteTransferBytes(s))));
      s.on('receiver_open', (ctx: EventContext) => ctx.receiver?.add_credit(1));
      const got = new Promise<void>((resolve) => s.on('message', () => resolve()));
      const sender = await opened(p.client.open_sender({ target: { address: 'big' } }));
      await once(sender, 'sendable');
      sender.send({ body: Buffer.alloc(300 * 1024) });
      await got;
      assert.ok(most > 0, 'bytes were held between chunks');
      assert.equal(incompleteTransferBytes(s), 0);
    } finally {
      await p.close();
    }
  });

  it('linkCredit and senderPermits read the credit and delivery count rhea keeps on links', async () => {
    const p = await pair();
    try {
      const s = await p.server;
      const serverSender = new Promise<Sender>((resolve) => s.on('sender_open', (ctx: EventContext) => resolve(ctx.sender as Sender)));
      const r = await opened(p.client.open_receiver({ source: { address: 'q' }, credit_window: 0, autoaccept: false }));
      r.add_credit(7);
      assert.equal(linkCredit(r), 7);
      const sender = await serverSender;
      if (linkCredit(sender) === 0) await once(sender, 'sendable');
      assert.equal(linkCredit(sender), 7);
      assert.equal(senderPermits(sender), 7);
      let got = 0;
      const two = new Promise<void>((resolve) => r.on('message', () => ++got === 2 && resolve()));
      sender.send({ body: 'a' });
      sender.send({ body: 'b' });
      await two;
      assert.equal(linkCredit(sender), 5);
      assert.equal(senderPermits(sender), 7, 'delivery count and credit move together');
    } finally {
      await p.close();
    }
  });

  it('markSettledByPeer frees a delivery settled in rcv-settle-mode second: 2100 on one link pass the session ring of 2048', async () => {
    const p = await pair();
    const total = 2100;
    try {
      const s = await p.server;
      let sent = 0;
      let accepted = 0;
      const done = new Promise<void>((resolve) =>
        s.on('accepted', (ctx: EventContext) => {
          const d = ctx.delivery as Delivery;
          d.update(true, outcomes.accepted().described());
          markSettledByPeer(d);
          assert.equal(d.remote_settled, true);
          if (++accepted === total) resolve();
        }),
      );
      s.on('sendable', (ctx: EventContext) => {
        const sender = ctx.sender as Sender;
        while (sender.sendable() && sent < total) sender.send({ body: String(sent++) });
      });
      const r = p.client.open_receiver({ source: { address: 'q' }, credit_window: 100, autoaccept: false, rcv_settle_mode: 1 } as never);
      r.on('message', (ctx: EventContext) => (ctx.delivery as Delivery).update(false, outcomes.accepted().described()));
      await done;
      assert.equal(accepted, total);
    } finally {
      await p.close();
    }
  });

  it('outcomes builds dispositions; a modified outcome reaches a sender as released', async () => {
    const p = await pair();
    try {
      const s = await p.server;
      const seen: string[] = [];
      const serverReceiver = new Promise<Receiver>((resolve) => s.on('receiver_open', (ctx: EventContext) => resolve(ctx.receiver as Receiver)));
      const sender = await opened(p.client.open_sender({ target: { address: 'q' } }));
      const receiver = await serverReceiver;
      receiver.add_credit(3);
      let n = 0;
      s.on('message', (ctx: EventContext) => {
        const d = ctx.delivery as Delivery;
        const o = [
          outcomes.rejected({ error: { condition: 'amqp:not-found', description: 'x' } }),
          outcomes.modified({ delivery_failed: true }),
          outcomes.released(),
        ][n++]!;
        d.update(true, o.described());
      });
      const all = new Promise<void>((resolve) => {
        for (const ev of ['accepted', 'rejected', 'released']) {
          sender.on(ev, (ctx: EventContext) => {
            seen.push(ev === 'rejected' ? `rejected ${(ctx.delivery?.remote_state as { error?: { condition?: string } })?.error?.condition}` : ev);
            if (seen.length === 3) resolve();
          });
        }
      });
      if (!sender.sendable()) await once(sender, 'sendable');
      for (const b of ['1', '2', '3']) sender.send({ body: b });
      await all;
      assert.deepEqual(seen, ['rejected amqp:not-found', 'released', 'released']);
    } finally {
      await p.close();
    }
  });

  describe("writeDispositionsApart (rhea merged two settlements of one tick into the first one's range)", () => {
    const notFound = (): ReturnType<typeof outcomes.rejected> => outcomes.rejected({ error: { condition: 'amqp:not-found', description: 'x' } });
    const seenBySender = (sender: Sender, count: number): Promise<string[]> =>
      new Promise((resolve) => {
        const seen: string[] = [];
        for (const ev of ['accepted', 'rejected', 'released']) {
          sender.on(ev, (ctx: EventContext) => {
            seen.push(`${String(ctx.delivery?.tag)} ${ev}`);
            if (seen.length === count) resolve(seen.sort());
          });
        }
      });

    it('a receiver settling two deliveries in one tick (rejected, accepted; accepted, rejected) is heard as it settled them', async () => {
      writeDispositionsApart();
      const p = await pair({ server: { autoaccept: false } });
      try {
        const s = await p.server;
        const serverReceiver = new Promise<Receiver>((resolve) => s.on('receiver_open', (ctx: EventContext) => resolve(ctx.receiver as Receiver)));
        const sender = await opened(p.client.open_sender({ target: { address: 'q' } }));
        (await serverReceiver).add_credit(10);
        const held: Delivery[] = [];
        s.on('message', (ctx: EventContext) => {
          held.push(ctx.delivery as Delivery);
          if (held.length === 4) {
            // All four in one tick: the range builder sees them together.
            held[0]!.update(true, notFound().described());
            held[1]!.update(true, outcomes.accepted().described());
            held[2]!.update(true, outcomes.accepted().described());
            held[3]!.update(true, notFound().described());
          }
        });
        const seen = seenBySender(sender, 4);
        if (!sender.sendable()) await once(sender, 'sendable');
        for (const tag of ['a', 'b', 'c', 'd']) sender.send({ body: tag }, Buffer.from(tag));
        assert.deepEqual(await seen, ['a rejected', 'b accepted', 'c accepted', 'd rejected']);
      } finally {
        await p.close();
      }
    });

    it('a sender settling two deliveries in one tick (its final outcome, rcv-settle-mode second) is heard as it settled them', async () => {
      writeDispositionsApart();
      const p = await pair({ server: { autoaccept: false } });
      try {
        const s = await p.server;
        const serverSender = new Promise<Sender>((resolve) => s.on('sender_open', (ctx: EventContext) => resolve(ctx.sender as Sender)));
        const receiver = await opened(p.client.open_receiver({ source: { address: 'q' }, autoaccept: false, rcv_settle_mode: 1, credit_window: 0 } as never));
        const sender = await serverSender;
        receiver.add_credit(2);
        const answered: Delivery[] = [];
        const settle = (ctx: EventContext): void => {
          answered.push(ctx.delivery as Delivery);
          if (answered.length === 2) {
            // The hub's confirmOutcome: the first refused (lock lost), the second accepted, in one tick.
            answered[0]!.update(true, notFound().described());
            answered[1]!.update(true, outcomes.accepted().described());
          }
        };
        sender.on('accepted', settle);
        const finals = new Promise<string[]>((resolve) => {
          const out: string[] = [];
          receiver.on('settled', (ctx: EventContext) => {
            const state = ctx.delivery?.remote_state as { error?: { condition?: string } } | undefined;
            out.push(`${String(ctx.delivery?.tag)} ${state?.error ? `error ${state.error.condition}` : 'ok'}`);
            if (out.length === 2) resolve(out.sort());
          });
        });
        const got: Delivery[] = [];
        receiver.on('message', (ctx: EventContext) => {
          got.push(ctx.delivery as Delivery);
          if (got.length === 2) for (const d of got) d.update(false, outcomes.accepted().described());
        });
        if (!sender.sendable()) await once(sender, 'sendable');
        sender.send({ body: '1' }, Buffer.from('x'));
        sender.send({ body: '2' }, Buffer.from('y'));
        assert.deepEqual(await finals, ['x error amqp:not-found', 'y ok']);
      } finally {
        await p.close();
      }
    });
  });

  it('saslServerMechanisms: rhea offers each own property as a mechanism and runs the one the client picks', async () => {
    const mechs = saslServerMechanisms();
    mechs.enable_anonymous();
    let started = 0;
    mechs.PINNED = () => ({
      outcome: undefined,
      username: undefined,
      start() {
        started++;
        this.outcome = true;
      },
    });
    const p = await pair({
      server: { sasl_server_mechanisms: mechs },
      client: { sasl_mechanisms: { PINNED: () => ({ start: (cb: (e: unknown, r?: Buffer) => void) => cb(undefined, undefined) }) } },
    });
    try {
      const s = await p.server;
      assert.deepEqual(Object.getOwnPropertyNames(mechs).sort(), ['ANONYMOUS', 'PINNED'], 'the helpers stay off the offered list');
      assert.equal(started, 1, 'the server ran the mechanism the client chose');
      assert.equal(s.is_remote_open(), true);
    } finally {
      await p.close();
    }
  });

  describe('keyLinksByNameAndRole (AMQP 1.0 §2.6.1: a link is its name and its role)', () => {
    it('attaches a sender and a receiver with the same name, and both carry messages', async () => {
      const p = await pair({ onSession: keyLinksByNameAndRole });
      try {
        const s = await p.server;
        s.on('receiver_open', (ctx: EventContext) => ctx.receiver?.add_credit(1));
        const fromClient = new Promise<string>((resolve) => s.on('message', (ctx: EventContext) => resolve(String(ctx.message?.body))));
        const serverSender = new Promise<Sender>((resolve) => s.on('sender_open', (ctx: EventContext) => resolve(ctx.sender as Sender)));
        // rhea's client keys links by name too: the same fix lets it hold both.
        const session = p.client.create_session();
        keyLinksByNameAndRole(session);
        session.begin();
        const out = await opened(session.open_sender({ name: 'same', target: { address: 'q' } }));
        const back = await opened(session.open_receiver({ name: 'same', source: { address: 'q' } }));
        if (!out.sendable()) await once(out, 'sendable');
        out.send({ body: 'up' });
        assert.equal(await fromClient, 'up');
        const toClient = new Promise<string>((resolve) => back.once('message', (ctx: EventContext) => resolve(String(ctx.message?.body))));
        const ss = await serverSender;
        if (!ss.sendable()) await once(ss, 'sendable');
        ss.send({ body: 'down' });
        assert.equal(await toClient, 'down');
        // Detaching one leaves the other in place.
        out.close();
        await once(out, 'sender_close');
        const again = new Promise<string>((resolve) => back.once('message', (ctx: EventContext) => resolve(String(ctx.message?.body))));
        ss.send({ body: 'still' });
        assert.equal(await again, 'still');
      } finally {
        await p.close();
      }
    });

    it('refuses a second attach with the name and role of a link still attached, naming amqp:not-allowed', async () => {
      const p = await pair({ onSession: keyLinksByNameAndRole });
      try {
        const s = await p.server;
        const refused = new Promise<{ condition?: string; message: string }>((resolve) =>
          s.on('error', (e: { condition?: string; message: string }) => resolve(e)),
        );
        const session = p.client.create_session();
        session.begin();
        await opened(session.open_sender({ name: 'twice', target: { address: 'q' } }));
        session.open_sender({ name: 'twice', target: { address: 'q' } });
        const e = await refused;
        assert.equal(e.condition, 'amqp:not-allowed');
        assert.match(e.message, /already attached/);
      } finally {
        await p.close();
      }
    });
  });
});

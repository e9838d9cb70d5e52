/**
 * What each AMQP fault puts on the wire, read by a plain rhea client: the
 * error conditions, the close reason in their descriptions, which link or
 * session goes, and that only the requesting device's connection is touched.
 */
import assert from 'node:assert/strict';
import type { EventContext, Receiver, Sender } from 'rhea';
import { FAULT_AMQP_CONDITIONS, faultRequestProperties, type ConnectionFaultType } from '../../lib/common/fault-injection';
import { startRig, type Client, type Rig } from '../amqp/helpers';
import { nextEvent } from './scenario';

interface Device {
  client: Client;
  cbsSender: Sender;
  cbsReceiver: Receiver;
  c2d: Receiver;
  d2c: Sender;
}

type LinkError = { condition?: string; description?: string } | undefined;

/** rhea decodes an AMQP error as a composite with getters: its two fields, or undefined. */
const plain = (e: unknown): LinkError =>
  e ? { condition: (e as { condition?: string }).condition, description: (e as { description?: string }).description } : undefined;

describe('Fault injection: AMQP on the wire', function () {
  this.timeout(10_000);
  let rig: Rig;
  let n = 0;
  beforeEach(async () => {
    rig = await startRig();
  });
  afterEach(() => rig.close());

  /** A device connection with $cbs, C2D (unless `c2d` is false: a newer C2D link would steal the older) and D2C links. */
  async function device(id: string, c2d = true): Promise<Device> {
    if (!rig.hub.registry.getDevice(id)) await rig.hub.registry.createDevice({ deviceId: id });
    const client = await rig.connect();
    // rhea throws an unhandled session error on the container, which would stop it reading the close after it.
    client.conn.on('session_error', () => undefined);
    assert.equal((await client.putToken(rig.deviceToken(id), `localhost/devices/${id}`)).status, 200);
    const internals = client as unknown as { cbsSender: Sender; cbsReceiver: Receiver };
    const receiver = c2d ? await client.attachReceiver(`/devices/${id}/messages/devicebound`) : (undefined as unknown as Receiver);
    const d2c = await client.attachSender(`/devices/${id}/messages/events`);
    return { client, cbsSender: internals.cbsSender, cbsReceiver: internals.cbsReceiver, c2d: receiver, d2c };
  }

  /** Sends the fault request on the device's own D2C link and moves the hub's clock past the delay. */
  async function fault(id: string, d: Device, type: ConnectionFaultType): Promise<void> {
    const performed = nextEvent(rig.hub, 'fault', (e) => e.deviceId === id && e.phase === 'performed');
    d.d2c.send({ body: 'f', application_properties: faultRequestProperties({ type, closeReason: `reason ${type}`, delayInSecs: 1 }) });
    await nextEvent(rig.hub, 'fault', (e) => e.deviceId === id && e.phase === 'requested');
    rig.clock.advance(1000);
    await performed;
  }

  const detached = (link: Sender | Receiver): Promise<LinkError> =>
    new Promise((resolve) =>
      link.once(link.is_sender() ? 'sender_close' : 'receiver_close', (ctx: EventContext) =>
        resolve(plain(((ctx.sender ?? ctx.receiver) as { error?: LinkError }).error)),
      ),
    );

  for (const [type, which] of [
    ['KillAmqpCBSLinkReq', 'cbsSender'],
    ['KillAmqpCBSLinkResp', 'cbsReceiver'],
    ['KillAmqpC2DLink', 'c2d'],
    ['KillAmqpD2CLink', 'd2c'],
  ] as const) {
    it(`${type}: that link alone is detached with ${FAULT_AMQP_CONDITIONS.link} and the close reason; the connection stays`, async () => {
      const id = `wire-${n++}`;
      const d = await device(id);
      const gone = detached(d[which]);
      await fault(id, d, type);
      assert.deepEqual(await gone, { condition: FAULT_AMQP_CONDITIONS.link, description: `reason ${type}` });
      for (const other of (['cbsSender', 'cbsReceiver', 'c2d', 'd2c'] as const).filter((k) => k !== which))
        assert.ok(d[other].is_open(), `${other} still open`);
      assert.ok(d.client.conn.is_open());
    });
  }

  it('KillAmqpC2DLink: a message locked to the link is back in the queue at once, for the next link', async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    d.c2d.add_credit(1);
    const got = new Promise<void>((resolve) => d.c2d.once('message', () => resolve()));
    await rig.hub.send(id, { body: Buffer.from('m'), messageId: 'm1' });
    await got;
    assert.equal(rig.hub.peek(id)[0]!.state, 'Invisible');
    await fault(id, d, 'KillAmqpC2DLink');
    assert.equal(rig.hub.peek(id)[0]!.state, 'Enqueued');
  });

  it('KillAmqpSession: the session ends with the error and the close reason', async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    const ended = new Promise<LinkError>((resolve) => d.client.conn.once('session_close', (ctx: EventContext) => resolve(plain(ctx.session?.error))));
    await fault(id, d, 'KillAmqpSession');
    assert.deepEqual(await ended, { condition: FAULT_AMQP_CONDITIONS.session, description: 'reason KillAmqpSession' });
  });

  it('KillAmqpConnection: links and session go first, then the close carries the error and the reason', async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    const link = detached(d.c2d);
    const closed = new Promise<LinkError>((resolve) => d.client.conn.once('connection_error', (ctx: EventContext) => resolve(plain(ctx.connection.error))));
    await fault(id, d, 'KillAmqpConnection');
    assert.deepEqual(await closed, { condition: FAULT_AMQP_CONDITIONS.connection, description: 'reason KillAmqpConnection' });
    assert.deepEqual(await link, { condition: FAULT_AMQP_CONDITIONS.connection, description: 'reason KillAmqpConnection' });
  });

  it('ShutDownAmqp: a clean close, no error anywhere', async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    const link = detached(d.c2d);
    const closed = new Promise<EventContext>((resolve) => d.client.conn.once('connection_close', resolve));
    await fault(id, d, 'ShutDownAmqp');
    assert.equal((await closed).connection.error, undefined);
    assert.equal(await link, undefined);
  });

  it('KillTcp: the socket goes with no close frame', async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    let closeFrame = false;
    d.client.conn.on('connection_close', () => (closeFrame = true));
    const disconnected = new Promise<void>((resolve) => d.client.conn.once('disconnected', () => resolve()));
    await fault(id, d, 'KillTcp');
    await disconnected;
    assert.equal(closeFrame, false);
  });

  it("another device's connection, and a second connection of the same device, are not touched", async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    const twin = await device(id, false);
    const neighbour = await device(`wire-${n++}`);
    await fault(id, d, 'KillAmqpConnection');
    await d.client.closed;
    assert.ok(twin.client.conn.is_open() && twin.d2c.is_open());
    assert.ok(neighbour.client.conn.is_open() && neighbour.c2d.is_open());
  });

  it("a fault that is not AMQP's (ShutDownMqtt) over AMQP: nothing happens but a warning", async () => {
    const id = `wire-${n++}`;
    const d = await device(id);
    const warned = nextEvent(rig.hub, 'warning', (e) => e.deviceId === id);
    d.d2c.send({ body: 'f', application_properties: faultRequestProperties({ type: 'ShutDownMqtt' }) });
    await nextEvent(rig.hub, 'fault', (e) => e.deviceId === id && e.phase === 'requested');
    rig.clock.advance(0);
    assert.match((await warned).message, /ShutDownMqtt not performed.*over amqp/);
    assert.ok(d.client.conn.is_open() && d.c2d.is_open());
  });
});

/**
 * Bad messages sent the way a real backend or device would put them on the
 * wire (raw rhea transfers on /messages/devicebound, raw HTTPS requests, MQTT
 * CONNECT with bad bytes): each gets IoT Hub's error, nothing is enqueued,
 * and the same connection keeps working for a good message afterwards.
 */
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import { message as rheaMessage, types as rheaTypes, type Message, type Sender } from 'rhea';
import { outcomeOf } from '../amqp/helpers';
import { WireRig, httpCode } from './wire';

const API = 'api-version=2021-04-12';
const TO = '/devices/d1/messages/devicebound';

describe('bad messages get IoT Hub errors, and the hub keeps serving', function () {
  this.timeout(30_000);
  let rig: WireRig;
  let sender: Sender;

  before(async () => {
    rig = await WireRig.start();
    await rig.addDevice('d1');
    const c = await rig.amqp();
    assert.equal((await c.putToken(rig.policyToken('service'), 'localhost')).status, 200);
    sender = await c.attachSender('/messages/devicebound');
  });
  after(() => rig.close());

  /** Sends one transfer; resolves 'accepted' or the IoT Hub code at the head of the rejection text. */
  async function send(m: Partial<Message>): Promise<string> {
    const d = sender.send({ to: TO, body: rheaMessage.data_section(Buffer.from('x')), ...m } as Message);
    const { outcome, ctx } = await outcomeOf(sender, d.id);
    if (outcome === 'accepted') return 'accepted';
    const err = (ctx.delivery?.remote_state as { error?: { condition?: string; description?: string } } | undefined)?.error;
    return /^\d{6}/.exec(err?.description ?? '')?.[0] ?? `${outcome} ${String(err?.condition)}`;
  }

  const cases: [string, Partial<Message>, RegExp][] = [
    ['a body over 64 KB', { body: rheaMessage.data_section(Buffer.alloc(64 * 1024 + 1)) }, /^413001$/],
    ['properties that push it over 64 KB', { application_properties: { big: 'a'.repeat(64 * 1024) } }, /^(413001|400004)$/],
    ['an expiry in the past', { absolute_expiry_time: new Date(Date.now() - 3_600_000) }, /^(400011|403009)$/],
    ['an expiry beyond 2 days', { absolute_expiry_time: new Date(Date.now() + 3 * 86_400_000) }, /^(400011|403009)$/],
    ['a binary (non-text) property value', { application_properties: { p: rheaTypes.wrap_binary(Buffer.from([0xff, 0x00])) as never } }, /^400004$/],
    ['a bad ack value', { application_properties: { 'iothub-ack': 'always' } }, /^400004$/],
    ['an ack that is not a string', { application_properties: { 'iothub-ack': 5 } }, /^400004$/],
    ['a property name with a space', { application_properties: { 'bad name': 'v' } }, /^400004$/],
    ['a non-ASCII property name', { application_properties: { 'n\u00e4me': 'v' } }, /^400004$/],
    ['a property value with CR LF', { application_properties: { p: 'a\r\nb' } }, /^400004$/],
    ['a reserved iothub- property', { application_properties: { 'iothub-to': '/devices/d2' } }, /^400004$/],
    ['an invalid device id in to', { to: '/devices/bad id!/messages/devicebound' }, /^(400004|404001)$/],
    ['a traversal device id in to', { to: '/devices/../d1/messages/devicebound' }, /^(400004|404001)$/],
    ['a device id of 129 characters', { to: `/devices/${'a'.repeat(129)}/messages/devicebound` }, /^400004$/],
    ['no to at all', { to: undefined }, /^400004$/],
    ['an unknown device', { to: '/devices/nobody/messages/devicebound' }, /^404001$/],
    ['a message id of 129 characters', { message_id: 'm'.repeat(129) }, /^400004$/],
    ['a message id with a space', { message_id: 'a b' }, /^400004$/],
    ['a non-UTF-8 user id', { user_id: Buffer.from([0xff, 0xfe, 0xc3, 0x28]) as never }, /^400004$/],
  ];

  it(`refuses ${cases.length} bad AMQP sends with IoT Hub codes, and accepts a good one on the same link`, async () => {
    const table: { message: string; result: string }[] = [];
    for (const [what, m, want] of cases) {
      const result = await send(m);
      table.push({ message: what, result });
      assert.match(result, want, what);
    }
    console.table(table);
    assert.equal(rig.hub.hub.stats().queued, 0, 'nothing bad was enqueued');
    assert.equal(await send({ message_id: 'good', application_properties: { 'iothub-ack': 'full', ok: 'yes' } }), 'accepted');
    assert.equal(rig.hub.hub.stats().queued, 1);
  });

  it('HTTP: a non-UTF-8 token, a bad lock token, a bad abandon path and a body over 256 KB get IoT Hub errors', async () => {
    const tok = rig.deviceToken('d1');
    const latin = await new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port: rig.ports.https, ca: rig.ca, servername: 'localhost' }, () => {
        s.end(
          Buffer.concat([
            Buffer.from(`GET /devices/d1/messages/devicebound?${API} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: `),
            Buffer.from([0xff, 0xfe, 0x80]),
            Buffer.from('\r\n\r\n'),
          ]),
        );
      });
      let out = '';
      s.on('data', (b: Buffer) => (out += b.toString('latin1')));
      s.on('error', () => undefined);
      s.on('close', () => resolve(/^HTTP\/1\.1 (\d{3})/.exec(out)?.[1] ?? 'none'));
    });
    assert.equal(latin, '401');
    assert.equal(httpCode(await rig.request('DELETE', `/devices/d1/messages/devicebound/not-a-lock?${API}`, { authorization: tok })), '412002');
    assert.equal(httpCode(await rig.request('POST', `/devices/d1/messages/devicebound/x/abandon/more?${API}`, { authorization: tok })), '404000');
    const big = await rig.request(
      'POST',
      `/devices/d1/messages/events?${API}`,
      { authorization: tok, 'content-type': 'application/octet-stream' },
      Buffer.alloc(300 * 1024),
    );
    assert.equal(big.status, 413);
    // Still serving: the device gets the good message.
    const got = await rig.request('GET', `/devices/d1/messages/devicebound?${API}`, { authorization: tok });
    assert.equal(got.status, 200);
    assert.equal(got.headers['iothub-messageid'], 'good');
  });

  it('MQTT: a non-UTF-8 user name or client id is refused, a good device still connects', async () => {
    const bad = await rig.mqtt('d1', rig.deviceToken('d1'), { username: Buffer.from([0xff, 0xfe]) as never });
    assert.ok('refused' in bad, 'a garbled user name is refused');
    const good = await rig.mqtt('d1', rig.deviceToken('d1'));
    assert.ok(!('refused' in good));
    good.end(true);
  });
});

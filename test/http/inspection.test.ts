/**
 * The inspection routes under /c2d on a real hub over real HTTPS: peek,
 * dead letters (list, requeue, delete), cancel, trace and stats, with their
 * JSON shapes, their errors (IoT Hub's shape and codes), and their rights:
 * reading needs RegistryRead, changing needs ServiceConnect.
 */
import { strict as assert } from 'node:assert';
import { hubPaths, inspectionPaths } from '../../lib/common/codec/http-paths';
import { startRig, type HttpReply, type Rig } from './helpers';

type J = Record<string, unknown>;

describe('HTTPS inspection routes (/c2d): peek, dead letters, requeue, cancel, trace', () => {
  let rig: Rig;
  let reader: Record<string, string>;
  let service: Record<string, string>;
  before(async () => {
    rig = await startRig();
    reader = { authorization: rig.serviceToken('reader') };
    service = { authorization: rig.serviceToken('service') };
  });
  after(async () => {
    await rig.close();
  });

  /** The IoT Hub error a reply carries: its status, `iothub-errorcode` and the code in ExceptionMessage. */
  function errorOf(r: HttpReply): [number, string | string[] | undefined, string] {
    return [r.status, r.headers['iothub-errorcode'], String((r.json() as J).ExceptionMessage).split(' ')[0]!];
  }

  async function rejected(deviceId: string, messageId: string, body = `body of ${messageId}`): Promise<void> {
    await rig.hub.send(deviceId, { body: Buffer.from(body), messageId, properties: { room: 'hall' } });
    const m = await rig.hub.receive(deviceId);
    assert.ok(m && m.messageId === messageId);
    await rig.hub.reject(deviceId, m.lockToken);
  }

  it('peek: pending messages in order with state, lock expiry (ISO), delivery count and size; the body (base64) only on request; no lock token', async () => {
    await rig.addDevice('in-peek');
    await rig.hub.send('in-peek', { body: Buffer.from('first'), messageId: 'p1', properties: { a: '1' } });
    await rig.hub.send('in-peek', { body: Buffer.from('second'), messageId: 'p2' });
    const locked = await rig.hub.receive('in-peek');
    const r = await rig.request('GET', inspectionPaths.queue('in-peek'), { headers: reader });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/json; charset=utf-8');
    const items = r.json() as J[];
    assert.deepEqual(
      items.map((v) => [v.messageId, v.state, v.deliveryCount, v.lockedUntilUtc]),
      [
        ['p1', 'Invisible', 0, new Date(locked!.lockedUntilUtc).toISOString()],
        ['p2', 'Enqueued', 0, undefined],
      ],
    );
    assert.deepEqual(items[0]!.properties, { a: '1' });
    assert.equal(typeof items[0]!.size, 'number');
    assert.match(String(items[0]!.expiryTimeUtc), /^\d{4}-\d\d-\d\dT.*Z$/);
    assert.equal(items[0]!.body, undefined);
    assert.ok(!r.text.includes(locked!.lockToken), 'no lock token');
    const withBody = (await rig.request('GET', `${inspectionPaths.queue('in-peek')}?includeBody=true`, { headers: reader })).json() as J[];
    assert.equal(Buffer.from(String(withBody[1]!.body), 'base64').toString(), 'second');
    assert.deepEqual(errorOf(await rig.request('GET', inspectionPaths.queue('nobody'), { headers: reader })), [404, 'DeviceNotFound', '404001']);
    assert.deepEqual(errorOf(await rig.request('GET', `${inspectionPaths.queue('in-peek')}?includeBody=maybe`, { headers: reader })), [
      400,
      'ArgumentInvalid',
      '400004',
    ]);
  });

  it('dead letters: hub-wide and per device, paged, with reason, time and body; requeue sends one again, delete drops one', async () => {
    await rig.addDevice('in-dl-a');
    await rig.addDevice('in-dl-b');
    await rejected('in-dl-a', 'a1');
    await rejected('in-dl-a', 'a2');
    await rejected('in-dl-b', 'b1');
    const page = (await rig.request('GET', `${inspectionPaths.deadLetters('in-dl-a')}?includeBody=true`, { headers: reader })).json() as {
      items: J[];
      total: number;
    };
    assert.equal(page.total, 2);
    assert.deepEqual(
      page.items.map((d) => [d.deviceId, d.messageId, d.reason]),
      [
        ['in-dl-a', 'a1', 'Rejected'],
        ['in-dl-a', 'a2', 'Rejected'],
      ],
    );
    assert.equal(Buffer.from(String(page.items[0]!.body), 'base64').toString(), 'body of a1');
    assert.deepEqual(page.items[0]!.properties, { room: 'hall' });
    assert.match(String(page.items[0]!.deadLetteredTimeUtc), /Z$/);

    const all = (await rig.request('GET', `${inspectionPaths.deadLetters()}?offset=1&limit=2`, { headers: reader })).json() as { items: J[]; total: number };
    assert.equal(all.total, 3);
    assert.deepEqual(
      all.items.map((d) => d.messageId),
      ['a2', 'b1'],
    );
    assert.equal(all.items[0]!.body, undefined, 'no bodies unless asked');
    assert.deepEqual(errorOf(await rig.request('GET', `${inspectionPaths.deadLetters()}?limit=ten`, { headers: reader })), [400, 'ArgumentInvalid', '400004']);
    assert.deepEqual(errorOf(await rig.request('GET', `${inspectionPaths.deadLetters()}?limit=0`, { headers: reader })), [400, 'ArgumentInvalid', '400004']);

    const seqA1 = Number(page.items[0]!.sequenceNumber);
    const rq = await rig.request('POST', inspectionPaths.requeue('in-dl-a', seqA1), { headers: service });
    assert.equal(rq.status, 200);
    const again = rq.json() as J;
    assert.equal(again.messageId, 'a1');
    assert.ok(Number(again.sequenceNumber) > seqA1, 'a new sequence number');
    assert.match(String(again.enqueuedTimeUtc), /Z$/);
    const m = await rig.hub.receive('in-dl-a');
    assert.deepEqual([m?.messageId, m?.deliveryCount, m?.body.toString()], ['a1', 0, 'body of a1']);
    await rig.hub.complete('in-dl-a', m!.lockToken);

    const seqA2 = Number(page.items[1]!.sequenceNumber);
    assert.equal((await rig.request('DELETE', inspectionPaths.deadLetter('in-dl-a', seqA2), { headers: service })).status, 204);
    assert.equal(rig.hub.deadLetters({ deviceId: 'in-dl-a' }).total, 0);
    assert.deepEqual(errorOf(await rig.request('DELETE', inspectionPaths.deadLetter('in-dl-a', seqA2), { headers: service })), [
      404,
      'MessageNotFound',
      '404000',
    ]);
    assert.deepEqual(errorOf(await rig.request('POST', inspectionPaths.requeue('in-dl-a', 999_999), { headers: service })), [404, 'MessageNotFound', '404000']);
    assert.deepEqual(errorOf(await rig.request('POST', '/c2d/devices/in-dl-a/deadletters/b1/requeue', { headers: service })), [
      400,
      'ArgumentInvalid',
      '400004',
    ]);
    assert.deepEqual(errorOf(await rig.request('GET', inspectionPaths.deadLetters('nobody'), { headers: reader })), [404, 'DeviceNotFound', '404001']);
  });

  it('requeue into a full queue is refused with 403004 and keeps the dead letter', async () => {
    await rig.addDevice('in-full');
    await rejected('in-full', 'kept');
    for (let i = 0; i < rig.hub.limits.maxQueueDepth; i++) await rig.hub.send('in-full', { body: Buffer.from(String(i)) });
    const seq = rig.hub.deadLetters({ deviceId: 'in-full' }).items[0]!.sequenceNumber;
    assert.deepEqual(errorOf(await rig.request('POST', inspectionPaths.requeue('in-full', seq), { headers: service })), [
      403,
      'DeviceMaximumQueueDepthExceeded',
      '403004',
    ]);
    assert.equal(rig.hub.deadLetters({ deviceId: 'in-full' }).total, 1);
  });

  it('cancel removes one pending message by messageId (404000 when none); trace shows its life; stats the counts', async () => {
    await rig.addDevice('in-cancel');
    await rig.hub.send('in-cancel', { body: Buffer.from('x'), messageId: 'keep' });
    await rig.hub.send('in-cancel', { body: Buffer.from('y'), messageId: 'go+away' });
    const c = await rig.request('DELETE', inspectionPaths.queueMessage('in-cancel', 'go+away'), { headers: service });
    assert.equal(c.status, 200);
    assert.deepEqual(c.json(), { deviceId: 'in-cancel', messageId: 'go+away', cancelled: 1 });
    assert.deepEqual(
      rig.hub.peek('in-cancel').map((v) => v.messageId),
      ['keep'],
    );
    assert.deepEqual(errorOf(await rig.request('DELETE', inspectionPaths.queueMessage('in-cancel', 'go+away'), { headers: service })), [
      404,
      'MessageNotFound',
      '404000',
    ]);

    await rig.hub.idle();
    const t = await rig.request('GET', inspectionPaths.trace('go+away'), { headers: reader });
    assert.equal(t.status, 200);
    const entries = t.json() as J[];
    assert.deepEqual(
      entries.map((e) => e.event),
      ['enqueued', 'cancelled'],
    );
    assert.equal(entries[0]!.deviceId, 'in-cancel');
    assert.equal(entries[0]!.time, new Date(rig.clock.now()).toISOString());
    assert.deepEqual((await rig.request('GET', inspectionPaths.trace('never-sent'), { headers: reader })).json(), []);

    const s = (await rig.request('GET', inspectionPaths.stats(), { headers: reader })).json() as J;
    assert.equal(s.hubName, 'localhost');
    assert.equal(s.devices, rig.hub.stats().devices);
    assert.equal(s.queued, rig.hub.stats().queued);
    assert.equal(typeof s.deadLetters, 'number');
  });

  it('reading needs RegistryRead, changing needs ServiceConnect: anything else is 401003', async () => {
    await rig.addDevice('in-auth');
    await rejected('in-auth', 'x');
    const seq = rig.hub.deadLetters({ deviceId: 'in-auth' }).items[0]!.sequenceNumber;
    await rig.hub.send('in-auth', { body: Buffer.from('p'), messageId: 'pending' });
    const reads: Array<[string, string]> = [
      ['GET', inspectionPaths.stats()],
      ['GET', inspectionPaths.queue('in-auth')],
      ['GET', inspectionPaths.deadLetters()],
      ['GET', inspectionPaths.deadLetters('in-auth')],
      ['GET', inspectionPaths.trace('x')],
    ];
    const writes: Array<[string, string]> = [
      ['DELETE', inspectionPaths.queueMessage('in-auth', 'pending')],
      ['POST', inspectionPaths.requeue('in-auth', seq)],
      ['DELETE', inspectionPaths.deadLetter('in-auth', seq)],
    ];
    const device = { authorization: rig.deviceToken('in-auth', rig.hub.registry.getDevice('in-auth')!.authentication.symmetricKey.primaryKey!) };
    for (const [method, path] of [...reads, ...writes]) {
      assert.equal(errorOf(await rig.request(method, path))[2], '401003', `${method} ${path} without a token`);
      assert.equal(errorOf(await rig.request(method, path, { headers: device }))[2], '401003', `${method} ${path} with a device token`);
    }
    for (const [method, path] of reads) {
      assert.equal(errorOf(await rig.request(method, path, { headers: service }))[2], '401003', `${method} ${path}: ServiceConnect is not RegistryRead`);
      assert.equal((await rig.request(method, path, { headers: reader })).status, 200, `${method} ${path} with RegistryRead`);
    }
    for (const [method, path] of writes) {
      assert.equal(errorOf(await rig.request(method, path, { headers: reader }))[2], '401003', `${method} ${path}: RegistryRead is not ServiceConnect`);
    }
    assert.equal(rig.hub.peek('in-auth').length, 1, 'nothing changed by a refused request');
    assert.equal(rig.hub.deadLetters({ deviceId: 'in-auth' }).total, 1);
    // The owner policy holds every right (requeue was shown with ServiceConnect above).
    const owner = { authorization: rig.serviceToken('owner') };
    for (const [method, path] of writes.filter(([, p]) => !p.endsWith('/requeue'))) {
      assert.ok([200, 204].includes((await rig.request(method, path, { headers: owner })).status), `${method} ${path} as owner`);
    }
  });

  it("POST /c2d/devices/{id}/faults injects a fault (ServiceConnect): InvokeThrottling refuses the device's HTTPS sends 429001; bad requests are 400004 / 404001", async () => {
    const key = await rig.addDevice('in-fault');
    const device = { authorization: rig.deviceToken('in-fault', key) };
    const send = async (): Promise<number> => (await rig.request('POST', hubPaths.deviceEvents('in-fault'), { headers: device, body: 'hello' })).status;
    assert.equal(await send(), 204);
    const body = JSON.stringify({ type: 'InvokeThrottling', delayInSecs: 0, durationInSecs: 60 });
    assert.equal(
      errorOf(await rig.request('POST', inspectionPaths.fault('in-fault'), { headers: reader, body }))[2],
      '401003',
      'RegistryRead is not ServiceConnect',
    );
    assert.equal(await send(), 204, 'nothing injected by a refused request');
    const r = await rig.request('POST', inspectionPaths.fault('in-fault'), { headers: service, body });
    assert.equal(r.status, 200);
    const scheduled = r.json() as J;
    assert.deepEqual(
      [scheduled.deviceId, scheduled.type, Date.parse(String(scheduled.untilUtc)) - Date.parse(String(scheduled.dueTimeUtc))],
      ['in-fault', 'InvokeThrottling', 60_000],
    );
    rig.clock.advance(0); // the delay (0 s) runs on the hub's clock
    assert.equal(await send(), 429);
    rig.clock.advance(60_000);
    assert.equal(await send(), 204, 'over after its duration');
    const bad = await rig.request('POST', inspectionPaths.fault('in-fault'), { headers: service, body: JSON.stringify({ type: 'KillEverything' }) });
    assert.deepEqual(errorOf(bad), [400, 'ArgumentInvalid', '400004']);
    assert.match(String((bad.json() as J).Message ?? (bad.json() as J).ExceptionMessage), /type must be one of KillTcp/);
    assert.deepEqual(
      errorOf(await rig.request('POST', inspectionPaths.fault('in-fault'), { headers: service, body: JSON.stringify({ type: 'KillTcp', delayInSecs: -1 }) })),
      [400, 'ArgumentInvalid', '400004'],
    );
    assert.deepEqual(errorOf(await rig.request('POST', inspectionPaths.fault('in-fault'), { headers: service, body: 'not json' })), [
      400,
      'ArgumentInvalid',
      '400004',
    ]);
    assert.deepEqual(errorOf(await rig.request('POST', inspectionPaths.fault('nobody'), { headers: service, body: JSON.stringify({ type: 'KillTcp' }) })), [
      404,
      'DeviceNotFound',
      '404001',
    ]);
  });

  it('a path under /c2d that is not a route is 404; a wrong method is 405 with Allow', async () => {
    const nf = await rig.request('GET', '/c2d/devices/x/somewhere', { headers: reader });
    assert.equal(nf.status, 404);
    const wrong = await rig.request('PUT', inspectionPaths.queue('x'), { headers: reader });
    assert.equal(wrong.status, 405);
    assert.equal(wrong.headers.allow, 'GET');
  });
});

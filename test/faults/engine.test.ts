/**
 * Fault injection in the engine (lib/hub/engine/faults.ts): how a D2C fault
 * request is read, when and where the fault goes, and what a timed fault
 * refuses. Connections are stand-in SessionSinks that record what they are
 * asked; the servers' own handling is tested per transport beside this file.
 */
import assert from 'node:assert/strict';
import { ManualClock } from '../../lib/common/clock';
import { createSas } from '../../lib/common/sas';
import { FAULT_PROPERTIES, faultRequestProperties, type ConnectionFault } from '../../lib/common/fault-injection';
import type { HubEventMap, SessionSink } from '../../lib/hub/api';
import { Hub } from '../../lib/hub';
import { codeOf } from '../engine/helpers';

type Events = { [K in keyof HubEventMap]: HubEventMap[K][] };

function record(hub: Hub): Events {
  const seen = { fault: [], warning: [], deviceToCloud: [] } as unknown as Events;
  for (const name of ['fault', 'warning', 'deviceToCloud'] as const) hub.events.on(name, ((e: unknown) => void (seen[name] as unknown[]).push(e)) as never);
  return seen;
}

/** A connection that performs every fault it is given (or none) and remembers them. */
function sink(canDo: (f: ConnectionFault) => boolean = () => true): SessionSink & { faults: ConnectionFault[]; ended: () => void } {
  const faults: ConnectionFault[] = [];
  return {
    faults,
    ended: () => undefined,
    fault(f) {
      if (!canDo(f)) return false;
      faults.push(f);
      return true;
    },
  };
}

describe('Fault injection: the engine', () => {
  let hub: Hub;
  let clock: ManualClock;
  let seen: Events;

  beforeEach(async () => {
    clock = new ManualClock(Date.now());
    hub = await Hub.open({ clock });
    await hub.registry.createDevice({ deviceId: 'd1' });
    await hub.registry.createDevice({ deviceId: 'd2' });
    seen = record(hub);
  });

  afterEach(() => hub.close());

  it('a D2C message with the fault properties is performed after its delay, on the connection it came over only', async () => {
    const mine = sink();
    const other = sink();
    const neighbour = sink();
    const via = hub.openSession('d1', 'amqp', mine);
    hub.openSession('d1', 'amqp', other);
    hub.openSession('d2', 'amqp', neighbour);
    hub.noteDeviceToCloud('d1', Buffer.from('x'), faultRequestProperties({ type: 'KillAmqpConnection', closeReason: 'boom', delayInSecs: 2 }), via);
    clock.advance(1999);
    assert.deepEqual(mine.faults, []);
    clock.advance(1);
    assert.deepEqual(mine.faults, [{ type: 'KillAmqpConnection', closeReason: 'boom' }]);
    assert.deepEqual(other.faults, [], 'another connection of the same device');
    assert.deepEqual(neighbour.faults, [], 'another device');
    await hub.idle();
    assert.equal(seen.deviceToCloud.length, 0, 'a fault request is not reported as D2C');
    assert.deepEqual(
      seen.fault.map((e) => [e.phase, e.type, e.transport]),
      [
        ['requested', 'KillAmqpConnection', 'amqp'],
        ['performed', 'KillAmqpConnection', 'amqp'],
      ],
    );
  });

  it("without a connection to come over (HTTPS, the API), the fault goes to each of the device's connections it applies to", async () => {
    const amqp = sink();
    const mqtt = sink();
    hub.openSession('d1', 'amqp', amqp);
    hub.openSession('d1', 'mqtt', mqtt);
    hub.noteDeviceToCloud('d1', Buffer.alloc(0), faultRequestProperties({ type: 'KillTcp' }));
    clock.advance(0);
    assert.equal(amqp.faults.length, 1);
    assert.equal(mqtt.faults.length, 1);
    hub.injectFault('d1', { type: 'ShutDownMqtt' });
    clock.advance(0);
    assert.deepEqual(
      mqtt.faults.map((f) => f.type),
      ['KillTcp', 'ShutDownMqtt'],
    );
    assert.deepEqual(
      amqp.faults.map((f) => f.type),
      ['KillTcp'],
      "ShutDownMqtt is not AMQP's",
    );
  });

  it('a fault no connection can perform is a warning, not an error', async () => {
    hub.openSession(
      'd1',
      'amqp',
      sink(() => false),
    );
    hub.injectFault('d1', { type: 'KillAmqpC2DLink' });
    hub.injectFault('d2', { type: 'KillTcp' });
    clock.advance(0);
    await hub.idle();
    assert.deepEqual(
      seen.warning.map((w) => w.deviceId),
      ['d1', 'd2'],
    );
    assert.match(seen.warning[0]!.message, /KillAmqpC2DLink not performed/);
  });

  it("the connection the request came over closed meanwhile: the device's newer one of that transport gets it", () => {
    const old = sink();
    const via = hub.openSession('d1', 'mqtt', old);
    hub.noteDeviceToCloud('d1', Buffer.alloc(0), faultRequestProperties({ type: 'KillTcp', delayInSecs: 1 }), via);
    via.close();
    const newer = sink();
    hub.openSession('d1', 'mqtt', newer);
    const amqp = sink();
    hub.openSession('d1', 'amqp', amqp);
    clock.advance(1000);
    assert.equal(newer.faults.length, 1);
    assert.equal(old.faults.length, 0);
    assert.equal(amqp.faults.length, 0);
  });

  for (const [name, props, property] of [
    ['an unknown type', { [FAULT_PROPERTIES.type]: 'KillEverything' }, FAULT_PROPERTIES.type],
    ['a negative delay', { [FAULT_PROPERTIES.type]: 'KillTcp', [FAULT_PROPERTIES.delayInSecs]: '-1' }, FAULT_PROPERTIES.delayInSecs],
    ['a delay that is no number', { [FAULT_PROPERTIES.type]: 'KillTcp', [FAULT_PROPERTIES.delayInSecs]: 'soon' }, FAULT_PROPERTIES.delayInSecs],
    [
      'a duration of more than an hour',
      { [FAULT_PROPERTIES.type]: 'InvokeThrottling', [FAULT_PROPERTIES.durationInSecs]: '3601' },
      FAULT_PROPERTIES.durationInSecs,
    ],
  ] as const) {
    it(`${name}: the message is ordinary D2C, and a warning names the property`, async () => {
      const s = sink();
      hub.openSession('d1', 'amqp', s);
      hub.noteDeviceToCloud('d1', Buffer.from('hello'), { ...props, other: 'kept' });
      clock.advance(10_000);
      await hub.idle();
      assert.equal(s.faults.length, 0);
      assert.equal(seen.deviceToCloud.length, 1);
      assert.equal(seen.deviceToCloud[0]!.properties.other, 'kept');
      assert.equal(seen.warning.length, 1);
      assert.equal(seen.warning[0]!.property, property);
      assert.match(seen.warning[0]!.message, new RegExp(property));
    });
  }

  it("the SDK suites' values are read: a number property (Node sends an int over AMQP), a fractional delay, no duration", () => {
    const s = sink();
    const via = hub.openSession('d1', 'amqp', s);
    hub.noteDeviceToCloud(
      'd1',
      Buffer.alloc(0),
      { [FAULT_PROPERTIES.type]: 'KillTcp', [FAULT_PROPERTIES.closeReason]: ' severs the TCP connection ', [FAULT_PROPERTIES.delayInSecs]: '0.5' },
      via,
    );
    clock.advance(499);
    assert.equal(s.faults.length, 0);
    clock.advance(1);
    assert.deepEqual(s.faults, [{ type: 'KillTcp', closeReason: 'severs the TCP connection' }]);
  });

  it('property names are matched in any case: over HTTPS they arrive as lower-case header names', () => {
    const s = sink();
    hub.openSession('d1', 'amqp', s);
    hub.noteDeviceToCloud('d1', Buffer.alloc(0), { aziothub_faultoperationtype: 'KillTcp', aziothub_faultoperationdelayinsecs: '2' });
    clock.advance(1999);
    assert.equal(s.faults.length, 0);
    clock.advance(1);
    assert.equal(s.faults.length, 1);
  });

  it('with fault injection off, a fault request is ordinary D2C (no warning); the API still injects', async () => {
    await hub.close();
    hub = await Hub.open({ clock, faultInjection: false });
    await hub.registry.createDevice({ deviceId: 'd1' });
    seen = record(hub);
    const s = sink();
    const via = hub.openSession('d1', 'amqp', s);
    hub.noteDeviceToCloud('d1', Buffer.alloc(0), faultRequestProperties({ type: 'KillTcp' }), via);
    clock.advance(0);
    await hub.idle();
    assert.equal(s.faults.length, 0);
    assert.equal(seen.deviceToCloud.length, 1);
    assert.equal(seen.warning.length, 0);
    hub.injectFault('d1', { type: 'KillTcp' });
    clock.advance(0);
    assert.equal(s.faults.length, 1);
  });

  it('InvokeThrottling: D2C sends and HTTPS receives fail 429001 from the delay to the end of the duration, only for that device', async () => {
    hub.noteDeviceToCloud('d1', Buffer.alloc(0), faultRequestProperties({ type: 'InvokeThrottling', delayInSecs: 1, durationInSecs: 3 }));
    const send = () => hub.noteDeviceToCloud('d1', Buffer.from('m'), {});
    assert.equal(await codeOf(send), undefined, 'before the delay');
    clock.advance(1000);
    assert.equal(await codeOf(send), 429001);
    assert.equal(await codeOf(hub.receive('d1')), 429001);
    assert.equal(await codeOf(() => hub.noteDeviceToCloud('d2', Buffer.from('m'), {})), undefined, 'another device');
    // The service side is not the device: sends to it are still accepted.
    await hub.send('d1', { body: Buffer.from('c2d') });
    clock.advance(2999);
    assert.equal(await codeOf(send), 429001);
    clock.advance(1);
    assert.equal(await codeOf(send), undefined);
    assert.ok(await hub.receive('d1'));
    await hub.idle();
    assert.deepEqual(
      seen.fault.map((e) => e.phase).filter((p) => p !== 'refused'),
      ['requested', 'started', 'ended'],
    );
    assert.equal(seen.fault.filter((e) => e.phase === 'refused').length, 3, 'each refusal is reported');
  });

  it('InvokeMaxMessageQuota: the same with 403002 IotHubQuotaExceeded; settlements still work', async () => {
    await hub.send('d1', { body: Buffer.from('c2d') });
    const m = await hub.receive('d1');
    hub.injectFault('d1', { type: 'InvokeMaxMessageQuota', durationInSecs: 2 });
    clock.advance(0);
    assert.equal(await codeOf(() => hub.noteDeviceToCloud('d1', Buffer.from('m'), {})), 403002);
    assert.equal(await codeOf(hub.receive('d1')), 403002);
    await hub.complete('d1', m!.lockToken);
    clock.advance(2000);
    assert.equal(await codeOf(() => hub.noteDeviceToCloud('d1', Buffer.from('m'), {})), undefined);
  });

  it("InvokeAuthError: the device's token, certificate and DeviceConnect acting for it are refused 401003 for the duration", async () => {
    const key = hub.registry.getDevice('d1')!.authentication.symmetricKey.primaryKey!;
    const token = createSas(`${hub.hubName}/devices/d1`, key, Math.floor(clock.now() / 1000) + 3600);
    const owner = hub.registry.getPolicy('iothubowner')!;
    const policy = hub.auth.authenticateSas(createSas(hub.hubName, owner.primaryKey, Math.floor(clock.now() / 1000) + 3600, 'iothubowner'));
    hub.injectFault('d1', { type: 'InvokeAuthError', durationInSecs: 5 });
    clock.advance(0);
    assert.equal(await codeOf(() => hub.auth.authenticateSas(token)), 401003);
    assert.equal(await codeOf(() => hub.auth.assertDevice(policy, 'd1')), 401003);
    assert.equal(await codeOf(() => hub.auth.assertDevice(policy, 'd2')), undefined);
    clock.advance(5000);
    assert.equal(hub.auth.authenticateSas(token).kind, 'device');
  });

  it('injectFault checks what it is given: 404001 for an unknown device, 400004 naming the field', async () => {
    assert.equal(await codeOf(() => hub.injectFault('nobody', { type: 'KillTcp' })), 404001);
    await assert.rejects(async () => hub.injectFault('d1', { type: 'Boom' as never }), /type must be one of KillTcp/);
    await assert.rejects(async () => hub.injectFault('d1', { type: 'KillTcp', delayInSecs: -2 }), /delayInSecs must be a number of seconds/);
    const r = hub.injectFault('d1', { type: 'InvokeThrottling', delayInSecs: 1, durationInSecs: 2 });
    assert.equal(r.dueTimeUtc, clock.now() + 1000);
    assert.equal(r.untilUtc, clock.now() + 3000);
  });

  it("a deleted device's waiting and timed faults go with it", async () => {
    const s = sink();
    hub.openSession('d1', 'amqp', s);
    hub.injectFault('d1', { type: 'KillTcp', delayInSecs: 1 });
    await hub.registry.deleteDevice('d1');
    await hub.registry.createDevice({ deviceId: 'd1' });
    hub.openSession('d1', 'amqp', s);
    clock.advance(1000);
    assert.equal(s.faults.length, 0);
  });
});

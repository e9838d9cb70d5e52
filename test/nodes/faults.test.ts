/**
 * Fault injection from the editor: the c2d-hub node's `fault` action, its
 * "honour fault requests from devices" setting, its fault and warning events,
 * and a c2d-receive on an in-process device whose status shows the drop and
 * the recovery, with every message delivered once. Real Node-RED runtime.
 */
import { strict as assert } from 'node:assert';
import { InProcessDeviceClient } from '../../lib/client/in-process';
import { faultRequestProperties } from '../../lib/common/fault-injection';
import { runningHubs } from '../../nodes/support/hub-registry';
import { ALL_NODES, baseFlow, helper, isConnected, nextMsg, statusReaches, tempDir, type TestNode } from './helpers';

type M = Record<string, unknown>;

/** The next msg on `node` whose topic is `topic` (hub events share one output). */
function nextTopic(node: TestNode, topic: string, match: (m: M) => boolean = () => true, timeoutMs = 10_000): Promise<M> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no '${topic}' msg within ${timeoutMs} ms`)), timeoutMs);
    const on = (m: M): void => {
      if (m.topic !== topic || !match(m)) return;
      clearTimeout(t);
      node.off('input', on);
      resolve(m);
    };
    node.on('input', on);
  });
}

describe('nodes: fault injection', function () {
  this.timeout(20_000);
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => (tmp = tempDir()));
  afterEach(async () => {
    await helper.unload();
    tmp.remove();
  });

  it('msg.action "fault" on c2d-hub: c2d-receive shows the drop (retrying) and the recovery; messages before and after arrive once', async () => {
    await helper.load(ALL_NODES, [
      ...baseFlow(tmp.dir, { wires: [['events']] }),
      { id: 'events', z: 'f1', type: 'helper' },
      { id: 'send', z: 'f1', type: 'c2d-send', hub: 'svc', wires: [[]] },
      { id: 'rx', z: 'f1', type: 'c2d-receive', hub: 'dev', settle: 'emit', wires: [['got']] },
      { id: 'got', z: 'f1', type: 'helper' },
      { id: 'catcher', z: 'f1', type: 'catch', scope: ['hub'], wires: [['caught']] },
      { id: 'caught', z: 'f1', type: 'helper' },
    ]);
    const hub = helper.getNode('hub');
    await hub.ready;
    const rx = helper.getNode('rx');
    const got = helper.getNode('got');
    const events = helper.getNode('events');
    await statusReaches(rx, isConnected);
    await statusReaches(helper.getNode('send'), isConnected);

    const first = nextMsg(got);
    helper.getNode('send').receive({ payload: 'before', deviceId: 'dev1', messageId: 'before' });
    assert.equal((await first).messageId, 'before');

    const result = nextTopic(events, 'fault', (m) => (m.payload as M).phase === 'requested');
    const performed = nextTopic(events, 'fault', (m) => (m.payload as M).phase === 'performed');
    const dropped = statusReaches(rx, (s) => s.fill === 'yellow' && /^retrying: 404104 DeviceConnectionClosedRemotely/.test(String(s.text)));
    hub.receive({ action: 'fault', payload: { deviceId: 'dev1', type: 'KillTcp', closeReason: 'from the flow' } });
    assert.equal(((await result).payload as M).source, 'api');
    assert.equal(((await performed).payload as M).transport, 'in-process');
    await dropped;
    await statusReaches(rx, isConnected);

    const second = nextMsg(got);
    helper.getNode('send').receive({ payload: 'after', deviceId: 'dev1', messageId: 'after' });
    assert.equal((await second).messageId, 'after');

    // Bad requests are the flow's errors, with IoT Hub's code, and name what is wrong.
    const caught = nextMsg(helper.getNode('caught'));
    hub.receive({ action: 'fault', payload: { deviceId: 'dev1', type: 'KillEverything' } });
    const err = (await caught).error as M;
    assert.equal(err.code, 400004);
    assert.match(String(err.message), /type must be one of KillTcp/);
    const unknown = nextMsg(helper.getNode('caught'));
    hub.receive({ action: 'fault', payload: { deviceId: 'nobody', type: 'KillTcp' } });
    assert.equal(((await unknown).error as M).code, 404001);

    // The action's result: the fault scheduled, its times as ISO-8601 like the other actions' results.
    const scheduled = nextTopic(events, 'scheduled');
    hub.receive({ action: 'fault', topic: 'scheduled', deviceId: 'dev1', payload: { type: 'InvokeThrottling', delayInSecs: 60, durationInSecs: 10 } });
    const r = (await scheduled).payload as M;
    assert.deepEqual([r.deviceId, r.type], ['dev1', 'InvokeThrottling']);
    assert.equal(Date.parse(String(r.untilUtc)) - Date.parse(String(r.dueTimeUtc)), 10_000);
    assert.match(String(r.dueTimeUtc), /^\d{4}-\d\d-\d\dT/);
  });

  it("a device's D2C fault request is honoured by default; with the setting off it is an ordinary deviceToCloud event", async () => {
    for (const faultInjection of [true, false]) {
      await helper.load(ALL_NODES, [...baseFlow(tmp.dir, { faultInjection, wires: [['events']] }), { id: 'events', z: 'f1', type: 'helper' }]);
      const hub = helper.getNode('hub');
      await hub.ready;
      const events = helper.getNode('events');
      const device = new InProcessDeviceClient(runningHubs.get('hub')!, 'dev1');
      await device.open();
      const next = faultInjection ? nextTopic(events, 'fault') : nextTopic(events, 'deviceToCloud');
      await device.sendEvent(Buffer.from('f'), faultRequestProperties({ type: 'InvokeThrottling', delayInSecs: 60 }));
      const m = await next;
      if (faultInjection)
        assert.deepEqual([(m.payload as M).type, (m.payload as M).phase, (m.payload as M).source], ['InvokeThrottling', 'requested', 'device']);
      else assert.equal(((m.payload as M).properties as M).AzIoTHub_FaultOperationType, 'InvokeThrottling');
      await device.close();
      await helper.unload();
    }
  });

  it('a fault request the hub cannot read is a warning event naming the property', async () => {
    await helper.load(ALL_NODES, [...baseFlow(tmp.dir, { wires: [['events']] }), { id: 'events', z: 'f1', type: 'helper' }]);
    await helper.getNode('hub').ready;
    const device = new InProcessDeviceClient(runningHubs.get('hub')!, 'dev1');
    await device.open();
    const warning = nextTopic(helper.getNode('events'), 'warning');
    await device.sendEvent(Buffer.from('f'), { AzIoTHub_FaultOperationType: 'KillTcp', AzIoTHub_FaultOperationDelayInSecs: 'later' });
    const w = (await warning).payload as M;
    assert.equal(w.property, 'AzIoTHub_FaultOperationDelayInSecs');
    assert.equal(w.deviceId, 'dev1');
    await device.close();
  });
});

/**
 * One fault, end to end, as the SDK suites run it: a device receives C2D,
 * asks the hub for a fault over its own D2C, and the messages sent before,
 * during and after the fault must each arrive (at least once) and be settled
 * exactly once, with one Success feedback record each. The device is an
 * adapter, so the official SDK and our DeviceClient run the same story.
 * The hub runs on a ManualClock: the test moves it past the fault's delay.
 */
import assert from 'node:assert/strict';
import type { ManualClock } from '../../lib/common/clock';
import type { FaultRequest } from '../../lib/common/fault-injection';
import type { FeedbackRecord } from '../../lib/common/message';
import type { HubEventMap, HubEventName } from '../../lib/hub/api';
import type { Hub } from '../../lib/hub';

/** Messages as they arrive, taken one at a time. */
export class Inbox<T> {
  private readonly queue: T[] = [];
  private readonly waiters: ((m: T) => void)[] = [];
  push(m: T): void {
    const w = this.waiters.shift();
    if (w) w(m);
    else this.queue.push(m);
  }
  next(timeoutMs = 15_000, what = 'a message'): Promise<T> {
    const m = this.queue.shift();
    if (m !== undefined) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${what} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(timer);
        resolve(x);
      });
    });
  }
}

/** A received C2D message, as the scenario needs it. */
export interface Arrival {
  messageId: string;
  complete(): Promise<void>;
}

export interface FaultDevice {
  readonly inbox: Inbox<Arrival>;
  /** The device settles on arrival, whatever the app does (the Node SDK over MQTT: mqtt.js sends the PUBACK). */
  readonly settlesOnArrival?: boolean;
  /** Sends the fault request as a D2C message on the device's connection (resolves when sent or refused). */
  requestFault(r: FaultRequest): Promise<void>;
}

/** The next hub event of `name` that `match` accepts. */
export function nextEvent<K extends HubEventName>(
  hub: Hub,
  name: K,
  match: (e: HubEventMap[K]) => boolean = () => true,
  timeoutMs = 15_000,
): Promise<HubEventMap[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      hub.events.off(name, listener);
      reject(new Error(`no '${name}' event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (e: HubEventMap[K]): void => {
      if (!match(e)) return;
      clearTimeout(timer);
      hub.events.off(name, listener);
      resolve(e);
    };
    hub.events.on(name, listener);
  });
}

/** Counts settlements and feedback records per message id from the hub's events. */
export class Ledger {
  readonly completed = new Map<string, number>();
  readonly records: FeedbackRecord[] = [];
  private readonly off: (() => void)[] = [];
  constructor(
    private readonly hub: Hub,
    deviceId: string,
  ) {
    const onCompleted = (e: HubEventMap['completed']): void => {
      if (e.deviceId === deviceId) this.completed.set(e.messageId, (this.completed.get(e.messageId) ?? 0) + 1);
    };
    const onFeedback = (e: HubEventMap['feedback']): void => void this.records.push(...e.records.filter((r) => r.deviceId === deviceId));
    hub.events.on('completed', onCompleted);
    hub.events.on('feedback', onFeedback);
    this.off.push(
      () => hub.events.off('completed', onCompleted),
      () => hub.events.off('feedback', onFeedback),
    );
  }

  /**
   * Each id completed once, and one Success record each. A client may report a settlement
   * done once it is sent (the Node SDK presettles): wait for the hub to have applied them.
   */
  async assertSettledOnce(ids: string[], timeoutMs = 10_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (ids.some((id) => !this.completed.has(id)) && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    await this.hub.idle();
    await this.hub.flushFeedback();
    await this.hub.idle();
    for (const id of ids) {
      assert.equal(this.completed.get(id), 1, `${id} completed once`);
      const recs = this.records.filter((r) => r.originalMessageId === id);
      assert.deepEqual(
        recs.map((r) => r.statusCode),
        ['Success'],
        `${id}: one Success feedback record`,
      );
    }
  }

  close(): void {
    for (const f of this.off.splice(0)) f();
  }
}

export interface ScenarioOptions {
  hub: Hub;
  clock: ManualClock;
  deviceId: string;
  device: FaultDevice;
  fault: FaultRequest['type'];
  /**
   * What the device's connection does: 'drop' (the hub sees it go and come back: the client
   * reconnects by itself), 'stay' (the fault leaves the connection up, e.g. our client re-attaches
   * a detached D2C link), or a function that brings it back (NoRetry: the test reopens).
   */
  recovery: 'drop' | 'stay' | (() => Promise<void>);
  /** Time to move the hub's clock once the fault was asked for (its delay). */
  delayInSecs?: number;
}

async function send(hub: Hub, deviceId: string, messageId: string): Promise<void> {
  await hub.send(deviceId, { body: Buffer.from(messageId), messageId, ack: 'full' });
}

/** Until the device has received `id`; returns that arrival. Other arrivals are completed on the way (redeliveries). */
async function arrival(device: FaultDevice, id: string, settle: Map<string, Arrival[]>): Promise<Arrival> {
  for (;;) {
    const a = await device.inbox.next(15_000, `message '${id}'`);
    const list = settle.get(a.messageId) ?? [];
    list.push(a);
    settle.set(a.messageId, list);
    if (a.messageId === id) return a;
  }
}

/**
 * Runs the story; resolves with the arrivals per message id. `before-1` is completed before the
 * fault, `before-2` is still locked (unsettled) when it strikes, `during` is sent while the device
 * is cut off, `after` once it is back.
 */
export async function faultScenario(o: ScenarioOptions): Promise<Map<string, Arrival[]>> {
  const { hub, clock, deviceId, device } = o;
  const ledger = new Ledger(hub, deviceId);
  const seen = new Map<string, Arrival[]>();
  let requests = 0;
  const countRequests = (e: HubEventMap['fault']): void => {
    if (e.deviceId === deviceId && e.phase === 'requested') requests++;
  };
  hub.events.on('fault', countRequests);
  try {
    await send(hub, deviceId, 'before-1');
    await (await arrival(device, 'before-1', seen)).complete();
    await send(hub, deviceId, 'before-2');
    const held = await arrival(device, 'before-2', seen);

    const delay = o.delayInSecs ?? 1;
    const requested = nextEvent(hub, 'fault', (e) => e.deviceId === deviceId && e.phase === 'requested');
    await device.requestFault({ type: o.fault, closeReason: `test ${o.fault}`, delayInSecs: delay });
    await requested;
    const gone = o.recovery === 'stay' ? undefined : nextEvent(hub, 'deviceDisconnected', (e) => e.deviceId === deviceId);
    const performed = nextEvent(hub, 'fault', (e) => e.deviceId === deviceId && e.phase === 'performed');
    clock.advance(delay * 1000);
    await performed;
    await gone;
    await send(hub, deviceId, 'during');
    if (typeof o.recovery === 'function') {
      const back = nextEvent(hub, 'deviceConnected', (e) => e.deviceId === deviceId);
      await o.recovery();
      await back;
    } else if (o.recovery === 'drop') {
      await nextEvent(hub, 'deviceConnected', (e) => e.deviceId === deviceId);
    }
    await send(hub, deviceId, 'after');

    // before-2 is back (its lock was released by the drop), or still locked on a connection that stayed,
    // or was settled on arrival by the device itself.
    const redelivered = o.recovery !== 'stay' && !device.settlesOnArrival;
    if (!redelivered) await held.complete();
    const pending = new Set(['during', 'after', ...(redelivered ? ['before-2'] : [])]);
    while (pending.size > 0) {
      const a = await device.inbox.next(15_000, `one of ${[...pending].join(', ')}`);
      seen.set(a.messageId, [...(seen.get(a.messageId) ?? []), a]);
      if (!pending.delete(a.messageId)) continue;
      await a.complete();
    }
    await ledger.assertSettledOnce(['before-1', 'before-2', 'during', 'after']);
    // A request the hub took but the device did not hear acknowledged (an MQTT PUBACK lost to the fault) would come again.
    assert.equal(requests, 1, 'the fault request was taken once');
    return seen;
  } finally {
    ledger.close();
    hub.events.off('fault', countRequests);
  }
}

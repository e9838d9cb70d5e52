/**
 * Fault injection (lib/common/fault-injection.ts): a fault asked for by a
 * device's D2C message or through the API is performed after its delay on
 * that device's own connections and on nothing else.
 *
 * - A connection fault is handed to the SessionSink of the connection the
 *   request came over (or, asked through the API or over HTTPS, of each of
 *   the device's connections it applies to); the server performs it with
 *   its own means (socket, AMQP close, detach...). A connection that cannot
 *   perform it, or no connection at all, gives a `warning` event.
 * - A timed fault refuses the device's operations until it ends: D2C sends
 *   and HTTPS receives with 429001 (InvokeThrottling) or 403002
 *   (InvokeMaxMessageQuota), connects and token renewals with 401003
 *   (InvokeAuthError). Settlements are never refused, so nothing received
 *   before a fault is stranded by it.
 *
 * The checks on the message path look at one Map's size; with no timed
 * fault in force they cost nothing else.
 */
import type { Cancel, Clock } from '../../common/clock';
import { C2DError, errors } from '../../common/errors';
import { BadFaultRequest, faultAppliesTo, faultRequestOf, isConnectionFault, type CheckedFault, type TimedFaultType } from '../../common/fault-injection';
import type { Properties } from '../../common/message';
import type { DeviceSession, FaultScheduled } from '../api';
import type { EventOutbox } from './outbox';
import type { Sessions } from './sessions';

/** The error each timed fault refuses with. */
const REFUSAL: Record<TimedFaultType, (deviceId: string) => C2DError> = {
  InvokeThrottling: (d) => new C2DError('ThrottlingException', `Device '${d}' is throttled (fault injected: InvokeThrottling); retry later.`),
  InvokeMaxMessageQuota: (d) => new C2DError('IotHubQuotaExceeded', `The message quota is used up for device '${d}' (fault injected: InvokeMaxMessageQuota).`),
  InvokeAuthError: (d) => errors.unauthorized(`Device '${d}' may not authenticate now (fault injected: InvokeAuthError).`),
};

export class FaultInjector {
  /** Timed faults in force: device -> fault -> when it ends (epoch ms). Empty: no check does more than read its size. */
  private readonly timed = new Map<string, Map<TimedFaultType, { untilMs: number; cancel: Cancel }>>();
  /** Faults waiting for their delay, per device. */
  private readonly waiting = new Map<string, Set<Cancel>>();

  constructor(
    private readonly clock: Clock,
    private readonly outbox: EventOutbox,
    private readonly sessions: Sessions,
    /** Whether D2C messages may ask for faults (`--no-fault-injection` turns it off). */
    private readonly fromDevices: boolean,
  ) {}

  /**
   * A D2C message: true when it was a fault request, now scheduled (the
   * caller reports no ordinary D2C then). A request that cannot be read is an
   * ordinary message, with a warning naming the bad property.
   */
  fromDeviceToCloud(deviceId: string, properties: Properties, via: DeviceSession | undefined): boolean {
    if (!this.fromDevices) return false;
    const r = faultRequestOf(properties);
    if (r === undefined) return false;
    if (r instanceof BadFaultRequest) {
      this.outbox.after(undefined, [
        ['warning', { deviceId, property: r.property, message: `Fault request ignored (the message is handled as ordinary D2C): ${r.message}` }],
      ]);
      return false;
    }
    this.schedule(deviceId, r, via, 'device');
    return true;
  }

  /** A fault asked for through the API (node, admin route): on each of the device's connections it applies to. */
  request(deviceId: string, f: CheckedFault): FaultScheduled {
    return this.schedule(deviceId, f, undefined, 'api');
  }

  private schedule(deviceId: string, f: CheckedFault, via: DeviceSession | undefined, source: 'device' | 'api'): FaultScheduled {
    const dueTimeUtc = this.clock.now() + f.delayMs;
    const scheduled = this.scheduled(deviceId, f, dueTimeUtc);
    this.outbox.after(undefined, [['fault', { ...scheduled, phase: 'requested', source, ...(via ? { transport: via.transport } : {}) }]]);
    // A timed fault due now holds from this moment: the device's very next operation meets it, not
    // only one that arrives after a timer fired. A connection fault still waits for its tick, so
    // the request that asked for it is answered first.
    if (f.delayMs <= 0 && !isConnectionFault(f.type)) {
      this.perform(deviceId, f, via);
      return scheduled;
    }
    let set = this.waiting.get(deviceId);
    if (!set) this.waiting.set(deviceId, (set = new Set()));
    const waiting = set;
    const cancel = this.clock.at(dueTimeUtc, () => {
      waiting.delete(cancel);
      if (waiting.size === 0 && this.waiting.get(deviceId) === waiting) this.waiting.delete(deviceId);
      this.perform(deviceId, f, via);
    });
    waiting.add(cancel);
    return scheduled;
  }

  private scheduled(deviceId: string, f: CheckedFault, dueTimeUtc: number): FaultScheduled {
    return {
      deviceId,
      type: f.type,
      closeReason: f.closeReason,
      dueTimeUtc,
      ...(isConnectionFault(f.type) ? {} : { untilUtc: dueTimeUtc + f.durationMs }),
    };
  }

  private perform(deviceId: string, f: CheckedFault, via: DeviceSession | undefined): void {
    const type = f.type;
    if (!isConnectionFault(type)) return this.start(deviceId, type, f.durationMs);
    const targets = this.sessions.targets(deviceId, via).filter((s) => faultAppliesTo(type, s.transport));
    const events: Parameters<EventOutbox['after']>[1] = [];
    let done = 0;
    for (const s of targets) {
      if (s.sink?.fault?.({ type, closeReason: f.closeReason }) === true) {
        done++;
        events.push(['fault', { deviceId, type, closeReason: f.closeReason, phase: 'performed', transport: s.transport }]);
      }
    }
    if (done === 0) {
      const over = via ? ` over ${via.transport}` : '';
      events.push(['warning', { deviceId, message: `Fault ${type} not performed: device '${deviceId}' has no connection${over} that it applies to now.` }]);
    }
    this.outbox.after(undefined, events);
  }

  private start(deviceId: string, type: TimedFaultType, durationMs: number): void {
    const untilMs = this.clock.now() + durationMs;
    let faults = this.timed.get(deviceId);
    if (!faults) this.timed.set(deviceId, (faults = new Map()));
    // A second request for the same fault extends (or shortens) it to its own end.
    faults.get(type)?.cancel();
    const cancel = this.clock.at(untilMs, () => this.end(deviceId, type));
    faults.set(type, { untilMs, cancel });
    this.outbox.after(undefined, [['fault', { deviceId, type, phase: 'started', untilUtc: untilMs }]]);
  }

  private end(deviceId: string, type: TimedFaultType): void {
    const faults = this.timed.get(deviceId);
    if (!faults?.delete(type)) return;
    if (faults.size === 0) this.timed.delete(deviceId);
    this.outbox.after(undefined, [['fault', { deviceId, type, phase: 'ended' }]]);
  }

  /** Throws 429001 or 403002 while the device is throttled or out of quota (D2C sends, HTTPS receives). */
  assertOperation(deviceId: string): void {
    if (this.timed.size === 0) return;
    const faults = this.timed.get(deviceId);
    if (!faults) return;
    for (const type of ['InvokeThrottling', 'InvokeMaxMessageQuota'] as const) {
      const f = faults.get(type);
      if (f && this.clock.now() < f.untilMs) this.refuse(deviceId, type);
    }
  }

  private refuse(deviceId: string, type: TimedFaultType): never {
    this.outbox.after(undefined, [['fault', { deviceId, type, phase: 'refused' }]]);
    throw REFUSAL[type](deviceId);
  }

  /** Throws 401003 while InvokeAuthError holds for the device (connects, token renewals, HTTPS requests). */
  assertAuthentication(deviceId: string): void {
    if (this.timed.size === 0) return;
    const f = this.timed.get(deviceId)?.get('InvokeAuthError');
    if (f && this.clock.now() < f.untilMs) this.refuse(deviceId, 'InvokeAuthError');
  }

  /** The device is gone: its waiting and timed faults go with it. */
  forget(deviceId: string): void {
    for (const cancel of this.waiting.get(deviceId) ?? []) cancel();
    this.waiting.delete(deviceId);
    for (const f of this.timed.get(deviceId)?.values() ?? []) f.cancel();
    this.timed.delete(deviceId);
  }

  close(): void {
    for (const id of [...this.waiting.keys(), ...this.timed.keys()]) this.forget(id);
  }
}

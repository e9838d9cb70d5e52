/**
 * What the C2D sidebar shows live for one running hub: per-second counts of
 * messages in (enqueued) and out (delivered) for the last minutes, each
 * device's last activity, and throttled updates for the editors that watch.
 *
 * Hub events are only observed here (they come after the change is
 * committed); counting one costs a map write and an array increment, so the
 * hub's data path does not notice. Updates go out only while an editor
 * watches (its tab renews a lease by reading the summary), at most one per
 * `intervalMs` (250 ms: four a second), and the first change after a quiet
 * spell goes out at once; a second with traffic is also reported once it has
 * ended, so the editor's chart gets every complete second.
 *
 * An update names devices and counts, never a key: comms reach every editor
 * user, read-only ones too.
 */
import { systemClock, type Cancel, type Clock } from '../../lib/common/clock';
import { HUB_EVENT_NAMES, type HubApi, type HubEventMap, type HubEventName } from '../../lib/hub/api';

export interface LiveOptions {
  clock?: Clock;
  /** Least time between two updates (default 250 ms). */
  intervalMs?: number;
  /** Seconds of rate history kept (default 300: the chart's five minutes). */
  historySeconds?: number;
  /** How long one read of the summary keeps updates coming (default 60 s; the tab reads every 20 s). */
  leaseMs?: number;
  /** Devices named one by one in an update; beyond this an update says "many" (null). */
  maxChangedDevices?: number;
}

/** Per-second counts, oldest first; `endSecond` is the last complete second (epoch seconds). */
export interface RateHistory {
  endSecond: number;
  in: number[];
  out: number[];
}

export interface LiveUpdate {
  /** Epoch ms, the hub's clock. */
  at: number;
  /** The devices whose queue, dead letters or connection changed; null: too many to name (read the page again). */
  changed: string[] | null;
  /** The last few complete seconds. */
  rates: RateHistory;
}

/** Events that change a device's queue, dead letters or connection: all but these. */
const NOT_DEVICE_STATE: ReadonlySet<HubEventName> = new Set(['feedback', 'deviceToCloud', 'fault', 'warning']);
const DEVICE_EVENTS: HubEventName[] = HUB_EVENT_NAMES.filter((n) => !NOT_DEVICE_STATE.has(n));
/** Seconds of history an update carries (the editor fills its chart from them). */
const UPDATE_SECONDS = 5;

export class LiveHub {
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly leaseMs: number;
  private readonly maxChanged: number;
  private readonly size: number;
  /** Ring of per-second counts; `second[i]` says which second slot i holds. */
  private readonly second: number[];
  private readonly countIn: number[];
  private readonly countOut: number[];
  private readonly activity = new Map<string, number>();
  private readonly changed = new Set<string>();
  private tooMany = false;
  private dirty = false;
  private watchedUntil = -Infinity;
  private lastPublish = -Infinity;
  /** The last second that had traffic and is not yet reported complete. */
  private openSecond: number | undefined;
  private timer: Cancel | undefined;
  private timerAt = Infinity;
  private readonly unhook: Array<() => void> = [];

  constructor(
    private readonly hub: HubApi,
    private readonly publish: (update: LiveUpdate) => void,
    options: LiveOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.intervalMs = options.intervalMs ?? 250;
    this.leaseMs = options.leaseMs ?? 60_000;
    this.maxChanged = options.maxChangedDevices ?? 200;
    this.size = options.historySeconds ?? 300;
    this.second = new Array<number>(this.size).fill(-1);
    this.countIn = new Array<number>(this.size).fill(0);
    this.countOut = new Array<number>(this.size).fill(0);
    for (const name of DEVICE_EVENTS) this.listen(name, (e) => this.onDeviceEvent(name, (e as { deviceId: string }).deviceId));
    this.listen('feedback', () => this.touch());
  }

  private listen<K extends HubEventName>(name: K, fn: (e: HubEventMap[K]) => void): void {
    this.hub.events.on(name, fn);
    this.unhook.push(() => this.hub.events.off(name, fn));
  }

  private slot(sec: number): number {
    const i = sec % this.size;
    if (this.second[i] !== sec) {
      this.second[i] = sec;
      this.countIn[i] = 0;
      this.countOut[i] = 0;
    }
    return i;
  }

  private onDeviceEvent(name: HubEventName, deviceId: string): void {
    const now = this.clock.now();
    if (name === 'deviceDeleted') this.activity.delete(deviceId);
    else this.activity.set(deviceId, now);
    if (name === 'enqueued' || name === 'delivered') {
      const sec = Math.floor(now / 1000);
      const i = this.slot(sec);
      if (name === 'enqueued') this.countIn[i]!++;
      else this.countOut[i]!++;
      this.openSecond = sec;
    }
    if (!this.watched(now)) return;
    if (!this.tooMany) {
      this.changed.add(deviceId);
      if (this.changed.size > this.maxChanged) {
        this.tooMany = true;
        this.changed.clear();
      }
    }
    this.touch();
  }

  private watched(now: number): boolean {
    return now < this.watchedUntil;
  }

  /** Something changed: an update goes out now, or once the interval since the last one has passed. */
  private touch(): void {
    const now = this.clock.now();
    if (!this.watched(now)) return;
    this.dirty = true;
    this.schedule(Math.max(now, this.lastPublish + this.intervalMs));
  }

  /** One timer, at the earliest time asked for (a change due in 250 ms comes before a second's end). */
  private schedule(atMs: number): void {
    if (this.timer) {
      if (this.timerAt <= atMs) return;
      this.timer();
    }
    this.timerAt = atMs;
    this.timer = this.clock.at(atMs, () => {
      this.timer = undefined;
      this.flush();
    });
  }

  private flush(): void {
    const now = this.clock.now();
    if (!this.watched(now)) {
      this.dirty = false;
      this.changed.clear();
      this.tooMany = false;
      return;
    }
    const sec = Math.floor(now / 1000);
    const secondEnded = this.openSecond !== undefined && this.openSecond < sec;
    if (this.dirty || secondEnded) {
      const changed = this.tooMany ? null : [...this.changed];
      this.changed.clear();
      this.tooMany = false;
      this.dirty = false;
      this.lastPublish = now;
      if (secondEnded) this.openSecond = undefined;
      this.publish({ at: now, changed, rates: this.rates(UPDATE_SECONDS, now) });
    }
    // Traffic in the current second: report it once the second is over.
    if (this.openSecond !== undefined) this.schedule(Math.max((this.openSecond + 1) * 1000, this.lastPublish + this.intervalMs));
  }

  /** An editor reads the summary: keep its updates coming for the lease. */
  watch(): void {
    this.watchedUntil = this.clock.now() + this.leaseMs;
  }

  /** The counts of the last `seconds` complete seconds (default all kept). */
  rates(seconds = this.size, now = this.clock.now()): RateHistory {
    const endSecond = Math.floor(now / 1000) - 1;
    const n = Math.min(seconds, this.size);
    const out: RateHistory = { endSecond, in: [], out: [] };
    for (let s = endSecond - n + 1; s <= endSecond; s++) {
      const i = ((s % this.size) + this.size) % this.size;
      const here = this.second[i] === s;
      out.in.push(here ? this.countIn[i]! : 0);
      out.out.push(here ? this.countOut[i]! : 0);
    }
    return out;
  }

  /** When the hub last saw the device do something (epoch ms), since this hub started. */
  lastActivity(deviceId: string): number | undefined {
    return this.activity.get(deviceId);
  }

  close(): void {
    for (const u of this.unhook.splice(0)) u();
    this.timer?.();
    this.timer = undefined;
  }
}

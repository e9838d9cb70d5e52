/**
 * The recent life of each message id, for trace(): an observer of hub events
 * (which come after each change has committed), so it can never hold up or
 * change what it records. Bounded: at most HubLimits.traceMaxEvents entries
 * hub-wide, the oldest dropped first, and entries older than traceTtlMs are
 * not returned.
 */
import type { Clock } from '../../common/clock';
import type { HubLimits } from '../../common/limits';
import type { HubEventMap, HubEventName, HubEvents, TraceEntry } from '../api';

interface Stored extends TraceEntry {
  messageId: string;
}

type Listener = [HubEventName, (e: HubEventMap[HubEventName]) => void];

export class Trace {
  /** Ring buffer of every entry, oldest at `head`. */
  private readonly ring: (Stored | undefined)[];
  private head = 0;
  private size = 0;
  private readonly byId = new Map<string, Stored[]>();
  private readonly listeners: Listener[] = [];

  constructor(
    private readonly events: HubEvents,
    private readonly clock: Clock,
    private readonly limits: Pick<HubLimits, 'traceMaxEvents' | 'traceTtlMs'>,
  ) {
    this.ring = new Array<Stored | undefined>(limits.traceMaxEvents);
    if (limits.traceMaxEvents === 0) return;
    const on = <K extends HubEventName>(name: K, fn: (e: HubEventMap[K]) => void): void => {
      this.listeners.push([name, fn as (e: HubEventMap[HubEventName]) => void]);
      events.on(name, fn);
    };
    // One object literal per entry (no spread of a partial entry): this runs for every event of every message.
    const time = (): number => this.clock.now();
    on('enqueued', (e) =>
      this.add({ messageId: e.messageId, time: time(), event: 'enqueued', deviceId: e.deviceId, sequenceNumber: e.sequenceNumber, deliveryCount: 0 }),
    );
    on('delivered', (e) =>
      this.add(
        e.transport !== undefined
          ? { messageId: e.messageId, time: time(), event: 'delivered', deviceId: e.deviceId, deliveryCount: e.deliveryCount, transport: e.transport }
          : { messageId: e.messageId, time: time(), event: 'delivered', deviceId: e.deviceId, deliveryCount: e.deliveryCount },
      ),
    );
    on('completed', (e) => this.add({ messageId: e.messageId, time: time(), event: 'completed', deviceId: e.deviceId }));
    on('abandoned', (e) => this.add({ messageId: e.messageId, time: time(), event: 'abandoned', deviceId: e.deviceId, deliveryCount: e.deliveryCount }));
    on('lockExpired', (e) => this.add({ messageId: e.messageId, time: time(), event: 'lockExpired', deviceId: e.deviceId }));
    on('rejected', (e) => this.add({ messageId: e.messageId, time: time(), event: 'rejected', deviceId: e.deviceId }));
    on('expired', (e) => this.add({ messageId: e.messageId, time: time(), event: 'expired', deviceId: e.deviceId }));
    on('deadLettered', (e) => this.add({ messageId: e.messageId, time: time(), event: 'deadLettered', deviceId: e.deviceId, reason: e.reason }));
    on('cancelled', (e) => this.add({ messageId: e.messageId, time: time(), event: 'cancelled', deviceId: e.deviceId }));
    on('requeued', (e) =>
      this.add({ messageId: e.messageId, time: time(), event: 'requeued', deviceId: e.deviceId, sequenceNumber: e.sequenceNumber, deliveryCount: 0 }),
    );
    on('purged', (e) => {
      for (const id of e.messageIds) this.add({ messageId: id, time: time(), event: 'purged', deviceId: e.deviceId });
    });
    on('feedback', (e) => {
      for (const r of e.records) this.add({ messageId: r.originalMessageId, time: time(), event: 'feedback', deviceId: r.deviceId, reason: r.statusCode });
    });
  }

  private add(s: Stored): void {
    const cap = this.ring.length;
    if (this.size === cap) {
      const old = this.ring[this.head]!;
      const list = this.byId.get(old.messageId);
      // The oldest entry overall is also the oldest of its id.
      list?.shift();
      if (list && list.length === 0) this.byId.delete(old.messageId);
      this.ring[this.head] = s;
      this.head = (this.head + 1) % cap;
    } else {
      this.ring[(this.head + this.size) % cap] = s;
      this.size++;
    }
    const list = this.byId.get(s.messageId);
    if (list) list.push(s);
    else this.byId.set(s.messageId, [s]);
  }

  /** The entries of `messageId`, oldest first, none older than traceTtlMs. */
  read(messageId: string): TraceEntry[] {
    const since = this.clock.now() - this.limits.traceTtlMs;
    return (this.byId.get(messageId) ?? []).filter((s) => s.time > since).map(({ messageId: _id, ...entry }) => entry);
  }

  close(): void {
    for (const [name, fn] of this.listeners) this.events.off(name, fn as never);
    this.listeners.length = 0;
  }
}

/**
 * Push delivery by credit: one receiver per device (an AMQP receive link, an
 * MQTT subscription) and any number of hub-wide feedback receivers. Whenever a
 * message may have become deliverable (send committed, abandon, lock expiry,
 * credit added, receiver opened) the hub calls kick(); the dispatcher locks
 * and delivers while the receiver has credit. A receiver remembers the locks
 * it holds so that closing it returns them to the queue (as a lock expiry),
 * and is told when one of them ends without a settlement (locksLost).
 *
 * The dispatcher and the engine's Transitions need each other (it locks
 * through them; they tell it what to wake), so the hub makes the dispatcher
 * first, gives it to Transitions as their ReceiverNotices, then calls serve().
 */
import { errors } from '../../common/errors';
import type { ReceivedFeedbackBatch, ReceivedMessage } from '../../common/message';
import type { DeliverySink, DeviceReceiver, FeedbackReceiver, FeedbackSink, ReceiverOptions, TransportName } from '../api';
import type { ReceiverNotices } from './transitions';

/** Where the dispatcher takes messages from: the engine. */
export interface DeliverySource {
  /** Locks the device's next Enqueued message, if any. */
  lockNext(deviceId: string, transport?: TransportName): ReceivedMessage | undefined;
  /** Gives up a lock early (receiver closed). */
  release(deviceId: string, lockToken: string): void;
  /** Whether the token still holds a lock (used to prune what a receiver remembers). */
  isLocked(deviceId: string, lockToken: string): boolean;
  lockNextFeedback(): ReceivedFeedbackBatch | undefined;
  releaseFeedback(lockToken: string): void;
}

const PRUNE_AT = 256;

class PushReceiver {
  credit = 0;
  closed = false;
  /** Lock tokens handed to this receiver and perhaps not settled yet. */
  readonly held = new Set<string>();
  constructor(readonly onClose: (self: PushReceiver) => void) {}
  addCredit(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw errors.invalid('Credit must be a whole number, 0 or more.');
    this.credit += n;
  }
}

/**
 * What the receiver of a device gets. A class rather than an object literal with a getter:
 * one lives as long as each subscribed connection, and V8 keeps such a literal as a
 * dictionary-mode object, several times the size of a class instance.
 */
class DeviceReceiverHandle implements DeviceReceiver {
  constructor(
    readonly deviceId: string,
    private readonly r: PushReceiver,
    private readonly dispatcher: Dispatcher,
  ) {}

  get credit(): number {
    return this.r.credit;
  }

  addCredit(n: number): void {
    if (this.r.closed) return;
    this.r.addCredit(n);
    this.dispatcher.kick(this.deviceId);
  }

  close(): void {
    if (this.r.closed) return;
    this.r.closed = true;
    this.r.onClose(this.r);
  }
}

interface DeviceEntry {
  r: PushReceiver;
  sink: DeliverySink;
  transport?: TransportName;
}

export class Dispatcher implements ReceiverNotices {
  private readonly devices = new Map<string, DeviceEntry>();
  private readonly feedback = new Set<{ r: PushReceiver; sink: FeedbackSink }>();
  /** Guards against re-entry when a sink settles synchronously inside deliver(). */
  private readonly busy = new Set<string>();
  private readonly again = new Set<string>();

  private source: DeliverySource | undefined;

  serve(source: DeliverySource): void {
    this.source = source;
  }

  private get hooks(): DeliverySource {
    if (!this.source) throw new Error('The dispatcher has no source yet (Dispatcher.serve).');
    return this.source;
  }

  openReceiver(deviceId: string, sink: DeliverySink, options: ReceiverOptions = {}): DeviceReceiver {
    const existing = this.devices.get(deviceId);
    if (existing) {
      if (!options.replace) throw errors.linkConflict(`Device '${deviceId}' already has a receiver.`);
      this.closeDevice(deviceId, errors.linkConflict(`A newer receiver replaced this one for device '${deviceId}'.`));
    }
    const r = new PushReceiver((self) => {
      if (this.devices.get(deviceId)?.r === self) this.devices.delete(deviceId);
      for (const token of self.held) this.hooks.release(deviceId, token);
      self.held.clear();
    });
    r.addCredit(options.credit ?? 0);
    this.devices.set(deviceId, { r, sink, ...(options.transport !== undefined ? { transport: options.transport } : {}) });
    this.kick(deviceId);
    return new DeviceReceiverHandle(deviceId, r, this);
  }

  openFeedbackReceiver(sink: FeedbackSink, options: { credit?: number } = {}): FeedbackReceiver {
    const entry = {
      r: new PushReceiver((self) => {
        this.feedback.delete(entry);
        for (const token of self.held) this.hooks.releaseFeedback(token);
        self.held.clear();
      }),
      sink,
    };
    entry.r.addCredit(options.credit ?? 0);
    this.feedback.add(entry);
    this.kickFeedback();
    const r = entry.r;
    return {
      get credit() {
        return r.credit;
      },
      addCredit: (n: number) => {
        if (r.closed) return;
        r.addCredit(n);
        this.kickFeedback();
      },
      close: () => {
        if (r.closed) return;
        r.closed = true;
        r.onClose(r);
      },
    };
  }

  hasReceiver(deviceId: string): boolean {
    return this.devices.has(deviceId);
  }

  /** Delivers the device's Enqueued messages while its receiver has credit. */
  kick(deviceId: string): void {
    if (!this.devices.has(deviceId)) return; // the common case on a busy hub: nobody is listening
    this.run(`d:${deviceId}`, () => {
      const e = this.devices.get(deviceId);
      while (e && !e.r.closed && e.r.credit > 0 && this.devices.get(deviceId) === e) {
        const m = this.hooks.lockNext(deviceId, e.transport);
        if (!m) return;
        e.r.credit--;
        // Locks that expired or were purged are never settled through us: forget them now and then.
        if (e.r.held.size >= PRUNE_AT) for (const t of e.r.held) if (!this.hooks.isLocked(deviceId, t)) e.r.held.delete(t);
        e.r.held.add(m.lockToken);
        e.sink.deliver(m);
      }
    });
  }

  /** Delivers feedback batches to feedback receivers with credit, round robin. */
  kickFeedback(): void {
    this.run('f', () => {
      for (;;) {
        let delivered = false;
        for (const e of [...this.feedback]) {
          if (e.r.closed || e.r.credit <= 0) continue;
          const b = this.hooks.lockNextFeedback();
          if (!b) return;
          e.r.credit--;
          e.r.held.add(b.lockToken);
          e.sink.deliver(b);
          delivered = true;
        }
        if (!delivered) return;
      }
    });
  }

  wakeDevice(deviceId: string): void {
    this.kick(deviceId);
  }

  wakeFeedback(): void {
    this.kickFeedback();
  }

  /** Locks that ended without a settlement: the receiver that held them is told, once each. */
  locksLost(deviceId: string, lockTokens: readonly string[]): void {
    const e = this.devices.get(deviceId);
    if (!e) return;
    for (const t of lockTokens) if (e.r.held.delete(t)) e.sink.lockLost?.(t);
  }

  /** Feedback locks that ended without a settlement: the receiver that held each is told, once. */
  feedbackLocksLost(lockTokens: readonly string[]): void {
    for (const t of lockTokens) for (const e of this.feedback) if (e.r.held.delete(t)) e.sink.lockLost?.(t);
  }

  /** The transport of the device's push receiver, if it has one. */
  transportOf(deviceId: string): TransportName | undefined {
    return this.devices.get(deviceId)?.transport;
  }

  /** A lock was settled through the API: the receiver no longer holds it. */
  settled(deviceId: string, lockToken: string): void {
    this.devices.get(deviceId)?.r.held.delete(lockToken);
  }

  feedbackSettled(lockToken: string): void {
    for (const e of this.feedback) e.r.held.delete(lockToken);
  }

  /** Closes the device's receiver (device deleted, disabled or replaced) and tells its sink why. */
  closeDevice(deviceId: string, reason: Error): void {
    const e = this.devices.get(deviceId);
    if (!e) return;
    e.r.closed = true;
    e.r.onClose(e.r);
    e.sink.closed?.(reason);
  }

  closeAll(reason: Error): void {
    for (const id of [...this.devices.keys()]) this.closeDevice(id, reason);
    for (const e of [...this.feedback]) {
      e.r.closed = true;
      e.r.onClose(e.r);
      e.sink.closed?.(reason);
    }
  }

  private run(key: string, fn: () => void): void {
    if (this.busy.has(key)) {
      this.again.add(key);
      return;
    }
    this.busy.add(key);
    try {
      do {
        this.again.delete(key);
        fn();
      } while (this.again.has(key));
    } finally {
      this.busy.delete(key);
    }
  }
}

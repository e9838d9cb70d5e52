/**
 * Device connections as the protocol servers register them. The hub reports
 * a device's first connection and the end of its last (deviceConnected /
 * deviceDisconnected, after the fact, through the outbox), keeps each
 * device's live connection state (the registry shows it), and tells each
 * server's SessionSink directly (never through hub events) when a device's
 * connections end (device deleted or disabled) or a fault is injected.
 */
import type { Clock } from '../../common/clock';
import type { DeviceSession, SessionSink, TransportName } from '../api';
import type { EventOutbox } from './outbox';

export class Session implements DeviceSession {
  closed = false;
  constructor(
    readonly deviceId: string,
    readonly transport: TransportName,
    readonly sink: SessionSink | undefined,
    private readonly sessions: Sessions,
  ) {}

  close(reason?: string): void {
    if (this.closed) return;
    this.closed = true;
    this.sessions.closed(this, reason);
  }
}

export class Sessions {
  private readonly byDevice = new Map<string, Set<Session>>();
  /** Since the hub started: whether each device that came or went is connected, and since when. */
  private readonly state = new Map<string, { connected: boolean; changedAtUtc: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly outbox: EventOutbox,
  ) {}

  private setConnected(deviceId: string, connected: boolean): void {
    this.state.set(deviceId, { connected, changedAtUtc: this.clock.now() });
  }

  connection(deviceId: string): { connected: boolean; changedAtUtc: number } | undefined {
    return this.state.get(deviceId);
  }

  /** The device is gone: forget it. */
  forget(deviceId: string): void {
    this.state.delete(deviceId);
  }

  open(deviceId: string, transport: TransportName, sink: SessionSink | undefined): DeviceSession {
    const s = new Session(deviceId, transport, sink, this);
    let set = this.byDevice.get(deviceId);
    if (!set) this.byDevice.set(deviceId, (set = new Set()));
    set.add(s);
    this.setConnected(deviceId, true);
    // The device's state changes with its first connection and its last (a reconnect that
    // overlaps the old connection, or a second transport, changes nothing).
    if (set.size === 1) this.outbox.after(undefined, [['deviceConnected', { deviceId, protocol: transport }]]);
    return s;
  }

  /** For servers that report connections without a session: `connected` false closes one of that transport. */
  note(deviceId: string, transport: TransportName, connected: boolean, reason?: string): void {
    if (connected) {
      this.open(deviceId, transport, undefined);
      return;
    }
    for (const s of this.byDevice.get(deviceId) ?? []) {
      if (s.transport === transport && s.sink === undefined) {
        s.close(reason);
        return;
      }
    }
    // Not known as open (e.g. reported before a restart): still say so.
    this.setConnected(deviceId, false);
    this.outbox.after(undefined, [['deviceDisconnected', { deviceId, protocol: transport, ...(reason !== undefined ? { reason } : {}) }]]);
  }

  closed(s: Session, reason?: string): void {
    const set = this.byDevice.get(s.deviceId);
    set?.delete(s);
    if (set && set.size === 0) this.byDevice.delete(s.deviceId);
    const still = (set?.size ?? 0) > 0;
    this.setConnected(s.deviceId, still);
    if (!still)
      this.outbox.after(undefined, [['deviceDisconnected', { deviceId: s.deviceId, protocol: s.transport, ...(reason !== undefined ? { reason } : {}) }]]);
  }

  /** Ends every connection of the device (deleted or disabled): each server closes its own. */
  endDevice(deviceId: string, reason: Error): void {
    for (const s of [...(this.byDevice.get(deviceId) ?? [])]) if (s.sink) queueMicrotask(() => s.sink!.ended(reason));
  }

  /**
   * Where a fault for the device goes: `via` while it is open; after it closed (the device
   * reconnected meanwhile), the device's connections of the same transport; without `via`, all.
   */
  targets(deviceId: string, via?: DeviceSession): Session[] {
    const all = [...(this.byDevice.get(deviceId) ?? [])];
    if (!via) return all;
    const own = all.find((s) => s === via);
    return own ? [own] : all.filter((s) => s.transport === via.transport);
  }

  /** The transports the device is connected over now (several: e.g. AMQP and HTTPS polling). */
  transportsOf(deviceId: string): TransportName[] {
    return [...new Set([...(this.byDevice.get(deviceId) ?? [])].map((s) => s.transport))];
  }

  get connectedDevices(): number {
    return this.byDevice.size;
  }
}

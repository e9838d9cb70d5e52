/**
 * C2D delivery to one MQTT connection whose device subscribed to
 * `devices/{id}/messages/devicebound/#` (c2d-semantics §1.3, §5.2):
 * - one engine receiver per subscribed connection, opened with `replace`
 *   (IoT Hub allows one connection per device; the newest wins);
 * - each message goes out as a PUBLISH on the device-bound topic, to this
 *   client only, with a packet id that maps back to its lock token;
 * - QoS 1: PUBACK completes the message; QoS 0: the message is completed as
 *   it is handed to the socket (what Microsoft's protocol gateway does);
 * - at most `window` messages are locked to the connection at once: credit
 *   comes back when a PUBACK has been applied (not committed) or the engine
 *   says a lock ended without one (DeliverySink.lockLost: expiry, purge, cancel);
 * - closing returns the locks still held to Enqueued (receiver.close()).
 */
import { LAZY_SETTLE, type DeliverySink, type DeviceReceiver, type HubApi } from '../api';
import { deliveredAck, type ReceivedMessage } from '../../common/message';
import { deviceBoundTopic } from '../../common/codec/mqtt';
import type { MqttProtocol } from './device-connection';

/** The connection a delivery writes to and reports to (MqttDeviceConnection). */
export interface DeliveryOwner {
  /**
   * Writes a PUBLISH; `done` runs once it is handed to the socket, with an
   * error when it was not (the connection closed: the lock brings the message back).
   */
  publish(topic: string, payload: Buffer, qos: 0 | 1, packetId: number | undefined, done?: (error?: Error) => void): void;
  /** The engine closed the receiver (device deleted or disabled, a newer connection, hub closing). */
  receiverClosed(reason: Error): void;
  /** A settlement failed (e.g. 412002 when the lock expired before the PUBACK came). */
  settleFailed(err: unknown): void;
}

interface InFlight {
  packetId: number;
  lockToken: string;
}

/** The engine's sink for one subscribed connection: it is told directly of each delivery and each lock lost. */
export class C2DDelivery implements DeliverySink {
  private receiver: DeviceReceiver | undefined;
  /** Written, not yet PUBACKed, oldest first: at most `window` (a PUBACK nearly always matches the first). */
  private inFlight: InFlight[] = [];
  private nextPacketId = 1;
  private stopped = false;

  constructor(
    private readonly hub: HubApi,
    private readonly owner: DeliveryOwner,
    readonly deviceId: string,
    private qos: 0 | 1,
    private readonly window: number,
    private readonly transport: MqttProtocol,
  ) {}

  start(): void {
    this.receiver = this.hub.openReceiver(this.deviceId, this, { credit: this.window, replace: true, transport: this.transport });
  }

  closed(reason: Error): void {
    this.receiver = undefined;
    this.stop();
    this.owner.receiverClosed(reason);
  }

  /** A new SUBSCRIBE for the same filter may change the QoS. */
  setQos(qos: 0 | 1): void {
    this.qos = qos;
  }

  get inFlightCount(): number {
    return this.inFlight.length;
  }

  deliver(m: ReceivedMessage): void {
    if (this.stopped) return; // the lock returns to Enqueued when it expires or the receiver closes
    const topic = deviceBoundTopic(this.deviceId, {
      messageId: m.messageId,
      to: m.to,
      expiryTimeUtc: m.expiryTimeUtc,
      correlationId: m.correlationId,
      userId: m.userId,
      contentType: m.contentType,
      contentEncoding: m.contentEncoding,
      ack: deliveredAck(m),
      properties: m.properties,
    });
    if (this.qos === 0) {
      // Completed once handed to the socket; not if that failed (its lock brings it back).
      this.owner.publish(topic, m.body, 0, undefined, (e) => {
        if (!e) this.settle(m.lockToken);
      });
      return;
    }
    const packetId = this.allocatePacketId();
    this.inFlight.push({ packetId, lockToken: m.lockToken });
    this.owner.publish(topic, m.body, 1, packetId);
  }

  /** PUBACK: complete the message it acknowledges. A PUBACK for an unknown id (late, after a lock expiry) is ignored. */
  puback(packetId: number): void {
    const i = this.inFlight.findIndex((f) => f.packetId === packetId);
    if (i < 0) return;
    const [f] = this.inFlight.splice(i, 1);
    this.settle(f!.lockToken);
  }

  /**
   * A lock held by this connection ended without its PUBACK (expired, or the
   * message left the queue): if the message comes back it is handed out anew
   * (new lock, new packet id), so the slot and its credit are freed; a late
   * PUBACK for the old packet id is ignored.
   */
  lockLost(lockToken: string): void {
    const i = this.inFlight.findIndex((f) => f.lockToken === lockToken);
    if (i < 0) return;
    this.inFlight.splice(i, 1);
    this.receiver?.addCredit(1);
  }

  private settle(lockToken: string): void {
    // A PUBACK has no answer, so nobody waits on its commit (lazy); complete() takes the message
    // out of the queue as it is called, so the slot comes back now, not after the commit.
    this.hub.complete(this.deviceId, lockToken, LAZY_SETTLE).catch((err: unknown) => this.owner.settleFailed(err));
    queueMicrotask(() => {
      if (!this.stopped) this.receiver?.addCredit(1);
    });
  }

  private allocatePacketId(): number {
    // Ids 1..65535 (MQTT-2.3.1-1), never one still in flight; the window keeps far fewer in use.
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id >= 65535 ? 1 : id + 1;
      if (!this.inFlight.some((f) => f.packetId === id)) return id;
    }
  }

  /** Detaches: locks still held go back to Enqueued. Idempotent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.inFlight = [];
    const r = this.receiver;
    this.receiver = undefined;
    r?.close();
  }
}

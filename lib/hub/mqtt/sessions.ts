/**
 * The clean=false sessions (MQTT-3.1.2-4): what a device's subscription was
 * when its connection ended, so that a CONNECT with clean=false resumes C2D
 * without a new SUBSCRIBE. The Azure SDKs renew their SAS token by exactly
 * that (DISCONNECT, CONNECT with the new token, no SUBSCRIBE; sdk-wire §3):
 * without it C2D stops silently after the first renewal.
 *
 * A session holds only the QoS of the device-bound subscription, the one
 * filter a device may subscribe to here (authorize.ts). Nothing else of
 * MQTT's session state is kept: the hub owns every message a device gets,
 * and after a reconnect the engine hands out what is still unsettled under a
 * new lock and packet id, so no outgoing packet is stored or replayed.
 */
export class SessionStore {
  /** Device id -> QoS of its device-bound subscription (null: a session without one), clean=false sessions only. */
  private readonly byDevice = new Map<string, 0 | 1 | null>();

  /** A clean=false CONNECT: resumes the device's session or starts one. Returns whether one existed (CONNACK sessionPresent, MQTT-3.2.2-2). */
  resume(deviceId: string): boolean {
    if (this.byDevice.has(deviceId)) return true;
    this.byDevice.set(deviceId, null);
    return false;
  }

  /** The QoS of the stored device-bound subscription, if the session has one. */
  subscription(deviceId: string): 0 | 1 | undefined {
    return this.byDevice.get(deviceId) ?? undefined;
  }

  /** A SUBSCRIBE granted on a clean=false connection: the session keeps it (a later one replaces it). */
  subscribe(deviceId: string, qos: 0 | 1): void {
    this.byDevice.set(deviceId, qos);
  }

  /** An UNSUBSCRIBE of the device-bound filter: the session stays, without a subscription. */
  unsubscribe(deviceId: string): void {
    if (this.byDevice.has(deviceId)) this.byDevice.set(deviceId, null);
  }

  /** A clean=true CONNECT (MQTT-3.1.2-6), or the device deleted or disabled: the session ends. */
  discard(deviceId: string): void {
    this.byDevice.delete(deviceId);
  }

  get size(): number {
    return this.byDevice.size;
  }
}

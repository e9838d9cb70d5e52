/**
 * The device queues by device id. After a restart the queues can start out
 * "deferred": the device is known (an empty placeholder queue is there) but
 * its messages are still on disk. Any read of such a queue loads it first,
 * through the loader recovery installed, so every rule still sees the whole
 * queue; a background pass loads the rest a slice at a time. This is what
 * lets a hub with a million queued messages serve again within seconds:
 * the cost of reading them moves behind the ports instead of in front.
 */
import type { DeviceQueue } from './queue';

export class DeviceQueues extends Map<string, DeviceQueue> {
  private deferred = new Set<string>();
  private loader: ((deviceId: string) => void) | undefined;

  /** Marks `ids` as still on disk; `load(id)` must read that device's messages in and set its queue. */
  defer(ids: Iterable<string>, load: (deviceId: string) => void): void {
    this.loader = load;
    for (const id of ids) this.deferred.add(id);
  }

  /** How many queues are still on disk. */
  get deferredCount(): number {
    return this.deferred.size;
  }

  override get(deviceId: string): DeviceQueue | undefined {
    if (this.deferred.size > 0 && this.deferred.delete(deviceId)) this.loader!(deviceId);
    return super.get(deviceId);
  }

  override delete(deviceId: string): boolean {
    this.deferred.delete(deviceId);
    return super.delete(deviceId);
  }

  /** Every queue, loaded (stats, diagnostics). */
  override values(): MapIterator<DeviceQueue> {
    this.loadSome(Infinity);
    return super.values();
  }

  override entries(): MapIterator<[string, DeviceQueue]> {
    this.loadSome(Infinity);
    return super.entries();
  }

  override [Symbol.iterator](): MapIterator<[string, DeviceQueue]> {
    return this.entries();
  }

  /** Loads up to `count` deferred queues; returns how many are still deferred. */
  loadSome(count: number): number {
    let n = 0;
    for (const id of this.deferred) {
      if (n++ >= count) break;
      this.get(id);
    }
    return this.deferred.size;
  }
}

/**
 * What a device's life in the registry means for the rest of the engine:
 * created -> an empty queue; disabled -> its receiver and connections end;
 * deleted -> also its queue, pending feedback and dead letters go. The
 * registry calls this; the events it returns are emitted once the registry's
 * change is committed.
 */
import { errors } from '../../common/errors';
import type { Dispatcher } from './dispatcher';
import type { FaultInjector } from './faults';
import * as Q from './queue';
import type { DeviceLifecycle } from './registry';
import type { Sessions } from './sessions';
import type { DeviceRecord } from './store';
import { joined, type Change, type Transitions } from './transitions';

export class EngineDeviceLifecycle implements DeviceLifecycle {
  constructor(
    private readonly transitions: Transitions,
    private readonly dispatcher: Dispatcher,
    private readonly sessions: Sessions,
    private readonly faults?: FaultInjector,
  ) {}

  pendingCount(deviceId: string): number {
    return this.transitions.queues.get(deviceId)?.messages.length ?? 0;
  }

  connection(deviceId: string): { connected: boolean; changedAtUtc: number } | undefined {
    return this.sessions.connection(deviceId);
  }

  created(d: DeviceRecord): Change {
    this.transitions.queues.set(d.deviceId, Q.emptyQueue(d.deviceId, d.generationId));
    return { ops: [{ t: 'deleteQueue', deviceId: d.deviceId }], events: [['deviceCreated', { deviceId: d.deviceId }]] };
  }

  disabled(deviceId: string): void {
    const reason = errors.notFound(`Device '${deviceId}' was disabled.`);
    this.dispatcher.closeDevice(deviceId, reason);
    this.sessions.endDevice(deviceId, reason);
  }

  deleted(deviceId: string): Change {
    const reason = errors.notFound(`Device '${deviceId}' was deleted.`);
    this.dispatcher.closeDevice(deviceId, reason);
    this.sessions.endDevice(deviceId, reason);
    this.sessions.forget(deviceId);
    this.faults?.forget(deviceId);
    return joined(this.transitions.dropDevice(deviceId), { ops: [], events: [['deviceDeleted', { deviceId }]] });
  }
}

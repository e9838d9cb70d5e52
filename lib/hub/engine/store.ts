/**
 * What the engine persists, and the interface of the store that persists it.
 * The engine keeps its working state in memory and sends every change to the
 * store as a list of operations; `write` resolves only once those operations
 * are durable. Lock state (who holds a lock until when) is NOT persisted: after
 * a restart every locked message is Enqueued again, as if its lock had expired.
 */
import type { SharedAccessPolicy, Device, StoreSynchronous } from '../api';
import type { C2DMessage } from '../../common/message';
import type { DeadLetter } from './dead-letters';
import type { FeedbackBatchState, PendingRecord } from './feedback';

/** A device as stored: the registry JSON minus the live count, plus the etag version. */
export type DeviceRecord = Omit<Device, 'cloudToDeviceMessageCount'> & { version: number };

export type StoreOp =
  | { t: 'insertMessage'; message: C2DMessage }
  | { t: 'setDeliveryCount'; deviceId: string; sequenceNumber: number; deliveryCount: number }
  | { t: 'deleteMessage'; deviceId: string; sequenceNumber: number }
  | { t: 'setSequence'; deviceId: string; sequenceNumber: number }
  /** Drops a device's messages, its dead letters and its sequence counter. */
  | { t: 'deleteQueue'; deviceId: string }
  | { t: 'insertDeadLetter'; deadLetter: DeadLetter }
  | { t: 'deleteDeadLetters'; deviceId: string; sequenceNumbers: number[] }
  | { t: 'putDevice'; device: DeviceRecord }
  | { t: 'deleteDevice'; deviceId: string }
  | { t: 'putPolicy'; policy: SharedAccessPolicy }
  | { t: 'deletePolicy'; keyName: string }
  | { t: 'insertPending'; pending: PendingRecord }
  | { t: 'deletePending'; ids: string[] }
  | { t: 'insertBatch'; batch: FeedbackBatchState }
  | { t: 'setBatchDeliveryCount'; id: string; deliveryCount: number }
  | { t: 'deleteBatch'; id: string };

export interface StoredState {
  devices: DeviceRecord[];
  policies: SharedAccessPolicy[];
  /** Every pending message, any device, with its deliveryCount (empty when messagesDeferred). */
  messages: C2DMessage[];
  /** The messages were left on disk, to be read per device with Store.loadQueue. */
  messagesDeferred?: boolean;
  /** Last sequence number handed out per device. */
  sequences: Map<string, number>;
  /** Kept dead letters, in the order they were dead-lettered. */
  deadLetters: DeadLetter[];
  /** In the order they were added. */
  pendingFeedback: PendingRecord[];
  /** In the order they were created; none locked. */
  feedbackBatches: FeedbackBatchState[];
}

export interface WriteOptions {
  /** Nobody outside the hub waits on this write (see Store.write). */
  lazy?: boolean;
}

export interface Store {
  /** `deferMessages`: leave the messages on disk (a store with loadQueue only). */
  load(options?: { deferMessages?: boolean }): StoredState;
  /** One device's stored messages in sequence order; lets recovery load queues lazily. */
  loadQueue?(deviceId: string): C2DMessage[];
  /**
   * Makes `ops` durable, in order. Writes that arrive in the same tick share one
   * transaction (group commit); every caller resolves after that COMMIT.
   * `lazy`: nobody outside the hub waits on this write (an MQTT PUBACK, a lock
   * that expired): it rides the next group that someone does wait on, or
   * commits on its own within LAZY_COMMIT_MS. See sqlite-store.ts.
   */
  write(ops: StoreOp[], options?: WriteOptions): Promise<void>;
  /** Transactions committed so far. */
  readonly commits: number;
  /** Whether each commit is synced to disk (FULL) or not (NORMAL), as the database itself reports it. */
  readonly synchronous: StoreSynchronous;
  /** Commits what is queued, then closes. */
  close(): void;
}

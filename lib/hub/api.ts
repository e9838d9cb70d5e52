/**
 * The engine's contract: what the protocol servers (AMQP, MQTT, HTTPS), the
 * Node-RED nodes and the tests call. The engine (lib/hub/engine) implements
 * it; servers only translate between their wire and these calls.
 */
import type { X509Certificate } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import type { Right } from '../common/sas';
import type { HubLimits } from '../common/limits';
import type { ConnectionFault, FaultRequest, FaultType } from '../common/fault-injection';
import type { AckMode, OutgoingMessage, ReceivedMessage, ReceivedFeedbackBatch, FeedbackRecord, Properties } from '../common/message';

// ---------------------------------------------------------------- registry

export type DeviceStatus = 'enabled' | 'disabled';
export type AuthenticationType = 'sas' | 'selfSigned' | 'certificateAuthority' | 'none';

/** A device identity in the JSON shape of IoT Hub's registry REST API. */
export interface Device {
  deviceId: string;
  generationId: string;
  etag: string;
  status: DeviceStatus;
  statusReason: string | null;
  statusUpdatedTime: string;
  connectionState: 'Connected' | 'Disconnected';
  connectionStateUpdatedTime: string;
  lastActivityTime: string;
  /** Pending (Enqueued + Invisible) C2D messages. */
  cloudToDeviceMessageCount: number;
  authentication: {
    type: AuthenticationType;
    symmetricKey: { primaryKey: string | null; secondaryKey: string | null };
    x509Thumbprint: { primaryThumbprint: string | null; secondaryThumbprint: string | null };
  };
  capabilities: { iotEdge: boolean };
  deviceScope?: string | null;
}

/** What a caller gives to create or update a device; missing keys are generated for `sas`. */
export interface DeviceSpec {
  deviceId: string;
  status?: DeviceStatus;
  statusReason?: string | null;
  authentication?: {
    type?: AuthenticationType;
    symmetricKey?: { primaryKey?: string | null; secondaryKey?: string | null };
    x509Thumbprint?: { primaryThumbprint?: string | null; secondaryThumbprint?: string | null };
  };
  capabilities?: { iotEdge?: boolean };
}

export interface SharedAccessPolicy {
  keyName: string;
  primaryKey: string;
  secondaryKey: string;
  rights: Right[];
}

export interface Registry {
  /** 409001 DeviceAlreadyExists if present; 400004 for a bad id or keys. */
  createDevice(spec: DeviceSpec): Promise<Device>;
  /** Creates when absent and `ifMatch` is undefined; 412001 on an etag mismatch (`*` matches any). */
  updateDevice(spec: DeviceSpec, ifMatch?: string): Promise<Device>;
  getDevice(deviceId: string): Device | undefined;
  /** 404001 when absent; 412001 on an etag mismatch. Drops the device's queue and pending feedback. */
  deleteDevice(deviceId: string, ifMatch?: string): Promise<void>;
  listDevices(max?: number): Device[];
  /** Every device id, in the order the devices were created (inspection: listDevices stops at IoT Hub's 1000). */
  deviceIds(): string[];
  getPolicy(keyName: string): SharedAccessPolicy | undefined;
  listPolicies(): SharedAccessPolicy[];
  /** Creates or replaces a policy. */
  setPolicy(policy: SharedAccessPolicy): Promise<void>;
  deletePolicy(keyName: string): Promise<void>;
}

// ---------------------------------------------------------------- auth

export type Principal =
  | { kind: 'device'; deviceId: string; via: 'sas' | 'x509'; expiresAtMs?: number }
  | { kind: 'service'; keyName: string; rights: ReadonlySet<Right>; expiresAtMs?: number };

export interface ClientCertificateInfo {
  /** Hex, upper case, no colons. */
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  subjectCN?: string;
  /**
   * The certificates the device sent in the TLS handshake, its own first
   * (then its intermediates): what a certificateAuthority device is checked on.
   */
  chain?: readonly X509Certificate[];
}

export interface Authenticator {
  /**
   * Verifies a SAS token (signature against the device's or policy's keys,
   * expiry, and that `sr` covers `audience` when given). Throws 401003.
   * Device tokens name a device in `sr` and have no `skn`; policy tokens have `skn`.
   */
  authenticateSas(token: string, audience?: string): Principal;
  /**
   * Authenticates `deviceId` by its TLS client certificate: a selfSigned device
   * by thumbprint, a certificateAuthority device by its chain up to a
   * registered CA with CN = the device id. Throws 401003 with the reason.
   */
  authenticateX509(deviceId: string, cert: ClientCertificateInfo): Principal;
  /** Throws 401003 unless the principal is that device (or a policy with DeviceConnect). */
  assertDevice(p: Principal, deviceId: string): void;
  /** Throws 401003 unless the principal is a policy holding `right`. */
  assertRight(p: Principal, right: Right): void;
}

// ---------------------------------------------------------------- delivery

/**
 * Where the engine pushes messages for one connected device receiver (AMQP
 * link, MQTT subscription), and what it tells that receiver directly. The
 * engine calls these after the change that caused them, never from inside
 * one, so a sink may call back into the hub (add credit, settle) at once.
 */
export interface DeliverySink {
  /** A message, now Invisible and locked to this receiver. */
  deliver(message: ReceivedMessage): void;
  /**
   * A lock this receiver held ended without a settlement through the hub: it
   * expired, or its message left the queue (TTL, purge, cancel). The message
   * is not this receiver's any more; a late settlement of it fails 412002.
   */
  lockLost?(lockToken: string): void;
  /** The engine closed the receiver (device deleted or disabled, replaced by a newer one, hub closing). */
  closed?(reason: Error): void;
}

/** A transport's name as the events and the inspection API show it. */
export type TransportName = 'amqp' | 'amqp-ws' | 'mqtt' | 'mqtt-ws' | 'http' | 'in-process' | (string & {});

export interface ReceiverOptions {
  credit?: number;
  /** Close the device's existing receiver first (MQTT's newest connection wins); without it a second receiver fails 409002. */
  replace?: boolean;
  /** Which transport the receiver serves (shown in `delivered` events and traces). */
  transport?: TransportName;
}

/** What a protocol server is told about one device connection it registered (openSession). */
export interface SessionSink {
  /** The engine ended the session: the device was deleted or disabled, or the hub is closing. Close the connection. */
  ended(reason: Error): void;
  /**
   * Performs an injected fault on this connection (lib/common/fault-injection.ts):
   * true when done, false when this connection cannot (a fault of another
   * protocol, an AMQP link it does not have). Absent: no fault applies.
   */
  fault?(fault: ConnectionFault): boolean;
}

export interface DeviceSession {
  readonly deviceId: string;
  readonly transport: TransportName;
  /** The connection is gone (`reason`: why, for the disconnected event). Idempotent. */
  close(reason?: string): void;
}

export interface DeviceReceiver {
  readonly deviceId: string;
  /** Allows `n` more deliveries. */
  addCredit(n: number): void;
  readonly credit: number;
  /**
   * Detaches. Messages still locked to this receiver go back to Enqueued
   * (as a lock expiry would), so another receiver can have them.
   */
  close(): void;
}

export interface FeedbackSink {
  deliver(batch: ReceivedFeedbackBatch): void;
  /** The lock on a batch this receiver held expired (or the batch did): a late settlement of it fails 412002. */
  lockLost?(lockToken: string): void;
  closed?(reason: Error): void;
}

export interface FeedbackReceiver {
  addCredit(n: number): void;
  readonly credit: number;
  close(): void;
}

// ---------------------------------------------------------------- events

export interface HubEventMap {
  enqueued: { deviceId: string; messageId: string; sequenceNumber: number };
  delivered: { deviceId: string; messageId: string; lockToken: string; deliveryCount: number; transport?: TransportName };
  completed: { deviceId: string; messageId: string };
  rejected: { deviceId: string; messageId: string };
  abandoned: { deviceId: string; messageId: string; deliveryCount: number };
  lockExpired: { deviceId: string; messageId: string };
  expired: { deviceId: string; messageId: string };
  /** `kept`: the hub keeps it as a dead letter (HubLimits.deadLetterTtlMs / deadLetterMaxPerDevice). */
  deadLettered: { deviceId: string; messageId: string; reason: 'Rejected' | 'Expired' | 'DeliveryCountExceeded'; kept: boolean };
  purged: { deviceId: string; count: number; messageIds: string[] };
  /** One pending message taken out by cancel(). */
  cancelled: { deviceId: string; messageId: string };
  /** A kept dead letter was sent again as a new message (`sequenceNumber` is the new one's). */
  requeued: { deviceId: string; messageId: string; sequenceNumber: number };
  /** Kept dead letters went: aged out, over the count limit, deleted, or requeued. */
  deadLettersDropped: { deviceId: string; sequenceNumbers: number[]; why: 'age' | 'count' | 'deleted' | 'requeued' };
  feedback: { records: FeedbackRecord[] };
  deviceConnected: { deviceId: string; protocol: string };
  deviceDisconnected: { deviceId: string; protocol: string; reason?: string };
  deviceToCloud: { deviceId: string; body: Buffer; properties: Properties };
  /**
   * Fault injection: asked for (by the device's D2C message or the API), performed on a
   * connection, a timed fault started or ended, or an operation of the device refused by one.
   */
  fault: {
    deviceId: string;
    type: FaultType;
    phase: 'requested' | 'performed' | 'started' | 'ended' | 'refused';
    source?: 'device' | 'api';
    /** requested: the transport the request came over; performed: the connection's. */
    transport?: TransportName;
    closeReason?: string;
    dueTimeUtc?: number;
    untilUtc?: number;
  };
  /** Something the hub was asked and did not do, and why (e.g. a fault request it could not read: `property` names it). */
  warning: { deviceId?: string; message: string; property?: string };
  deviceCreated: { deviceId: string };
  deviceDeleted: { deviceId: string };
}

export type HubEventName = keyof HubEventMap;

/** Every hub event, in the order the docs list them (the c2d-hub node puts each on its output). */
export const HUB_EVENT_NAMES = [
  'enqueued',
  'delivered',
  'completed',
  'rejected',
  'abandoned',
  'lockExpired',
  'expired',
  'deadLettered',
  'purged',
  'cancelled',
  'requeued',
  'deadLettersDropped',
  'feedback',
  'deviceConnected',
  'deviceDisconnected',
  'deviceCreated',
  'deviceDeleted',
  'deviceToCloud',
  'fault',
  'warning',
] as const satisfies readonly HubEventName[];

/** Fails to compile when an event of HubEventMap is missing from HUB_EVENT_NAMES. */
const everyEventListed: Record<Exclude<HubEventName, (typeof HUB_EVENT_NAMES)[number]>, never> = {};
void everyEventListed;

export interface HubEvents extends EventEmitter {
  on<K extends HubEventName>(event: K, listener: (e: HubEventMap[K]) => void): this;
  once<K extends HubEventName>(event: K, listener: (e: HubEventMap[K]) => void): this;
  off<K extends HubEventName>(event: K, listener: (e: HubEventMap[K]) => void): this;
  emit<K extends HubEventName>(event: K, e: HubEventMap[K]): boolean;
}

// ---------------------------------------------------------------- the hub

export interface SendResult {
  messageId: string;
  sequenceNumber: number;
  enqueuedTimeUtc: number;
}

export interface SettleOptions {
  lazy?: boolean;
}

/** The options of a settlement nobody waits on (an MQTT PUBACK, a presettled AMQP outcome): one frozen object, as it is passed per message. */
export const LAZY_SETTLE: SettleOptions = Object.freeze({ lazy: true });

/**
 * The store's SQLite `synchronous` setting. FULL (the default) syncs the WAL
 * to disk on every commit, so an acknowledged send survives a crash of the
 * machine; NORMAL does not sync per commit: an acknowledged send survives a
 * crash of the hub's process, not of the machine (power loss, kernel panic).
 * Hub.open refuses any other value (400004), for every caller: API, node, command.
 */
export const STORE_SYNCHRONOUS = ['FULL', 'NORMAL'] as const;
export type StoreSynchronous = (typeof STORE_SYNCHRONOUS)[number];

/** A fault the hub will perform (HubApi.injectFault). */
export interface FaultScheduled {
  deviceId: string;
  type: FaultType;
  closeReason: string;
  /** When it is performed (epoch ms). */
  dueTimeUtc: number;
  /** Timed faults: when they end. */
  untilUtc?: number;
}

export interface HubStats {
  devices: number;
  queued: number;
  locked: number;
  /** Kept dead letters, every device. */
  deadLetters: number;
  /** Devices with at least one open connection. */
  connectedDevices: number;
  feedbackPending: number;
  feedbackBatches: number;
  /** Store transactions committed since the hub opened (each holds every change of its group). */
  commits: number;
  /** The store's synchronous setting, as the database reports it. */
  synchronous: StoreSynchronous;
}

// ---------------------------------------------------------------- inspection

/** A message as the inspection API shows it (peek, dead letters): its facts, the body only when asked for. */
export interface MessageView {
  deviceId: string;
  messageId: string;
  sequenceNumber: number;
  correlationId?: string;
  userId?: string;
  contentType?: string;
  contentEncoding?: string;
  ack: AckMode;
  properties: Properties;
  /** Epoch ms. */
  enqueuedTimeUtc: number;
  expiryTimeUtc: number;
  deliveryCount: number;
  /** Body and property bytes, as IoT Hub counts a message's size. */
  size: number;
  body?: Buffer;
}

export interface PendingMessageView extends MessageView {
  state: 'Enqueued' | 'Invisible';
  /** While Invisible: when the lock ends (epoch ms). Lock tokens are never shown. */
  lockedUntilUtc?: number;
}

export interface DeadLetterView extends MessageView {
  reason: 'Rejected' | 'Expired' | 'DeliveryCountExceeded';
  deadLetteredTimeUtc: number;
}

/** Names one dead letter: by its sequence number, or by messageId (the most recent with it). */
export type DeadLetterRef = { sequenceNumber: number; messageId?: undefined } | { messageId: string; sequenceNumber?: undefined };

export interface DeadLetterQuery {
  /** One device's; absent = every device's, device by device. */
  deviceId?: string;
  /** Skip this many (paging); default 0. */
  offset?: number;
  /** At most this many (default and cap 1000). */
  limit?: number;
  includeBody?: boolean;
}

export interface Page<T> {
  items: T[];
  /** How many there are in all. */
  total: number;
}

/** One step in a message's recent life, as trace() returns it. */
export interface TraceEntry {
  /** Epoch ms. */
  time: number;
  event:
    | 'enqueued'
    | 'delivered'
    | 'completed'
    | 'abandoned'
    | 'lockExpired'
    | 'rejected'
    | 'expired'
    | 'deadLettered'
    | 'purged'
    | 'cancelled'
    | 'requeued'
    | 'feedback';
  deviceId: string;
  sequenceNumber?: number;
  deliveryCount?: number;
  transport?: TransportName;
  /** deadLettered: why; feedback: the record's status code. */
  reason?: string;
}

export interface HubApi {
  /** Host name used in tokens and connection strings (default `localhost`). */
  readonly hubName: string;
  readonly limits: Readonly<HubLimits>;
  readonly registry: Registry;
  readonly auth: Authenticator;
  readonly events: HubEvents;

  /**
   * Enqueues a message for a device; resolves once it is committed to the store.
   * Errors: 404001 unknown or disabled device, 403004 queue full, 413001 too
   * large, 400004 bad input, 400011/403009 bad expiry, 429001 throttled.
   */
  send(deviceId: string, message: OutgoingMessage): Promise<SendResult>;

  /** Locks and returns the next Enqueued message (HTTP polling), or null when none. */
  receive(deviceId: string, options?: { transport?: TransportName }): Promise<ReceivedMessage | null>;
  /**
   * Settles a locked message: applied at once, resolves once committed. 412002 when the token
   * does not match a live lock of that device. `lazy`: nobody waits on the answer (an MQTT
   * PUBACK, a presettled AMQP outcome), so the commit rides the next send's group (or comes within LAZY_COMMIT_MS, sqlite-store.ts);
   * a crash before it delivers the message again.
   */
  complete(deviceId: string, lockToken: string, options?: SettleOptions): Promise<void>;
  reject(deviceId: string, lockToken: string, options?: SettleOptions): Promise<void>;
  abandon(deviceId: string, lockToken: string, options?: SettleOptions): Promise<void>;
  /** Removes every pending message of the device; returns how many. 404001 for an unknown device. */
  purge(deviceId: string): Promise<number>;

  /**
   * Attaches a push receiver for a device (AMQP link, MQTT subscription).
   * With `replace` an existing receiver of the device is closed first
   * (MQTT's newest-connection-wins); without it a second receiver fails 409002.
   */
  openReceiver(deviceId: string, sink: DeliverySink, options?: ReceiverOptions): DeviceReceiver;

  /** Feedback queue (hub-wide). */
  receiveFeedback(): Promise<ReceivedFeedbackBatch | null>;
  completeFeedback(lockToken: string): Promise<void>;
  abandonFeedback(lockToken: string): Promise<void>;
  rejectFeedback(lockToken: string): Promise<void>;
  openFeedbackReceiver(sink: FeedbackSink, options?: { credit?: number }): FeedbackReceiver;
  /** Flushes the pending feedback records into a batch now (tests, shutdown). */
  flushFeedback(): Promise<void>;

  /**
   * Inspection and repair (beyond IoT Hub, which has none of these). peek: the device's pending
   * messages in delivery order, nothing locked or changed. 404001 for an unknown device.
   */
  peek(deviceId: string, options?: { includeBody?: boolean }): PendingMessageView[];
  /** Kept dead letters, oldest first per device, paged. */
  deadLetters(query?: DeadLetterQuery): Page<DeadLetterView>;
  /**
   * Sends a dead letter again as a new message (new sequence number, delivery count 0, same
   * messageId, its TTL counted from now) and drops the dead letter once that is committed.
   * 403004 when the queue is full, 404000 when there is no such dead letter.
   */
  requeueDeadLetter(deviceId: string, ref: DeadLetterRef): Promise<SendResult>;
  /** 404000 when there is no such dead letter. */
  deleteDeadLetter(deviceId: string, ref: DeadLetterRef): Promise<void>;
  /** Removes the pending messages with this messageId (Purged feedback where asked); returns how many. 404000 when none. */
  cancel(deviceId: string, messageId: string): Promise<number>;
  /** The recent life of a message id, oldest first (bounded by HubLimits.traceMaxEvents / traceTtlMs). */
  trace(messageId: string): TraceEntry[];

  /**
   * A protocol server registers each authenticated device connection; the hub
   * reports it (deviceConnected / deviceDisconnected) and ends it through `sink`
   * when the device is deleted or disabled.
   */
  openSession(deviceId: string, transport: TransportName, sink: SessionSink): DeviceSession;
  /** Servers that do not hold a session report device connections here. */
  noteConnection(deviceId: string, protocol: string, connected: boolean, reason?: string): void;
  /**
   * A device sent a D2C message (over `via`, the connection's session, when it has one).
   * A fault request (AzIoTHub_FaultOperation* properties) is scheduled instead of reported.
   * Throws 429001 / 403002 while an injected InvokeThrottling / InvokeMaxMessageQuota holds.
   */
  noteDeviceToCloud(deviceId: string, body: Buffer, properties: Properties, via?: DeviceSession): void;
  /**
   * Schedules a fault on the device's connections (as a D2C fault request would, but on each
   * connection it applies to). 404001 for an unknown device, 400004 naming a bad field.
   */
  injectFault(deviceId: string, request: FaultRequest): FaultScheduled;
  /** The transports a device is connected over now (inspection); empty when it is offline. */
  connectionsOf(deviceId: string): TransportName[];

  stats(): HubStats;
  /** Stops timers, closes receivers and the store. Pending commits finish first. */
  close(): Promise<void>;
}

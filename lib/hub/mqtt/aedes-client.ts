/**
 * The few aedes 1.2 internals the MQTT server relies on, typed and used in
 * this one file, so an aedes upgrade that moves them breaks here only.
 *
 * Why internals at all: a C2D message must go to exactly one connection, with
 * a packet id we choose (so that its PUBACK maps back to a lock token), and
 * must never be stored or replayed by aedes (the hub owns redelivery: on a
 * reconnect the engine hands the message out again with a new lock). aedes'
 * public `client.publish` picks the packet id itself and, for clean=false
 * sessions, stores the packet for replay; its `ack` event reports only packets
 * that its own store knew. So:
 * - `sendPublish` writes the PUBLISH (framed by mqtt-packet, as aedes frames
 *   its own) straight to that client's socket, with the packet id we chose.
 *   aedes' own per-client delivery (`deliverQoS`) would keep the id too, but
 *   costs two setImmediate turns, a promise and a packet copy per message,
 *   about a fifth of the hub's CPU per C2D delivery (bench breakdown);
 * - `takeOverOutgoing` turns aedes' outgoing store into a PUBACK listener;
 * - so aedes' two subscription indexes (topic tries) serve nobody: its emitter's
 *   (nothing is ever published to a device-bound filter through aedes) and its
 *   store's (read only to feed the outgoing store). `emitterWithoutDeviceBound`
 *   and `takeOverSubscriptions` leave them out: ~2.1 KB of heap per connected
 *   device (heap snapshots, 2,000 idle devices).
 */
import { Readable } from 'node:stream';
import mqemitter, { type MQEmitter } from 'mqemitter';
import mqttPacket from 'mqtt-packet';
import { isDeviceBoundFilter } from '../../common/codec/mqtt';
import type { Aedes, Client, Subscription } from 'aedes' with { 'resolution-mode': 'import' };

export type { Aedes, Client, Subscription };

export interface OutgoingPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1;
  /** Packet id (1..65535) for QoS 1. */
  messageId?: number;
}

interface Conn {
  write(chunk: Buffer, cb?: (e?: Error | null) => void): boolean;
  cork(): void;
  uncork(): void;
}

interface ClientInternals {
  conn: Conn;
  connected: boolean;
}

/** Sockets corked until the end of this tick: what a dispatch run writes goes out as one TLS record. */
const corked = new WeakSet<Conn>();

function corkForThisTick(conn: Conn): void {
  if (corked.has(conn)) return;
  corked.add(conn);
  conn.cork();
  process.nextTick(() => {
    corked.delete(conn);
    conn.uncork();
  });
}

/**
 * Writes a PUBLISH to this client only; `done` runs once it is handed to the
 * socket, with an error when it was not (the socket failed or the client is
 * no longer connected: the message's lock then returns it to the queue).
 */
export function sendPublish(client: Client, p: OutgoingPublish, done: (error?: Error) => void = () => {}): void {
  const c = client as unknown as ClientInternals;
  if (!c.connected) {
    setImmediate(done, new Error('The MQTT client is not connected.'));
    return;
  }
  // The messages handed out together (one dispatch run) share one TLS record and one
  // write, as aedes' own writes do: fewer, larger reads for the device too.
  corkForThisTick(c.conn);
  const bytes = mqttPacket.generate({ cmd: 'publish', topic: p.topic, payload: p.payload, qos: p.qos, retain: false, dup: false, ...(p.qos > 0 ? { messageId: p.messageId } : {}) });
  c.conn.write(bytes, (e) => done(e ?? undefined));
}

interface OutgoingStore {
  outgoingEnqueue(sub: unknown, packet: unknown): Promise<void>;
  outgoingEnqueueCombi(subs: unknown, packet: unknown): Promise<void>;
  outgoingUpdate(client: Client, packet: unknown): Promise<void>;
  outgoingClearMessageId(client: Client, packet: { cmd: string; messageId?: number }): Promise<unknown>;
  outgoingStream(client: Client): Readable;
}

/**
 * Takes aedes' outgoing-message store out of the picture and reports PUBACKs.
 * The hub owns every message a client receives (C2D, redelivered by the engine
 * after a reconnect), so aedes must neither store nor replay outgoing packets:
 * its store would otherwise replay stale copies on a clean=false reconnect, and
 * it refuses to send a packet it did not enqueue itself ('no such packet').
 * Subscriptions (what a clean=false session must keep) are `takeOverSubscriptions`' part.
 * `handler` runs for every PUBACK, which aedes reports through
 * `outgoingClearMessageId` (a documented persistence method).
 */
export function takeOverOutgoing(broker: Aedes, handler: (client: Client, packetId: number) => void): void {
  const store = (broker as unknown as { persistence: OutgoingStore }).persistence;
  store.outgoingEnqueue = async () => {};
  store.outgoingEnqueueCombi = async () => {};
  store.outgoingUpdate = async () => {};
  store.outgoingClearMessageId = async (client, packet) => {
    if (packet.cmd === 'puback' && typeof packet.messageId === 'number') handler(client, packet.messageId);
    return undefined;
  };
  store.outgoingStream = () => Readable.from([]);
}

/** The subscriptions aedes holds for a client (restored ones included after a clean=false reconnect): filter -> QoS. */
export function subscriptionsOf(client: Client): Map<string, number> {
  const subs = (client as unknown as { subscriptions?: Record<string, { qos: number }> }).subscriptions ?? {};
  return new Map(Object.entries(subs).map(([topic, s]) => [topic, s.qos]));
}

/** aedes' default for its emitter's concurrency (and `opts.concurrency`). */
const AEDES_CONCURRENCY = 100;

/**
 * The message emitter for aedes' `mq` option: mqemitter as aedes builds it, except that
 * device-bound filters are not indexed. The hub writes every C2D PUBLISH itself
 * (`sendPublish`), and no PUBLISH aedes routes can match such a filter (authorizePublish
 * lets through D2C topics and `$iothub/` only), so each entry would be a trie path of
 * Maps per device that no message ever walks. Other filters (aedes' own `$SYS` ones) are
 * indexed as usual.
 */
export function emitterWithoutDeviceBound(): MQEmitter {
  const mq = mqemitter({ concurrency: AEDES_CONCURRENCY, matchEmptyLevels: true });
  const on = mq.on.bind(mq);
  const removeListener = mq.removeListener.bind(mq);
  // mqemitter calls back on the next turn: so do we, so aedes' SUBSCRIBE flow sees no difference.
  mq.on = (topic, listener, done) => {
    if (!isDeviceBoundFilter(topic)) return on(topic, listener, done);
    if (done) setImmediate(done);
    return mq;
  };
  mq.removeListener = (topic, listener, done) => {
    if (!isDeviceBoundFilter(topic)) return removeListener(topic, listener, done);
    if (done) setImmediate(done);
  };
  return mq;
}

/** A subscription as aedes stores it for a clean=false session. */
interface StoredSubscription {
  topic: string;
  qos: number;
  rh?: number;
  rap?: boolean;
  nl?: boolean;
}

interface SubscriptionStore {
  addSubscriptions(client: { id: string }, subs: StoredSubscription[]): Promise<void>;
  removeSubscriptions(client: { id: string }, topics: string[]): Promise<void>;
  subscriptionsByClient(client: { id: string }): Promise<StoredSubscription[]>;
  cleanSubscriptions(client: { id: string }): Promise<void>;
  countOffline(): Promise<{ subsCount: number; clientsCount: number }>;
  getClientList(topic: string): Readable;
}

/**
 * Keeps clean=false sessions' subscriptions (what aedes restores on such a reconnect, and
 * `subscriptionsOf` reads) as one small array per client id. aedes' memory store keeps a
 * Map per client and also indexes every QoS 1 subscription in a topic trie, for
 * `subscriptionsByTopic` alone, whose answer aedes hands to `outgoingEnqueueCombi`: a no-op
 * once `takeOverOutgoing` ran. That trie now stays empty, so `subscriptionsByTopic` (left to
 * aedes) answers nothing.
 */
export function takeOverSubscriptions(broker: Aedes): void {
  const store = (broker as unknown as { persistence: SubscriptionStore }).persistence;
  const byClient = new Map<string, StoredSubscription[]>();
  store.addSubscriptions = async (client, subs) => {
    const kept = byClient.get(client.id) ?? [];
    for (const { topic, qos, rh, rap, nl } of subs) {
      const record = { topic, qos, rh, rap, nl };
      const i = kept.findIndex((k) => k.topic === topic);
      if (i >= 0) kept[i] = record;
      else kept.push(record);
    }
    byClient.set(client.id, kept);
  };
  store.removeSubscriptions = async (client, topics) => {
    const kept = byClient.get(client.id)?.filter((k) => !topics.includes(k.topic));
    if (kept?.length) byClient.set(client.id, kept);
    else byClient.delete(client.id);
  };
  store.subscriptionsByClient = async (client) => (byClient.get(client.id) ?? []).map((k) => ({ ...k }));
  store.cleanSubscriptions = async (client) => {
    byClient.delete(client.id);
  };
  store.countOffline = async () => {
    let subsCount = 0;
    for (const kept of byClient.values()) subsCount += kept.filter((k) => k.qos > 0).length;
    return { subsCount, clientsCount: byClient.size };
  };
  store.getClientList = (topic) => Readable.from([...byClient].filter(([, kept]) => kept.some((k) => k.topic === topic)).map(([id]) => id));
}

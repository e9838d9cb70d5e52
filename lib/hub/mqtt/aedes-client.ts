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
 * - `takeOverOutgoing` turns aedes' outgoing store into a PUBACK listener.
 */
import { Readable } from 'node:stream';
import mqttPacket from 'mqtt-packet';
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
 * Subscriptions (what a clean=false session must keep) stay in aedes' store.
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

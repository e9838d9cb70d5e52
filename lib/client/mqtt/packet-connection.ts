/**
 * One MQTT 3.1.1 connection of a device, over TLS (`mqtt`) or a secure
 * WebSocket (`mqtt-ws`): exactly the packets a C2D device needs, framed and
 * parsed by mqtt-packet (the MQTT codec mqtt.js and aedes are built on).
 *
 * Why not mqtt.js itself: a device pays per C2D message for what runs
 * between the socket and the app, and mqtt.js puts more there than a device
 * needs (BENCHMARKS.md has the comparison); and the manual PUBACK (sent on
 * complete(), not on arrival) needs a private mqtt.js method, where here it
 * is four bytes on the socket. A device receives PUBLISH and answers PUBACK,
 * and publishes its device-to-cloud messages at QoS 1: this file does that
 * straight from the socket's data events. What a device session does not use (QoS 2, will, retained
 * messages, offline queueing, MQTT 5) is not here.
 *
 * Keep-alive as mqtt.js does it with reschedulePings off: a PINGREQ every
 * keep-alive period; a PINGRESP still missing when the next one is due ends
 * the connection as lost.
 */
import { EventEmitter, once } from 'node:events';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnackPacket, type IPubackPacket, type IPublishPacket, type ISubackPacket, type Packet } from 'mqtt-packet';
import WebSocket, { createWebSocketStream } from 'ws';
import { WS_SUBPROTOCOL_MQTT } from '../../common/limits';
import { connectionReset } from '../../common/errors';
import { TurnCork } from '../../common/turn-cork';
import { webSocketAgent, type ProxySetting } from '../proxy';

export interface MqttConnectOptions {
  webSocket: boolean;
  host: string;
  port: number;
  /** WebSocket path (`/$iothub/websocket`). */
  path?: string;
  servername: string;
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  pfx?: Buffer;
  passphrase?: string;
  /** WebSocket only: see CommonClientOptions.proxy. */
  proxy?: ProxySetting;
  clientId: string;
  username: string;
  password?: string;
  keepaliveS: number;
  connectTimeoutMs: number;
}

/** A CONNACK refusal: `code` is its return code (4 bad user name or password, 5 not authorized). */
export class ConnackError extends Error {
  constructor(readonly code: number) {
    super(`Connection refused: ${CONNACK_REASONS[code] ?? `return code ${code}`}`);
  }
}

const CONNACK_REASONS: Record<number, string> = {
  1: 'Unacceptable protocol version',
  2: 'Identifier rejected',
  3: 'Server unavailable',
  4: 'Bad username or password',
  5: 'Not authorized',
};

/** PUBACK is four bytes: fixed header 0x40, remaining length 2, the packet id. */
function pubackBytes(packetId: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b[0] = 0x40;
  b[1] = 2;
  b.writeUInt16BE(packetId, 2);
  return b;
}

/** The byte stream, and how to hear that it closed (a WebSocket stream emits no 'close' of its own). */
function openStream(o: MqttConnectOptions): { stream: Duplex; onClose: (cb: () => void) => void } {
  const tlsOptions = {
    ...(o.servername ? { servername: o.servername } : {}),
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.cert ? { cert: o.cert } : {}),
    ...(o.key ? { key: o.key } : {}),
    ...(o.pfx ? { pfx: o.pfx } : {}),
    ...(o.passphrase ? { passphrase: o.passphrase } : {}),
    rejectUnauthorized: true,
  };
  if (o.webSocket) {
    const agent = webSocketAgent(o.host, o.port, o.proxy);
    const ws = new WebSocket(`wss://${o.host.includes(':') ? `[${o.host}]` : o.host}:${o.port}${o.path ?? '/'}`, [WS_SUBPROTOCOL_MQTT], {
      ...tlsOptions,
      ...(agent ? { agent } : {}),
    });
    const stream = createWebSocketStream(ws);
    return { stream, onClose: (cb) => ws.once('close', cb) };
  }
  const s = tls.connect({ host: o.host, port: o.port, ...tlsOptions });
  s.setNoDelay(true);
  return { stream: s, onClose: (cb) => s.once('close', cb) };
}

export interface MqttConnectionEvents {
  publish: [packet: IPublishPacket];
  /** The connection ended; `error` unless end() asked for it. */
  close: [error?: Error];
}

export class MqttConnection extends EventEmitter<MqttConnectionEvents> {
  private readonly parser = mqttPacket.parser({ protocolVersion: 4 });
  private nextPacketId = 1;
  private readonly subacks = new Map<number, (granted: number[]) => void>();
  private readonly pubacks = new Map<number, () => void>();
  private pingTimer: NodeJS.Timeout | undefined;
  private awaitingPong = false;
  /** The PUBACKs of the messages that arrived together (one read) go out as one write. */
  private readonly cork: TurnCork;
  private ended = false;
  private closed = false;
  /**
   * PUBLISHes that came before anyone listened: a hub resuming a clean=false session may send
   * them in the CONNACK's own read, before open() has returned. Emitted once a listener comes.
   */
  private early: IPublishPacket[] | undefined = [];

  private constructor(
    private readonly stream: Duplex,
    private readonly onStreamClose: (cb: () => void) => void,
  ) {
    super();
    this.cork = new TurnCork(stream);
    (this as EventEmitter).on('newListener', (event: string) => {
      if (event !== 'publish' || !this.early) return;
      const early = this.early;
      this.early = undefined;
      // After the listener is added (newListener runs before), and before any later read.
      if (early.length > 0) queueMicrotask(() => early.forEach((p) => this.emit('publish', p)));
    });
  }

  /** Connects, sends CONNECT and resolves on an accepting CONNACK (clean=false, as the SDKs). */
  static async open(o: MqttConnectOptions): Promise<MqttConnection> {
    const { stream, onClose } = openStream(o);
    const c = new MqttConnection(stream, onClose);
    await c.handshake(o);
    return c;
  }

  private handshake(o: MqttConnectOptions): Promise<void> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (e?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!e) {
          this.startKeepalive(o.keepaliveS);
          resolve();
          return;
        }
        this.destroy();
        reject(e);
      };
      const timer = setTimeout(
        () => finish(Object.assign(new Error('The MQTT connection timed out before CONNACK.'), { code: 'ETIMEDOUT' })),
        o.connectTimeoutMs,
      );
      this.parser.on('packet', (p: Packet) => {
        if (!settled) {
          if (p.cmd !== 'connack') return finish(new Error(`Expected CONNACK, got ${p.cmd}.`));
          const rc = (p as IConnackPacket).returnCode ?? 0;
          return finish(rc === 0 ? undefined : new ConnackError(rc));
        }
        this.onPacket(p);
      });
      this.parser.on('error', (e: Error) => {
        if (!settled) finish(e);
        else this.destroy(e);
      });
      this.stream.on('data', (chunk: Buffer) => this.parser.parse(chunk));
      this.stream.on('error', (e: Error) => {
        if (!settled) finish(e);
        else this.destroy(e);
      });
      this.onStreamClose(() => {
        if (!settled) finish(connectionReset('The MQTT connection closed before CONNACK.'));
        this.onClosed();
      });
      this.stream.write(
        mqttPacket.generate({
          cmd: 'connect',
          protocolId: 'MQTT',
          protocolVersion: 4,
          clean: false,
          clientId: o.clientId,
          keepalive: o.keepaliveS,
          username: o.username,
          ...(o.password !== undefined ? { password: Buffer.from(o.password) } : {}),
        }),
      );
    });
  }

  private onPacket(p: Packet): void {
    switch (p.cmd) {
      case 'publish':
        if (this.early) this.early.push(p);
        else this.emit('publish', p);
        return;
      case 'suback': {
        const s = p as ISubackPacket;
        const done = this.subacks.get(s.messageId!);
        this.subacks.delete(s.messageId!);
        done?.(s.granted as number[]);
        return;
      }
      case 'puback': {
        const id = (p as IPubackPacket).messageId as number;
        const done = this.pubacks.get(id);
        this.pubacks.delete(id);
        done?.();
        return;
      }
      case 'pingresp':
        this.awaitingPong = false;
        return;
      default:
        return; // nothing else is sent to a device on these topics
    }
  }

  private startKeepalive(keepaliveS: number): void {
    if (!(keepaliveS > 0)) return;
    this.pingTimer = setInterval(() => {
      if (this.awaitingPong) {
        this.destroy(Object.assign(new Error('The MQTT keep-alive expired (no PINGRESP).'), { code: 'ETIMEDOUT' }));
        return;
      }
      this.awaitingPong = true;
      this.stream.write(mqttPacket.generate({ cmd: 'pingreq' }));
    }, keepaliveS * 1000);
    this.pingTimer.unref?.();
  }

  private allocatePacketId(): number {
    // 1..65535, never one whose PUBACK is still awaited.
    for (;;) {
      const id = this.nextPacketId;
      this.nextPacketId = id >= 65535 ? 1 : id + 1;
      if (!this.pubacks.has(id) && !this.subacks.has(id)) return id;
    }
  }

  /** PUBLISH at QoS 1; resolves on the hub's PUBACK, rejects when the connection closes first. */
  publish(topic: string, payload: Buffer): Promise<void> {
    if (this.closed) return Promise.reject(connectionReset('The MQTT connection is not open.'));
    const messageId = this.allocatePacketId();
    return new Promise((resolve, reject) => {
      const onClose = (e?: Error): void => {
        this.pubacks.delete(messageId);
        reject(e ?? connectionReset('The MQTT connection closed before the PUBACK.'));
      };
      this.once('close', onClose);
      this.pubacks.set(messageId, () => {
        this.removeListener('close', onClose);
        resolve();
      });
      this.stream.write(mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 1, messageId, retain: false, dup: false }));
    });
  }

  /** SUBSCRIBE one filter; resolves with the granted QoS list (128 = refused). */
  subscribe(topic: string, qos: 0 | 1): Promise<number[]> {
    if (this.closed) return Promise.reject(connectionReset('The MQTT connection is not open.'));
    const messageId = this.allocatePacketId();
    return new Promise((resolve, reject) => {
      const onClose = (e?: Error): void => reject(e ?? connectionReset('The MQTT connection closed.'));
      this.once('close', onClose);
      this.subacks.set(messageId, (granted) => {
        this.removeListener('close', onClose);
        resolve(granted);
      });
      this.stream.write(mqttPacket.generate({ cmd: 'subscribe', messageId, subscriptions: [{ topic, qos }] }));
    });
  }

  /** PUBACK for `packetId`; resolves once it is handed to the socket. */
  puback(packetId: number): Promise<void> {
    if (this.closed) return Promise.reject(connectionReset('The MQTT connection is not open.'));
    this.cork.hold();
    return new Promise((resolve, reject) => {
      this.stream.write(pubackBytes(packetId), (e) => (e ? reject(e) : resolve()));
    });
  }

  /** DISCONNECT, then close; resolves once the socket is closed. */
  async end(): Promise<void> {
    if (this.closed) return;
    this.ended = true;
    const closed = once(this, 'close').catch(() => undefined);
    const force = setTimeout(() => this.destroy(), 2000);
    try {
      this.stream.end(mqttPacket.generate({ cmd: 'disconnect' }));
      await closed;
    } finally {
      clearTimeout(force);
    }
  }

  /** Ends the connection at once; `error` is reported as the cause of the loss. */
  destroy(error?: Error): void {
    if (error && !this.ended) this.lossCause ??= error;
    this.stream.destroy();
  }

  private lossCause: Error | undefined;

  private onClosed(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    this.emit('close', this.ended ? undefined : (this.lossCause ?? connectionReset('The MQTT connection was lost.')));
  }
}

/**
 * One device's MQTT 3.1.1 connection: IoT Hub's subset of the protocol, on
 * mqtt-packet (the codec aedes and mqtt.js are built on), which parses and
 * generates every packet. What a device can do here:
 * - CONNECT, authenticated (authenticate.ts); one connection per device, the
 *   newest wins (server.ts); clean=false resumes the session (sessions.ts);
 * - SUBSCRIBE / UNSUBSCRIBE its device-bound filter (authorize.ts): C2D is
 *   then delivered at QoS 1 through an in-flight window, PUBACK completes
 *   (deliver.ts);
 * - PUBLISH D2C on its own events topic (QoS 0 or 1), twin and method
 *   publishes acknowledged and ignored, and a will sent as D2C when the
 *   connection ends without DISCONNECT;
 * - PINGREQ, DISCONNECT; keep-alive: nothing heard for 1.5 x its keep-alive
 *   ends the connection (MQTT-3.1.2-24), as does its SAS token's expiry (the
 *   server's sweep calls checkDeadlines).
 * Anything else (a packet before CONNECT, a second CONNECT, QoS 2, packets
 * only a server sends, a malformed or oversized packet) closes the connection,
 * as MQTT 3.1.1 asks, and leaves the others serving.
 *
 * end() (flush, then close) and destroy() (at once) are how the hub, and a
 * test or fault injector, close one device's connection.
 */
import type { Duplex } from 'node:stream';
import mqttPacket, { type IConnectPacket, type IPublishPacket, type ISubscribePacket, type IUnsubscribePacket, type Packet, type Parser } from 'mqtt-packet';
import type { Clock } from '../../common/clock';
import { TurnCork } from '../../common/turn-cork';
import { SAS_CLOCK_SKEW_MS } from '../../common/sas';
import { deviceBoundFilter } from '../../common/codec/mqtt';
import type { ClientCertificateInfo, DeviceSession, HubApi, Principal, SessionSink } from '../api';
import { authenticateConnect, CONNACK, ConnectRefused } from './authenticate';
import { grantSubscription, publishRule, SUBACK_FAILURE } from './authorize';
import { C2DDelivery, type DeliveryOwner } from './deliver';
import { MqttPacketSizeScanner } from './packet-size-guard';
import { ownParser, type PacketHandler, type SharedPacketReader } from './packet-reader';
import type { SessionStore } from './sessions';
import { refusal, remoteOf, transportOf, type AccessObserver } from '../access';
import { errors } from '../../common/errors';
import type { ConnectionFault } from '../../common/fault-injection';

export type MqttProtocol = 'mqtt' | 'mqtt-ws';

/** Time end() gives the device to take what was written before the socket is destroyed. */
export const END_GRACE_MS = 2000;

/** What the server gives each connection. */
export interface EndpointContext {
  readonly hub: HubApi;
  readonly clock: Clock;
  /** C2D messages locked to one connection at once, waiting for PUBACK. */
  readonly window: number;
  readonly maxPacketBytes: number;
  readonly connectTimeoutMs: number;
  readonly sessions: SessionStore;
  readonly reader: SharedPacketReader;
  diagnostic(event: { deviceId?: string; message: string }): void;
  /** Told of every CONNECT accepted or refused, and of disconnects at token expiry (see ../access.ts). */
  readonly access: AccessObserver | undefined;
  /** This connection is the device's from now on (newest wins): the server retires the older one. */
  claim(conn: MqttDeviceConnection): void;
  /** The connection is no longer the device's (it closed, or a newer one took over). */
  released(conn: MqttDeviceConnection): void;
  /** The stream closed. */
  closed(conn: MqttDeviceConnection): void;
}

const PINGRESP = mqttPacket.generate({ cmd: 'pingresp' });

export class MqttDeviceConnection implements DeliveryOwner, SessionSink, PacketHandler {
  /** Set once CONNECT is accepted. */
  deviceId: string | undefined;
  /** performance.now() when bytes last came in: what the keep-alive measures. */
  private lastHeardMs = performance.now();
  private state: 'connecting' | 'open' | 'closing' | 'closed' = 'connecting';
  /**
   * This connection's own parser: until CONNECT is accepted, and while a read ended inside a
   * packet; otherwise the reads go through the endpoint's shared parser (packet-reader.ts).
   */
  private parser: Parser | undefined;
  private readonly scanner: MqttPacketSizeScanner;
  private clean = true;
  private keepaliveMs = 0;
  /** QoS of this connection's device-bound subscription, if it has one. */
  private subscribedQos: 0 | 1 | undefined;
  private delivery: C2DDelivery | undefined;
  private session: DeviceSession | undefined;
  private will: { topic: string; payload: Buffer; qos: number } | undefined;
  /** When the SAS token stops being valid (hub clock, epoch ms), checked by checkDeadlines. */
  private expiresAtMs: number | undefined;
  /** The CONNECT deadline, then (while closing) end()'s grace: never held by an open connection. */
  private timer: NodeJS.Timeout | undefined;
  /** What one turn writes (a dispatch run, the answers to one read) leaves as one write. */
  private readonly cork: TurnCork;
  private paused = false;
  private reason: string | undefined;

  constructor(
    readonly stream: Duplex,
    readonly protocol: MqttProtocol,
    private readonly ctx: EndpointContext,
    readonly clientCert?: ClientCertificateInfo,
  ) {
    this.scanner = new MqttPacketSizeScanner(ctx.maxPacketBytes);
    this.cork = new TurnCork(stream);
    this.parser = ownParser(this);
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    // The device closed its side: what was written still goes out, then the socket closes.
    stream.on('end', () => void this.end('the device closed the connection'));
    stream.on('error', (e: Error) => this.destroy(`socket error: ${e.message}`));
    stream.on('close', () => this.onClosed());
    this.timer = setTimeout(() => this.drop(`no CONNECT within ${ctx.connectTimeoutMs} ms`), ctx.connectTimeoutMs);
    this.timer.unref();
  }

  /** Flushes what was written, then closes; a device that does not read is cut after END_GRACE_MS. Resolves once closed. */
  end(reason?: string): Promise<void> {
    this.reason ??= reason;
    const closed = this.whenClosed();
    if (this.state === 'closed' || this.state === 'closing') return closed;
    this.state = 'closing';
    // Nothing more goes to a connection on its way out: its locks return to the queue now.
    this.stopDelivery();
    this.stream.end();
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.stream.destroy(), END_GRACE_MS);
    this.timer.unref();
    return closed;
  }

  /** Closes at once, dropping whatever was not yet handed to the socket. */
  destroy(reason?: string): void {
    this.reason ??= reason;
    this.stream.destroy();
  }

  private remote(): { remote?: string } {
    const r = remoteOf(this.stream);
    return r ? { remote: r } : {};
  }

  private whenClosed(): Promise<void> {
    return this.state === 'closed' ? Promise.resolve() : new Promise((resolve) => this.stream.once('close', () => resolve()));
  }

  /**
   * The server's sweep (one timer for every connection): keep-alive (nothing heard for 1.5 x the
   * keep-alive the device asked for), and the SAS token's expiry. MQTT cannot renew a token
   * in-band: IoT Hub disconnects at expiry (401003) and the SDK reconnects with a new one. The hub
   * accepts a token until se + clock skew, so that is when it stops being valid here too.
   */
  checkDeadlines(nowMs: number): void {
    if (this.state !== 'open') return;
    if (this.keepaliveMs > 0 && nowMs - this.lastHeardMs > 1.5 * this.keepaliveMs) {
      this.drop(`nothing heard for 1.5 x the ${this.keepaliveMs / 1000} s keep-alive`);
    } else if (this.expiresAtMs !== undefined && this.ctx.clock.now() >= this.expiresAtMs + SAS_CLOCK_SKEW_MS) {
      const expired = errors.unauthorized('The SAS token expired; disconnecting.');
      this.ctx.diagnostic({ deviceId: this.deviceId, message: expired.toString() });
      this.ctx.access?.(
        refusal(transportOf(this.protocol), expired, { ...(this.deviceId !== undefined ? { identity: this.deviceId } : {}), ...this.remote() }),
      );
      void this.end('401003 IotHubUnauthorized: the SAS token expired');
    }
  }

  /** A newer connection of the same device was accepted (IoT Hub: 400027 ConnectionForcefullyClosedOnNewConnection). */
  retire(): void {
    this.reason ??= '400027 ConnectionForcefullyClosedOnNewConnection: a newer connection of the device replaced this one';
    this.ctx.diagnostic({ deviceId: this.deviceId, message: this.reason });
    void this.end();
    // The newer connection takes over now, not when this socket is done closing.
    this.detach();
  }

  // ---------------------------------------------------------------- reading

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    // Before the parser buffers anything: it has no size limit of its own for MQTT 3.1.1.
    const oversized = this.scanner.feed(chunk);
    if (oversized) return this.drop(oversized);
    this.lastHeardMs = performance.now();
    const own = this.parser;
    if (!own) {
      this.parser = this.ctx.reader.parse(chunk, this, this.scanner.atBoundary);
      return this.applyBackpressure();
    }
    own.parse(chunk);
    // Back to the shared parser at the first packet boundary past CONNECT (which leaves with it: its token too).
    if (this.scanner.atBoundary && this.state === 'open') this.parser = undefined;
    this.applyBackpressure();
  }

  private applyBackpressure(): void {
    // A device that sends but does not read: stop reading until it has taken our answers.
    if (this.stream.writableNeedDrain && !this.paused) {
      this.paused = true;
      this.stream.pause();
      this.stream.once('drain', () => {
        this.paused = false;
        this.stream.resume();
      });
    }
  }

  onParseError(e: Error): void {
    this.drop(`malformed packet: ${e.message}`);
  }

  onPacket(p: Packet): void {
    if (this.state === 'connecting') {
      if (p.cmd === 'connect') return this.onConnect(p);
      return this.drop(`${p.cmd.toUpperCase()} before CONNECT`); // MQTT-3.1.0-1
    }
    if (this.state !== 'open') return;
    switch (p.cmd) {
      case 'publish':
        return this.onPublish(p);
      case 'puback':
        if (p.messageId !== undefined) this.delivery?.puback(p.messageId);
        return;
      case 'subscribe':
        return this.onSubscribe(p);
      case 'unsubscribe':
        return this.onUnsubscribe(p);
      case 'pingreq':
        return this.write(PINGRESP);
      case 'disconnect':
        this.will = undefined; // MQTT-3.14.4-3
        void this.end('DISCONNECT');
        return;
      default:
        // A second CONNECT (MQTT-3.1.0-2), the QoS 2 flow (never started here), packets only a server sends.
        return this.drop(`unexpected ${p.cmd.toUpperCase()}`);
    }
  }

  private onConnect(p: IConnectPacket): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const { hub, sessions } = this.ctx;
    let deviceId: string;
    let principal: Principal;
    try {
      const who = authenticateConnect(hub, p, this.clientCert);
      deviceId = who.deviceId;
      principal = who.principal;
    } catch (e) {
      const refused = e instanceof ConnectRefused ? e : new ConnectRefused(CONNACK.NOT_AUTHORIZED, 'Authentication failed.');
      this.ctx.access?.(
        refusal(transportOf(this.protocol), errors.unauthorized(refused.message), { ...(p.clientId ? { identity: p.clientId } : {}), ...this.remote() }),
      );
      return this.refuse(p.clientId, refused);
    }
    this.deviceId = deviceId;
    this.state = 'open';
    this.clean = p.clean !== false;
    this.keepaliveMs = (p.keepalive ?? 0) * 1000;
    this.ctx.claim(this);
    try {
      this.session = hub.openSession(deviceId, this.protocol, this);
    } catch (e) {
      this.state = 'connecting';
      return this.refuse(p.clientId, new ConnectRefused(CONNACK.SERVER_UNAVAILABLE, `The hub is not serving: ${(e as Error).message}`));
    }
    const who = principal;
    this.ctx.access?.({
      type: 'auth-accepted',
      transport: transportOf(this.protocol),
      method: who.kind === 'device' && who.via === 'x509' ? 'x509' : 'sas',
      identity: who.kind === 'device' ? who.deviceId : who.keyName,
      kind: who.kind,
      ...this.remote(),
    });
    if (p.will) this.will = { topic: p.will.topic, payload: Buffer.from(p.will.payload), qos: p.will.qos ?? 0 };
    this.expiresAtMs = principal.expiresAtMs;
    let sessionPresent = false;
    if (this.clean)
      sessions.discard(deviceId); // MQTT-3.1.2-6
    else sessionPresent = sessions.resume(deviceId);
    this.write(mqttPacket.generate({ cmd: 'connack', returnCode: CONNACK.ACCEPTED, sessionPresent }));
    // clean=false: delivery resumes without a new SUBSCRIBE (SAS renewal, sdk-wire §3).
    const qos = this.clean ? undefined : sessions.subscription(deviceId);
    if (qos !== undefined) this.serve(qos);
  }

  private refuse(clientId: string, refused: ConnectRefused): void {
    this.ctx.diagnostic({ deviceId: clientId || undefined, message: `CONNECT refused: ${refused.message}` });
    this.write(mqttPacket.generate({ cmd: 'connack', returnCode: refused.returnCode, sessionPresent: false }));
    void this.end(`CONNECT refused: ${refused.message}`); // MQTT-3.2.2-5
  }

  private onPublish(p: IPublishPacket): void {
    const deviceId = this.deviceId!;
    const rule = publishRule(deviceId, p);
    if (rule.kind === 'refuse') return this.drop(rule.why);
    if (rule.kind === 'd2c') {
      try {
        this.ctx.hub.noteDeviceToCloud(deviceId, typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload, rule.properties, this.session);
      } catch (e) {
        // Refused (an injected InvokeThrottling or InvokeMaxMessageQuota): MQTT 3.1.1 has no negative PUBACK, so IoT Hub closes the connection.
        return this.drop(`D2C refused: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (p.qos === 1) this.write(mqttPacket.generate({ cmd: 'puback', messageId: p.messageId }));
  }

  private onSubscribe(p: ISubscribePacket): void {
    const deviceId = this.deviceId!;
    const filter = deviceBoundFilter(deviceId);
    const current = new Map<string, number>(this.subscribedQos === undefined ? [] : [[filter, this.subscribedQos]]);
    let qos: 0 | 1 | undefined;
    const granted = p.subscriptions.map((s) => {
      const g = grantSubscription(deviceId, s, current);
      if (g === null) return SUBACK_FAILURE;
      current.set(s.topic, g);
      qos = g;
      return g;
    });
    this.write(mqttPacket.generate({ cmd: 'suback', messageId: p.messageId, granted }));
    if (qos === undefined) return;
    if (!this.clean) this.ctx.sessions.subscribe(deviceId, qos);
    this.serve(qos);
  }

  private onUnsubscribe(p: IUnsubscribePacket): void {
    const deviceId = this.deviceId!;
    if (this.subscribedQos !== undefined && p.unsubscriptions.includes(deviceBoundFilter(deviceId))) {
      if (!this.clean) this.ctx.sessions.unsubscribe(deviceId);
      this.stopDelivery();
    }
    this.write(mqttPacket.generate({ cmd: 'unsuback', messageId: p.messageId, granted: [] }));
  }

  // ---------------------------------------------------------------- C2D

  /** Serves C2D at `qos`, opening the engine receiver the first time. */
  private serve(qos: 0 | 1): void {
    this.subscribedQos = qos;
    if (this.delivery) return this.delivery.setQos(qos);
    this.delivery = new C2DDelivery(this.ctx.hub, this, this.deviceId!, qos, this.ctx.window, this.protocol);
    this.delivery.start();
  }

  receiverClosed(reason: Error): void {
    this.delivery = undefined;
    this.ctx.diagnostic({ deviceId: this.deviceId, message: `C2D receiver closed: ${reason.message}` });
    void this.end(`C2D receiver closed: ${reason.message}`);
  }

  settleFailed(err: unknown): void {
    this.ctx.diagnostic({ deviceId: this.deviceId, message: `PUBACK not settled: ${String(err)}` });
  }

  /** The engine ended the device's session: deleted or disabled (nothing to resume), or the hub is closing. */
  ended(reason: Error): void {
    if (this.deviceId !== undefined) this.ctx.sessions.discard(this.deviceId);
    this.will = undefined;
    void this.end(reason.message);
  }

  /**
   * An injected fault (lib/common/fault-injection.ts). KillTcp: the stream is destroyed with
   * nothing said (no DISCONNECT, no FIN, no WebSocket close). ShutDownMqtt: MQTT 3.1.1 has no
   * server DISCONNECT, so the connection ends after what was written (a PUBACK in flight) is
   * flushed. Other faults are not MQTT's.
   */
  fault(f: ConnectionFault): boolean {
    if (f.type === 'KillTcp') {
      this.destroy(`fault injected: KillTcp (${f.closeReason})`);
      return true;
    }
    if (f.type === 'ShutDownMqtt') {
      void this.end(`fault injected: ShutDownMqtt (${f.closeReason})`);
      return true;
    }
    return false;
  }

  private stopDelivery(): void {
    this.subscribedQos = undefined;
    this.delivery?.stop(); // locks still held return to Enqueued
    this.delivery = undefined;
  }

  publish(topic: string, payload: Buffer, qos: 0 | 1, packetId: number | undefined, done?: (error?: Error) => void): void {
    if (this.state !== 'open') {
      if (done) setImmediate(done, new Error('The MQTT connection is closed.'));
      return;
    }
    const bytes = mqttPacket.generate({ cmd: 'publish', topic, payload, qos, retain: false, dup: false, ...(qos > 0 ? { messageId: packetId } : {}) });
    this.write(bytes, done);
  }

  // ---------------------------------------------------------------- writing and closing

  private write(bytes: Buffer, done?: (error?: Error) => void): void {
    if (!this.stream.writable) {
      if (done) setImmediate(done, new Error('The MQTT connection is closed.'));
      return;
    }
    this.cork.hold();
    this.stream.write(bytes, done ? (e) => done(e ?? undefined) : undefined);
  }

  /** A protocol violation or a limit: say why, close at once. */
  private drop(why: string): void {
    if (this.state === 'closed') return;
    this.ctx.diagnostic({ deviceId: this.deviceId, message: `dropping connection: ${why}` });
    this.destroy(why);
  }

  /** Leaves the device's session: locks back to the queue, the will sent, the hub told. Idempotent. */
  private detach(): void {
    this.stopDelivery();
    const deviceId = this.deviceId;
    const will = this.will;
    this.will = undefined;
    if (deviceId !== undefined && will) {
      // IoT Hub sends a will as a D2C message when the device's connection ends without DISCONNECT.
      const rule = publishRule(deviceId, will);
      try {
        if (rule.kind === 'd2c') this.ctx.hub.noteDeviceToCloud(deviceId, will.payload, rule.properties, this.session);
      } catch (e) {
        // A timed fault refuses the device's sends, its will too.
        this.ctx.diagnostic({ deviceId, message: `will refused: ${e instanceof Error ? e.message : String(e)}` });
      }
    }
    this.session?.close(this.reason);
    this.session = undefined;
    this.ctx.released(this);
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    this.timer = undefined;
    this.detach();
    this.ctx.closed(this);
  }
}

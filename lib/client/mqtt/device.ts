/**
 * MQTT device session (transports `mqtt` and `mqtt-ws`), MQTT 3.1.1 as the
 * SDK speaks it (sdk-wire.md §3): client id = device id, clean=false,
 * username `{host}/{id}/?api-version=...&DeviceClientType=...`, password = SAS.
 *
 * Settlement: MQTT has only PUBACK, which IoT Hub reads as complete. The
 * PUBACK goes out only when the app calls complete(), never on arrival (the
 * official SDK acknowledges every message as it is emitted). So "manual
 * settlement" (the Node-RED c2d-ack node) means what it says: a message not
 * completed is redelivered after the 60 s lock. reject/abandon fail with
 * 405001 OperationNotSupported.
 *
 * A lost lock: MQTT has no answer to a PUBACK, and the hub ignores a late one
 * (it has redelivered the message under a new packet id), so a complete()
 * that only wrote the PUBACK would report a success the hub never saw. The
 * session therefore refuses (412002, no PUBACK sent) a complete() past the
 * client's lock estimate (lock-estimate.ts), and one for a message the hub
 * has since delivered again (the same message id, or the same packet id, in
 * a new PUBLISH): in doubt it says 412002, and the message comes again.
 *
 * The packets themselves go through packet-connection.ts (mqtt-packet on the socket).
 *
 * Token renewal is what the SDK does: DISCONNECT, then CONNECT with the new
 * password, same client id, clean=false, and no new SUBSCRIBE (the hub keeps
 * the subscription of a persistent session).
 */
import type { IPublishPacket } from 'mqtt-packet';
import { buildMqttUsername, deviceBoundFilter, deviceToCloudTopic, parseDeviceBoundTopic } from '../../common/codec/mqtt';
import { receivedFromTopic } from './received';
import { tlsClientAuth } from '../credentials';
import { C2DError, connectionReset, errors } from '../../common/errors';
import { DEFAULT_PORTS, WEBSOCKET_PATH } from '../../common/limits';
import type { DeviceMessage, Properties, Settlement } from '../../common/message';
import type { DeviceSession, DeviceSessionOptions } from '../device-session';
import { MessageBuffer } from '../message-buffer';
import { TokenRenewer } from '../token-renewer';
import { tlsServerName } from '../tls-name';
import { SessionLife } from '../session-life';
import { ConnackError, MqttConnection, type MqttConnectOptions } from './packet-connection';
import { trustedLockMs } from '../lock-estimate';

interface Lock {
  client: MqttConnection;
  packetId: number;
  messageId: string | undefined;
  receivedAtMs: number;
  /** Past this (client clock) the PUBACK would likely come too late: complete() refuses. */
  trustedUntilMs: number;
}

function connectError(e: Error): Error {
  // CONNACK 4 (bad user name or password) and 5 (not authorized): the SDK's UnauthorizedError.
  if (e instanceof ConnackError && (e.code === 4 || e.code === 5)) return errors.unauthorized(`The hub refused the connection: ${e.message}`);
  return e;
}

export async function openMqttDeviceSession(o: DeviceSessionOptions): Promise<DeviceSession> {
  const s = new MqttDeviceSession(o);
  await s.connect();
  return s;
}

class MqttDeviceSession extends SessionLife implements DeviceSession {
  private client: MqttConnection | undefined;
  private subscribed = false;
  private renewer: TokenRenewer | undefined;
  private readonly locks = new Map<string, Lock>();
  /** The live lock token per packet id and per message id, to spot a redelivery. */
  private readonly byPacketId = new Map<number, string>();
  private readonly byMessageId = new Map<string, string>();
  /** Lock tokens superseded by a redelivery, kept only to say why complete() refuses them. */
  private readonly superseded = new Set<string>();
  private readonly buffer = new MessageBuffer();
  private onMessage: ((m: DeviceMessage) => void) | undefined;

  constructor(private readonly o: DeviceSessionOptions) {
    super();
  }

  async connect(): Promise<void> {
    const c = this.o.credentials;
    const token = c.usesToken ? c.issueToken() : undefined;
    this.client = await this.connectClient(token?.token);
    if (token) {
      this.o.onTokenRenewed?.(token.expiresAtMs);
      if (c.canRenew)
        this.renewer = new TokenRenewer(
          c,
          () => this.renew(),
          (e) => this.lost(e),
          token.expiresAtMs,
        );
    }
  }

  private options(password: string | undefined): MqttConnectOptions {
    const c = this.o.credentials;
    const ws = this.o.transport === 'mqtt-ws';
    return {
      webSocket: ws,
      host: c.host,
      port: c.port ?? this.o.port ?? (ws ? DEFAULT_PORTS.https : DEFAULT_PORTS.mqtts),
      ...(ws ? { path: WEBSOCKET_PATH } : {}),
      ...tlsServerName(c.host),
      clientId: c.deviceId,
      keepaliveS: this.o.mqttKeepAliveS,
      connectTimeoutMs: this.o.connectTimeoutMs,
      username: buildMqttUsername({ host: c.hubHostName, deviceId: c.deviceId, params: { DeviceClientType: this.o.userAgent } }),
      ...(password !== undefined ? { password } : {}),
      ...(this.o.ca ? { ca: this.o.ca } : {}),
      ...(this.o.proxy !== undefined ? { proxy: this.o.proxy } : {}),
      ...(c.auth.kind === 'x509' ? tlsClientAuth(c.auth) : {}),
    };
  }

  private async connectClient(password: string | undefined): Promise<MqttConnection> {
    let client: MqttConnection;
    try {
      client = await MqttConnection.open(this.options(password));
    } catch (e) {
      throw connectError(e as Error);
    }
    client.on('close', (e) => {
      if (client === this.client) this.lost(e ?? connectionReset('The MQTT connection was lost.'));
    });
    client.on('publish', (packet) => this.onPublish(client, packet));
    return client;
  }

  /** SAS renewal: disconnect, connect with the new token (clean=false, no SUBSCRIBE). */
  private async renew(): Promise<number> {
    const old = this.client;
    this.client = undefined; // its close is not a loss
    if (old) await old.end().catch(() => undefined);
    const t = this.o.credentials.issueToken();
    this.client = await this.connectClient(t.token);
    this.o.onTokenRenewed?.(t.expiresAtMs);
    return t.expiresAtMs;
  }

  private onPublish(client: MqttConnection, packet: IPublishPacket): void {
    const parsed = parseDeviceBoundTopic(packet.topic);
    if (!parsed || this.closed) return;
    const now = this.o.clock.now();
    const m = receivedFromTopic(parsed, packet.payload as Buffer, now + trustedLockMs(this.o.lockTimeoutMs));
    if (packet.qos > 0 && packet.messageId !== undefined) {
      // The hub hands a message out again only once its old lock is gone: the older lock is stale.
      this.supersede(this.byPacketId.get(packet.messageId));
      if (m.messageId) this.supersede(this.byMessageId.get(m.messageId));
      this.locks.set(m.lockToken, { client, packetId: packet.messageId, messageId: m.messageId, receivedAtMs: now, trustedUntilMs: m.lockedUntilUtc });
      this.byPacketId.set(packet.messageId, m.lockToken);
      if (m.messageId) this.byMessageId.set(m.messageId, m.lockToken);
    }
    if (this.onMessage) this.onMessage(m);
    else this.buffer.push(m);
  }

  private supersede(lockToken: string | undefined): void {
    if (lockToken === undefined || !this.forget(lockToken)) return;
    this.superseded.add(lockToken);
    // Bounded: only the reason for the refusal is lost past this, not the refusal.
    if (this.superseded.size > 1024) this.superseded.delete(this.superseded.values().next().value as string);
  }

  /** Drops a lock and its index entries; false when there was none. */
  private forget(lockToken: string): boolean {
    const lock = this.locks.get(lockToken);
    if (!lock) return false;
    this.locks.delete(lockToken);
    if (this.byPacketId.get(lock.packetId) === lockToken) this.byPacketId.delete(lock.packetId);
    if (lock.messageId && this.byMessageId.get(lock.messageId) === lockToken) this.byMessageId.delete(lock.messageId);
    return true;
  }

  protected release(e: Error): void {
    this.renewer?.stop();
    this.locks.clear();
    this.byPacketId.clear();
    this.byMessageId.clear();
    this.superseded.clear();
    this.buffer.fail(e);
  }

  private async subscribe(): Promise<void> {
    if (this.subscribed) return;
    const client = this.requireClient();
    const granted = await client.subscribe(deviceBoundFilter(this.o.credentials.deviceId), 1);
    if (granted.some((qos) => qos === 128)) throw errors.unauthorized('The hub refused the C2D subscription.');
    this.subscribed = true;
  }

  private requireClient(): MqttConnection {
    if (!this.client || this.closed) throw connectionReset('The MQTT connection is not open.');
    return this.client;
  }

  async enableMessages(onMessage: (m: DeviceMessage) => void): Promise<void> {
    this.onMessage = onMessage;
    for (const m of this.buffer.drain()) onMessage(m);
    await this.subscribe();
  }

  /**
   * Stops handing messages to the listener; they wait for receive(). No
   * UNSUBSCRIBE: the hub would put back the messages delivered but not yet
   * completed, so a complete() right after the last listener went would fail.
   */
  async disableMessages(): Promise<void> {
    this.onMessage = undefined;
  }

  async receive(timeoutMs: number, signal?: AbortSignal): Promise<DeviceMessage | null> {
    signal?.throwIfAborted();
    const ready = this.buffer.shift();
    if (ready) return ready;
    // MQTT has no pull: the subscription pushes, and the buffer hands out one at a time.
    await this.subscribe();
    return this.buffer.next(timeoutMs, signal);
  }

  /** Always a complete: DeviceClient refuses reject and abandon over MQTT before they come here (errors.notOverMqtt). */
  async settle(_kind: Settlement, lockToken: string): Promise<void> {
    const lock = this.locks.get(lockToken);
    if (this.superseded.delete(lockToken)) {
      throw new C2DError(
        'DeviceMessageLockLost',
        `The lock of lock token '${lockToken}' was lost: the hub has since delivered this message again (a new PUBLISH with its message id or packet id), which it does only once the old lock is gone. Settle the new delivery.`,
      );
    }
    // A message from an older connection was put back by the hub when that connection ended.
    if (!lock || lock.client !== this.client || this.closed) throw errors.lockLost(lockToken);
    const now = this.o.clock.now();
    if (now > lock.trustedUntilMs) {
      this.forget(lockToken);
      throw new C2DError(
        'DeviceMessageLockLost',
        `The lock of lock token '${lockToken}' is taken for lost: the message arrived ${now - lock.receivedAtMs} ms ago and the hub's lock lasts ${this.o.lockTimeoutMs} ms. ` +
          'Over MQTT the hub does not answer a PUBACK and ignores a late one, so none was sent: the hub delivers the message again.',
      );
    }
    this.forget(lockToken);
    await lock.client.puback(lock.packetId);
  }

  sendEvent(body: Buffer, properties: Properties): Promise<void> {
    const topic = deviceToCloudTopic(this.o.credentials.deviceId, Object.entries(properties));
    return this.requireClient().publish(topic, body);
  }

  async close(): Promise<void> {
    this.markClosed();
    const c = this.client;
    this.client = undefined;
    if (c) await c.end().catch(() => undefined);
  }
}

/**
 * MQTT device session (transports `mqtt` and `mqtt-ws`), MQTT 3.1.1 as the
 * SDK speaks it (sdk-wire.md §3): client id = device id, clean=false,
 * username `{host}/{id}/?api-version=...&DeviceClientType=...`, password = SAS.
 *
 * Settlement: MQTT has only PUBACK, which IoT Hub reads as complete. mqtt.js
 * would PUBACK every message as soon as it was emitted (as the official SDK
 * does). We override its documented `handleMessage` hook and end it with an
 * error, which makes mqtt.js skip the PUBACK but go on reading packets; the
 * PUBACK goes out only when the app calls complete(). So "manual settlement"
 * (the Node-RED c2d-ack node) means what it says: a message not completed is
 * redelivered after the 60 s lock. reject/abandon fail with 405001
 * OperationNotSupported. A lost lock cannot be seen over MQTT: the hub
 * ignores a late PUBACK (the message was redelivered under a new packet id).
 *
 * Token renewal is what the SDK does: DISCONNECT, then CONNECT with the new
 * password, same client id, clean=false, and no new SUBSCRIBE (the hub keeps
 * the subscription of a persistent session).
 */
import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';
import { buildMqttUsername, deviceBoundFilter, parseDeviceBoundTopic } from '../../common/codec/mqtt';
import { receivedFromTopic } from './received';
import { C2DError, errors } from '../../common/errors';
import { DEFAULT_PORTS, WEBSOCKET_PATH } from '../../common/limits';
import type { ReceivedMessage, Settlement } from '../../common/message';
import type { DeviceSession, DeviceSessionOptions } from '../device-session';
import { MessageBuffer } from '../message-buffer';
import { TokenRenewer } from '../token-renewer';
import { tlsServerName } from '../tls-name';
import { SessionLife } from '../session-life';

/** Ends mqtt.js' handleMessage so that it sends no PUBACK (see above). */
const MANUAL_PUBACK = new Error('PUBACK deferred until complete()');

type PubackSender = { _sendPacket(packet: { cmd: 'puback'; messageId: number }, cb?: (e?: Error) => void): void };

function connectError(e: Error & { code?: unknown }): Error {
  // CONNACK 4 (bad user name or password) and 5 (not authorized): the SDK's UnauthorizedError.
  if (e.code === 4 || e.code === 5) return new C2DError('IotHubUnauthorized', `The hub refused the connection: ${e.message}`);
  return e;
}

export async function openMqttDeviceSession(o: DeviceSessionOptions): Promise<DeviceSession> {
  const s = new MqttDeviceSession(o);
  await s.connect();
  return s;
}

class MqttDeviceSession extends SessionLife implements DeviceSession {
  private client: MqttClient | undefined;
  private subscribed = false;
  private renewer: TokenRenewer | undefined;
  private readonly locks = new Map<string, { client: MqttClient; packetId: number }>();
  private readonly buffer = new MessageBuffer();
  private onMessage: ((m: ReceivedMessage) => void) | undefined;

  constructor(private readonly o: DeviceSessionOptions) {
    super();
  }

  async connect(): Promise<void> {
    const c = this.o.credentials;
    const token = c.usesToken ? c.issueToken() : undefined;
    this.client = await this.connectClient(token?.token);
    if (token) {
      this.o.onTokenRenewed?.(token.expiresAtMs);
      if (c.canRenew) this.renewer = new TokenRenewer(c, () => this.renew(), (e) => this.lost(e), token.expiresAtMs);
    }
  }

  private options(password: string | undefined): IClientOptions {
    const c = this.o.credentials;
    const ws = this.o.transport === 'mqtt-ws';
    return {
      protocol: ws ? 'wss' : 'mqtts',
      host: c.host,
      hostname: c.host,
      port: c.port ?? this.o.port ?? (ws ? DEFAULT_PORTS.https : DEFAULT_PORTS.mqtts),
      ...(ws ? { path: WEBSOCKET_PATH } : {}),
      ...tlsServerName(c.host),
      protocolId: 'MQTT',
      protocolVersion: 4,
      clientId: c.deviceId,
      clean: false,
      keepalive: this.o.mqttKeepAliveS,
      reschedulePings: false,
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: this.o.connectTimeoutMs,
      username: buildMqttUsername({ host: c.hubHostName, deviceId: c.deviceId, params: { DeviceClientType: this.o.userAgent } }),
      ...(password !== undefined ? { password } : {}),
      ...(this.o.ca ? { ca: this.o.ca } : {}),
      ...(c.auth.kind === 'x509' ? { cert: c.auth.cert, key: c.auth.key, ...(c.auth.passphrase ? { passphrase: c.auth.passphrase } : {}) } : {}),
      rejectUnauthorized: true,
    } as IClientOptions;
  }

  private connectClient(password: string | undefined): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(this.options(password));
      client.handleMessage = (_packet, callback) => callback(MANUAL_PUBACK);
      const fail = (e: Error): void => {
        client.removeAllListeners('connect');
        client.on('error', () => undefined);
        client.end(true);
        reject(connectError(e));
      };
      const onClose = (): void => fail(Object.assign(new Error('The MQTT connection closed before CONNACK.'), { code: 'ECONNRESET' }));
      client.once('error', fail);
      client.once('close', onClose);
      client.once('connect', () => {
        client.removeListener('error', fail);
        client.removeListener('close', onClose);
        client.on('error', () => undefined); // 'close' follows and reports the loss
        client.on('close', () => {
          if (client === this.client) this.lost(Object.assign(new Error('The MQTT connection was lost.'), { code: 'ECONNRESET' }));
        });
        client.on('message', (topic, payload, packet) => this.onPublish(client, topic, payload, packet));
        resolve(client);
      });
    });
  }

  /** SAS renewal: disconnect, connect with the new token (clean=false, no SUBSCRIBE). */
  private async renew(): Promise<number> {
    const old = this.client;
    this.client = undefined; // its close is not a loss
    if (old) await old.endAsync().catch(() => undefined);
    const t = this.o.credentials.issueToken();
    this.client = await this.connectClient(t.token);
    this.o.onTokenRenewed?.(t.expiresAtMs);
    return t.expiresAtMs;
  }

  private onPublish(client: MqttClient, topic: string, payload: Buffer, packet: IPublishPacket): void {
    const parsed = parseDeviceBoundTopic(topic);
    if (!parsed || this.closed) return;
    const m = receivedFromTopic(parsed, payload);
    if (packet.qos > 0 && packet.messageId !== undefined) this.locks.set(m.lockToken, { client, packetId: packet.messageId });
    if (this.onMessage) this.onMessage(m);
    else this.buffer.push(m);
  }

  protected release(e: Error): void {
    this.renewer?.stop();
    this.locks.clear();
    this.buffer.fail(e);
  }

  private async subscribe(): Promise<void> {
    if (this.subscribed) return;
    const client = this.requireClient();
    const granted = await client.subscribeAsync(deviceBoundFilter(this.o.credentials.deviceId), { qos: 1 });
    if (granted.some((g) => g.qos === 128)) throw new C2DError('IotHubUnauthorized', 'The hub refused the C2D subscription.');
    this.subscribed = true;
  }

  private requireClient(): MqttClient {
    if (!this.client || this.closed) throw Object.assign(new Error('The MQTT connection is not open.'), { code: 'ECONNRESET' });
    return this.client;
  }

  async enableMessages(onMessage: (m: ReceivedMessage) => void): Promise<void> {
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

  async receive(timeoutMs: number): Promise<ReceivedMessage | null> {
    const ready = this.buffer.shift();
    if (ready) return ready;
    // MQTT has no pull: the subscription pushes, and the buffer hands out one at a time.
    await this.subscribe();
    return this.buffer.next(timeoutMs);
  }

  async settle(kind: Settlement, lockToken: string): Promise<void> {
    if (kind !== 'complete') {
      throw new C2DError('OperationNotSupported', `${kind} is not supported over MQTT: IoT Hub's MQTT has only PUBACK, which completes the message. Use AMQP or HTTP to reject or abandon.`);
    }
    const lock = this.locks.get(lockToken);
    // A message from an older connection was put back by the hub when that connection ended.
    if (!lock || lock.client !== this.client || this.closed) throw errors.lockLost(lockToken);
    this.locks.delete(lockToken);
    await new Promise<void>((resolve, reject) => {
      (lock.client as unknown as PubackSender)._sendPacket({ cmd: 'puback', messageId: lock.packetId }, (e) => (e ? reject(e) : resolve()));
    });
  }

  async close(): Promise<void> {
    this.markClosed();
    const c = this.client;
    this.client = undefined;
    if (c) await c.endAsync().catch(() => undefined);
  }
}

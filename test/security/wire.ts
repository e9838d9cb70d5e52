/**
 * Attackers' tools against a real EmbeddedHub on loopback TLS ports: raw
 * MQTT CONNECT/SUBSCRIBE (mqtt.js without retry), HTTPS requests, and rhea
 * AMQP connections with CBS put-token. Everything opened is closed by close().
 * Every diagnostic the hub writes is kept, so a test can grep it for secrets.
 */
import * as https from 'node:https';
import net from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createSas } from '../../lib/common/sas';
import { buildMqttUsername } from '../../lib/common/codec/mqtt';
import { EmbeddedHub, type EmbeddedHubOptions } from '../../lib/hub/embedded';
import type { HubLimits } from '../../lib/common/limits';
import { testTls } from '../client/rig';
import { Client } from '../amqp/helpers';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export class WireRig {
  private readonly mqttClients = new Set<MqttClient>();
  private readonly amqpClients = new Set<Client>();
  private readonly sockets = new Set<net.Socket>();
  private readonly agent: https.Agent;

  private constructor(
    readonly hub: EmbeddedHub,
    readonly ca: string,
    /** Every diagnostic line the hub wrote. */
    readonly diagnostics: string[],
  ) {
    this.agent = new https.Agent({ keepAlive: false, ca });
  }

  static async start(limits: Partial<HubLimits> = {}, extra: Partial<EmbeddedHubOptions> = {}): Promise<WireRig> {
    const tls = await testTls();
    const diagnostics: string[] = [];
    const hub = await EmbeddedHub.start({
      ports: { amqps: 0, mqtts: 0, https: 0 },
      host: '127.0.0.1',
      tls: { cert: tls.cert, key: tls.key },
      limits,
      ...extra,
      onDiagnostic: (m) => diagnostics.push(m),
    });
    return new WireRig(hub, tls.cert, diagnostics);
  }

  get ports(): { amqps: number; mqtts: number; https: number } {
    const p = this.hub.ports;
    return { amqps: p.amqps ?? 0, mqtts: p.mqtts ?? 0, https: p.https ?? 0 };
  }

  /** A device SAS token (sr = localhost/devices/<id>) signed with `key`, valid for `seconds` (negative: expired). */
  deviceToken(deviceId: string, key?: string, seconds = 3600, resource = `localhost/devices/${deviceId}`): string {
    const k = key ?? (this.hub.hub.registry.getDevice(deviceId)?.authentication.symmetricKey.primaryKey as string);
    return createSas(resource, k, Math.floor(Date.now() / 1000) + seconds);
  }

  policyToken(keyName: string, seconds = 3600): string {
    const p = this.hub.hub.registry.getPolicy(keyName);
    return createSas('localhost', p?.primaryKey as string, Math.floor(Date.now() / 1000) + seconds, keyName);
  }

  async addDevice(deviceId: string): Promise<string> {
    const d = await this.hub.hub.registry.createDevice({ deviceId });
    return d.authentication.symmetricKey.primaryKey as string;
  }

  /** MQTT CONNECT over TLS; resolves the connected client, or the CONNACK refusal code / 'closed'. */
  mqtt(deviceId: string, password: string | undefined, extra: Partial<IClientOptions> = {}): Promise<MqttClient | { refused: number | string }> {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port: this.ports.mqtts,
      protocol: 'mqtts',
      ca: this.ca,
      servername: 'localhost',
      protocolVersion: 4,
      clientId: deviceId,
      username: buildMqttUsername({ host: 'localhost', deviceId, params: {} }),
      ...(password !== undefined ? { password } : {}),
      clean: false,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...extra,
    });
    this.mqttClients.add(client);
    client.on('error', () => undefined);
    return new Promise((resolve) => {
      client.once('connect', () => resolve(client));
      client.once('error', (e: Error & { code?: number | string }) => resolve({ refused: e.code ?? e.message }));
      client.once('close', () => resolve({ refused: 'closed' }));
    });
  }

  /** An AMQP connection over TLS (no SASL: CBS put-token authorizes). */
  async amqp(): Promise<Client> {
    const c = await Client.connect(this.ports.amqps, { transport: 'tls', ca: this.ca, servername: 'localhost' });
    this.amqpClients.add(c);
    return c;
  }

  request(method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', servername: 'localhost', port: this.ports.https, method, path, agent: this.agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  /** A plain TCP socket to a port (no TLS), tracked for close(). */
  rawSocket(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      this.sockets.add(s);
      s.on('error', () => undefined);
      s.once('error', reject);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  /** Lets the hub's side of closed sockets finish closing (event-loop turns, no timers); returns what is still open. */
  async connectionsSettled(): Promise<number> {
    for (let i = 0; i < 10_000 && this.hub.openConnections() > 0; i++) await new Promise((r) => setImmediate(r));
    return this.hub.openConnections();
  }

  async close(): Promise<void> {
    for (const c of this.mqttClients) c.end(true);
    const live = [...this.amqpClients].filter((c) => !(c.conn as unknown as { socket?: net.Socket }).socket?.destroyed);
    await Promise.all(live.map((c) => c.close().catch(() => undefined)));
    for (const s of this.sockets) s.destroy();
    this.agent.destroy();
    await this.hub.close();
  }
}

/** The IoT Hub error code of an HTTP reply (`ExceptionMessage` starts with it), else `HTTP <status>`. */
export function httpCode(r: Reply): string {
  try {
    const m = /^(\d{6}) /.exec((JSON.parse(r.text) as { ExceptionMessage?: string }).ExceptionMessage ?? '');
    if (m) return m[1] as string;
  } catch {
    /* not an IoT Hub error body */
  }
  return `HTTP ${r.status}`;
}

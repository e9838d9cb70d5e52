/**
 * A real Hub (in-memory SQLite, ManualClock) behind the MQTT server on a
 * loopback TCP port, and mqtt.js 5 devices. Everything opened here is closed
 * by `close()`.
 */
import { once } from 'node:events';
import net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { ManualClock } from '../../lib/common/clock';
import { createSas } from '../../lib/common/sas';
import { buildMqttUsername } from '../../lib/common/codec/mqtt';
import { Hub } from '../../lib/hub/index';
import { createMqttServer, type MqttServer, type MqttServerOptions } from '../../lib/hub/mqtt/server';

export interface TestDevice {
  id: string;
  key: string;
  /** A device SAS token valid for `seconds` from the clock's now. */
  token(seconds?: number): string;
}

export class MqttHarness {
  readonly clients = new Set<MqttClient>();
  readonly sockets = new Set<net.Socket>();
  diagnostics: string[] = [];

  private constructor(
    readonly hub: Hub,
    readonly clock: ManualClock,
    readonly server: MqttServer,
    readonly tcp: net.Server,
    readonly port: number,
  ) {}

  static async start(options: MqttServerOptions = {}): Promise<MqttHarness> {
    const clock = new ManualClock();
    const hub = await Hub.open({ clock });
    const diagnostics: string[] = [];
    const server = createMqttServer(hub, { clock, onDiagnostic: (d) => diagnostics.push(d.message), ...options });
    const tcp = net.createServer((socket) => server.handle(socket));
    tcp.listen(0, '127.0.0.1');
    await once(tcp, 'listening');
    const h = new MqttHarness(hub, clock, server, tcp, (tcp.address() as net.AddressInfo).port);
    h.diagnostics = diagnostics;
    tcp.on('connection', (s) => {
      h.sockets.add(s);
      s.on('close', () => h.sockets.delete(s));
    });
    return h;
  }

  async addDevice(deviceId: string): Promise<TestDevice> {
    const d = await this.hub.registry.createDevice({ deviceId });
    const key = d.authentication.symmetricKey.primaryKey as string;
    return {
      id: deviceId,
      key,
      token: (seconds = 3600) => createSas(`localhost/devices/${deviceId}`, key, Math.floor(this.clock.now() / 1000) + seconds),
    };
  }

  /**
   * Connects like the Azure SDK: client id = device id, IoT Hub username, SAS password, clean=false by default.
   * `onMessage` listens from before CONNECT, as the SDKs do: a resumed session may deliver in the CONNACK's read.
   */
  async connect(
    device: TestDevice,
    opts: { clean?: boolean; password?: string; clientId?: string; username?: string; onMessage?: (topic: string, payload: Buffer) => void } = {},
  ): Promise<MqttClient> {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port: this.port,
      protocol: 'mqtt',
      protocolVersion: 4,
      clientId: opts.clientId ?? device.id,
      username: opts.username ?? buildMqttUsername({ host: 'localhost', deviceId: device.id, params: { DeviceClientType: 'test' } }),
      password: opts.password ?? device.token(),
      clean: opts.clean ?? false,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    this.clients.add(client);
    if (opts.onMessage) client.on('message', opts.onMessage);
    client.on('error', () => {}); // refusals are asserted through connectRefusal()
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
      client.once('close', () => reject(new Error('closed before CONNACK')));
    });
    return client;
  }

  /** The CONNACK return code a connection attempt gets refused with. */
  async connectRefusal(device: TestDevice, opts: Parameters<MqttHarness['connect']>[1] = {}): Promise<number | undefined> {
    try {
      await this.connect(device, opts);
    } catch (e) {
      return (e as { code?: number }).code;
    }
    throw new Error('the connection was accepted');
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.end(true);
    await this.server.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.tcp.close(() => resolve()));
    await this.hub.close();
  }
}

/** Resolves with the next MQTT message the client emits. */
export function nextMessage(client: MqttClient): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve) => client.once('message', (topic: string, payload: Buffer) => resolve({ topic, payload })));
}

export const filterOf = (id: string): string => `devices/${id}/messages/devicebound/#`;

/** Resolves when the client's connection closes. */
export function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

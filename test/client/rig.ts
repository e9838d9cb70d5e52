/**
 * A real Hub (in-memory SQLite, ManualClock starting now) behind the AMQP,
 * MQTT and HTTPS servers on loopback TLS listeners with ephemeral ports (and
 * the WebSocket upgrade for AMQP-WS and MQTT-WS). The listeners can be closed
 * and reopened on the same ports under connected clients (reconnect tests).
 * close() releases everything.
 */
import { ManualClock } from '../../lib/common/clock';
import { formatConnectionString } from '../../lib/common/connection-string';
import { generateKey, type Right } from '../../lib/common/sas';
import { Hub, type HubOptions } from '../../lib/hub/index';
import { createAmqpServer, type AmqpServer } from '../../lib/hub/amqp/server';
import type { BearerVerifier } from '../../lib/hub/amqp/peer';
import { clientCertificateOf } from '../../lib/hub/client-cert';
import { createMqttServer, type MqttServer } from '../../lib/hub/mqtt/server';
import { createHttpHandler } from '../../lib/hub/http/index';
import { startListeners, type Listeners } from '../../lib/hub/listeners';
import { ensureTlsMaterial, type TlsMaterial } from '../../lib/hub/tls';
import type { DeviceTransport } from '../../lib/client/types';

let sharedTls: Promise<TlsMaterial> | undefined;
/** One generated certificate for the whole run (generation costs ~100 ms of CPU). */
export function testTls(): Promise<TlsMaterial> {
  sharedTls ??= ensureTlsMaterial(undefined);
  return sharedTls;
}

export const OWNER: Right[] = ['RegistryRead', 'RegistryWrite', 'ServiceConnect', 'DeviceConnect'];

export interface RigOptions {
  hub?: Omit<HubOptions, 'clock'>;
  verifyBearerToken?: BearerVerifier;
}

export class Rig {
  listeners: Listeners | undefined;
  ports: { amqps: number; mqtts: number; https: number } = { amqps: 0, mqtts: 0, https: 0 };
  readonly ownerKey = generateKey();
  readonly serviceKey = generateKey();
  /** Sees every accepted MQTT-over-TLS socket before the server does (wire-parity tests read its bytes). */
  mqttTap: ((s: NodeJS.ReadableStream) => void) | undefined;

  private constructor(
    readonly hub: Hub,
    readonly clock: ManualClock,
    readonly tls: TlsMaterial,
    readonly amqp: AmqpServer,
    readonly mqtt: MqttServer,
    private readonly verifyBearerToken?: BearerVerifier,
  ) {}

  static async start(options: RigOptions = {}): Promise<Rig> {
    const clock = new ManualClock(Date.now());
    const tls = await testTls();
    const hub = await Hub.open({ ...options.hub, clock });
    const amqp = createAmqpServer(hub, {
      clock,
      ...(process.env.RIG_DEBUG ? { log: (e: string, d: Record<string, unknown>) => console.log('amqp:', e, JSON.stringify(d)) } : {}),
      ...(options.verifyBearerToken ? { verifyBearerToken: options.verifyBearerToken } : {}),
    });
    const mqtt = createMqttServer(hub, {
      clock,
      ...(process.env.RIG_DEBUG ? { onDiagnostic: (d: { message: string }) => console.log('mqtt:', d.message) } : {}),
    });
    const rig = new Rig(hub, clock, tls, amqp, mqtt, options.verifyBearerToken);
    await hub.registry.setPolicy({ keyName: 'iothubowner', primaryKey: rig.ownerKey, secondaryKey: generateKey(), rights: OWNER });
    await hub.registry.setPolicy({ keyName: 'service', primaryKey: rig.serviceKey, secondaryKey: generateKey(), rights: ['ServiceConnect'] });
    await rig.openListeners();
    return rig;
  }

  /** Starts the listeners: ephemeral ports the first time, the same ports after closeListeners(). */
  async openListeners(): Promise<void> {
    const first = this.listeners === undefined && this.ports.https === 0;
    const l = await startListeners({
      host: '127.0.0.1',
      ports: first ? { amqps: 0, mqtts: 0, https: 0 } : this.ports,
      tls: this.tls,
      handlers: {
        amqp: (s) => this.amqp.handle(s),
        mqtt: (s) => {
          this.mqttTap?.(s);
          this.mqtt.handle(s);
        },
        http: createHttpHandler(this.hub, this.verifyBearerToken ? { verifyBearerToken: this.verifyBearerToken } : {}),
        webSocket: {
          AMQPWSB10: (ws, req) => this.amqp.handleWebSocket(ws, { clientCert: clientCertificateOf(req.socket) }),
          mqtt: (ws, req) => this.mqtt.handleWebSocket(ws, { clientCert: clientCertificateOf(req.socket) }),
        },
      },
    });
    this.listeners = l;
    this.ports = { amqps: l.ports.amqps ?? 0, mqtts: l.ports.mqtts ?? 0, https: l.ports.https ?? 0 };
  }

  /** Stops listening and cuts every connection (a network outage, as the clients see it). */
  async closeListeners(): Promise<void> {
    const l = this.listeners;
    this.listeners = undefined;
    await l?.close();
  }

  /** The port a transport connects to. */
  portFor(t: DeviceTransport | 'amqp-service'): number {
    if (t === 'amqp' || t === 'amqp-service') return this.ports.amqps;
    if (t === 'mqtt') return this.ports.mqtts;
    return this.ports.https;
  }

  /** HostName with the port (a port in HostName works on every transport of ours). */
  hostFor(t: DeviceTransport | 'amqp-service'): string {
    return `localhost:${this.portFor(t)}`;
  }

  async addDevice(deviceId: string): Promise<string> {
    const d = await this.hub.registry.createDevice({ deviceId });
    return d.authentication.symmetricKey.primaryKey as string;
  }

  async deviceConnectionString(deviceId: string, t: DeviceTransport, key?: string): Promise<string> {
    const k = key ?? (this.hub.registry.getDevice(deviceId)?.authentication.symmetricKey.primaryKey as string | undefined) ?? (await this.addDevice(deviceId));
    return formatConnectionString({ HostName: this.hostFor(t), DeviceId: deviceId, SharedAccessKey: k });
  }

  /** Service connection string; `port` picks AMQP or HTTPS (registry calls go to https). */
  serviceConnectionString(keyName: 'iothubowner' | 'service' = 'iothubowner'): string {
    return formatConnectionString({
      HostName: this.hostFor('amqp-service'),
      SharedAccessKeyName: keyName,
      SharedAccessKey: keyName === 'service' ? this.serviceKey : this.ownerKey,
    });
  }

  async close(): Promise<void> {
    await this.closeListeners();
    await this.amqp.close();
    await this.mqtt.close();
    await this.hub.close();
  }
}

/**
 * The mocha wiring of a suite on one Rig: started before its tests (handed to
 * `use`), closed after them. Returns the list of closers: what a test pushes
 * there (its clients, devices) is closed after that test, in order.
 * `options` may be a function, for options made in an earlier before() hook.
 */
export function rigForSuite(use: (rig: Rig) => void, options: RigOptions | (() => RigOptions) = {}): (() => Promise<void>)[] {
  let rig: Rig | undefined;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    rig = await Rig.start(typeof options === 'function' ? options() : options);
    use(rig);
  });
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
  });
  after(async () => {
    for (const c of closers.splice(0)) await c();
    await rig?.close();
  });
  return closers;
}

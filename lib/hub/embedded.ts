/**
 * The whole embedded hub: the engine (Hub) plus its protocol servers on their
 * ports — AMQPS, MQTTS, HTTPS, and AMQP/MQTT over WebSocket on the HTTPS port.
 * This is what the `c2d-hub` command and the Node-RED `c2d-hub` node start.
 */
import { formatConnectionString } from '../common/connection-string';
import { createAmqpServer, type AmqpServer, type AmqpServerOptions } from './amqp/server';
import { createMqttServer, type MqttServer } from './mqtt/server';
import { createHttpHandler } from './http';
import { Hub, type HubOptions } from './engine/hub';
import { startListeners, type Listeners, type ListenerProtocol } from './listeners';
import { ensureTlsMaterial, type TlsInput, type TlsMaterial } from './tls';
import { clientCertificateOf } from './client-cert';

export interface EmbeddedHubOptions extends HubOptions {
  /** Port per protocol: a number (0 = any free port) or false (off). Absent: IoT Hub's (5671, 8883, 443). */
  ports?: Partial<Record<ListenerProtocol, number | false>>;
  /** Address(es) to bind. Default: loopback (127.0.0.1 and ::1). */
  host?: string | string[];
  /** The server certificate; absent: a self-signed one generated once and kept in `<dataDir>/tls`. */
  tls?: TlsInput;
  /** Verifies Microsoft Entra (`Bearer`) tokens on AMQP put-token; absent: such tokens are refused. */
  verifyBearerToken?: AmqpServerOptions['verifyBearerToken'];
  /** Diagnostics (never carries a secret). */
  onDiagnostic?: (message: string) => void;
  /**
   * Time a new connection has to finish TLS and authenticate (AMQP CBS/SASL,
   * MQTT CONNECT) before it is dropped. Default WIRE_LIMITS.authTimeoutMs (30 s).
   */
  authTimeoutMs?: number;
  /** AMQP idle-time-out advertised to peers (default 4 min); a silent peer is disconnected after it. */
  amqpIdleTimeoutMs?: number;
}

export class EmbeddedHub {
  private constructor(
    readonly hub: Hub,
    readonly tls: TlsMaterial,
    private readonly listeners: Listeners,
    private readonly amqp: AmqpServer,
    private readonly mqtt: MqttServer,
  ) {}

  /** Opens the store, then binds every enabled port. On a bind error everything opened is closed again. */
  static async start(options: EmbeddedHubOptions = {}): Promise<EmbeddedHub> {
    const hub = await Hub.open(options);
    let amqp: AmqpServer | undefined;
    let mqtt: MqttServer | undefined;
    try {
      const tls = await ensureTlsMaterial(options.dataDir, options.tls);
      const diag = options.onDiagnostic;
      amqp = createAmqpServer(hub, {
        clock: options.clock,
        verifyBearerToken: options.verifyBearerToken,
        ...(options.authTimeoutMs !== undefined ? { authTimeoutMs: options.authTimeoutMs } : {}),
        ...(options.amqpIdleTimeoutMs !== undefined ? { idleTimeoutMs: options.amqpIdleTimeoutMs } : {}),
        log: diag ? (event, detail) => diag(`amqp ${event} ${JSON.stringify(detail)}`) : undefined,
      });
      mqtt = createMqttServer(hub, {
        clock: options.clock,
        ...(options.authTimeoutMs !== undefined ? { connectTimeoutMs: options.authTimeoutMs } : {}),
        onDiagnostic: diag ? (e) => diag(`mqtt ${e.deviceId ?? ''} ${e.message}`) : undefined,
      });
      const a = amqp;
      const m = mqtt;
      const listeners = await startListeners({
        ports: options.ports,
        host: options.host,
        tls: { cert: tls.cert, key: tls.key, ca: tls.ca },
        // HubLimits.maxConnections is enforced here, at the sockets, across every port.
        maxConnections: hub.limits.maxConnections,
        handshakeTimeoutMs: options.authTimeoutMs,
        onRefused: diag ? (protocol, open) => diag(`${protocol} connection refused: ${open} open, limit ${hub.limits.maxConnections}`) : undefined,
        handlers: {
          amqp: (socket) => a.handle(socket),
          mqtt: (socket) => m.handle(socket),
          http: createHttpHandler(hub, { onError: diag ? (e) => diag(`https ${String(e)}`) : undefined }),
          webSocket: {
            AMQPWSB10: (ws) => a.handleWebSocket(ws),
            mqtt: (ws, req) => m.handleWebSocket(ws, { clientCert: clientCertificateOf(req.socket) }),
          },
        },
      });
      return new EmbeddedHub(hub, tls, listeners, a, m);
    } catch (err) {
      await amqp?.close();
      await mqtt?.close();
      await hub.close();
      throw err;
    }
  }

  /** TCP connections open now across every port (what limits.maxConnections caps). */
  openConnections(): number {
    return this.listeners.openConnections();
  }

  /** The bound port of each enabled protocol. */
  get ports(): Partial<Record<ListenerProtocol, number>> {
    return this.listeners.ports;
  }

  /** `HostName=...` as clients should use it: the hub name, with a port when `protocol`'s port is not IoT Hub's. */
  hostName(protocol?: ListenerProtocol): string {
    const standard = { amqps: 5671, mqtts: 8883, https: 443 } as const;
    const port = protocol ? this.ports[protocol] : undefined;
    return port !== undefined && protocol && port !== standard[protocol] ? `${this.hub.hubName}:${port}` : this.hub.hubName;
  }

  /** A service connection string for a shared access policy (default iothubowner). */
  serviceConnectionString(keyName = 'iothubowner', protocol: ListenerProtocol = 'amqps'): string {
    const policy = this.hub.registry.getPolicy(keyName);
    if (!policy) throw new Error(`No shared access policy named '${keyName}'.`);
    return formatConnectionString({ HostName: this.hostName(protocol), SharedAccessKeyName: keyName, SharedAccessKey: policy.primaryKey });
  }

  /** A device connection string with the device's primary key. */
  deviceConnectionString(deviceId: string, protocol?: ListenerProtocol): string {
    const d = this.hub.registry.getDevice(deviceId);
    const key = d?.authentication.symmetricKey.primaryKey;
    if (!d || !key) throw new Error(`No device '${deviceId}' with a shared access key.`);
    return formatConnectionString({ HostName: this.hostName(protocol), DeviceId: deviceId, SharedAccessKey: key });
  }

  /**
   * Stops in the order that keeps clients safe: AMQP first (pending service
   * sends are settled before their sockets go), then MQTT, then the ports,
   * then the engine (pending commits finish).
   */
  async close(): Promise<void> {
    await this.amqp.close();
    await this.mqtt.close();
    await this.listeners.close();
    await this.hub.close();
  }
}

/**
 * The whole embedded hub: the engine (Hub) plus its protocol servers on their
 * ports — AMQPS, MQTTS, HTTPS, and AMQP/MQTT over WebSocket on the HTTPS port.
 * This is what the `c2d-hub` command and the Node-RED `c2d-hub` node start.
 */
import { formatConnectionString, hostNameFor } from '../common/connection-string';
import { createAmqpServer, type AmqpServer, type AmqpServerOptions } from './amqp/server';
import { createMqttServer, type MqttServer } from './mqtt/server';
import { createHttpHandler } from './http';
import { Hub, type HubOptions } from './engine/hub';
import { startListeners, type Listeners, type ListenerProtocol } from './listeners';
import { ensureTlsMaterial, type TlsInput, type TlsMaterial } from './tls';
import { clientCertificateOf } from './client-cert';
import { remoteOf, transportOf, type AccessObserver } from './access';
import { createEntraVerifier, type EntraOptions } from './entra';

export interface EmbeddedHubOptions extends HubOptions {
  /** Port per protocol: a number (0 = any free port) or false (off). Absent: IoT Hub's (5671, 8883, 443). */
  ports?: Partial<Record<ListenerProtocol, number | false>>;
  /** Address(es) to bind. Default: loopback (127.0.0.1 and ::1). */
  host?: string | string[];
  /** The server certificate; absent: a self-signed one generated once and kept in `<dataDir>/tls`. */
  tls?: TlsInput;
  /**
   * Trusts a Microsoft Entra issuer: its signing keys (`jwks`, a JSON Web Key Set, or `publicKey`,
   * or `jwksUrl`), and optionally `issuer` and `audience` (default https://iothubs.azure.net).
   * `Bearer` tokens it signed are then accepted on AMQP put-token and on the HTTPS service routes
   * (registry, purge, feedback), with rights from their roles claim (lib/hub/entra.ts).
   */
  trustEntra?: EntraOptions;
  /** Verifies `Bearer` tokens yourself (instead of trustEntra), on AMQP and HTTPS alike; absent both: refused. */
  verifyBearerToken?: AmqpServerOptions['verifyBearerToken'];
  /** Diagnostics (never carries a secret). */
  onDiagnostic?: (message: string) => void;
  /**
   * Every access decision of every server, in one stream: connections the
   * listeners refuse, credentials accepted and refused (./access.ts). Never
   * carries a key, a token or a signature.
   */
  onAccess?: AccessObserver;
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
    // One verifier for every route, so a token means the same on AMQP and HTTPS; bad options fail before the store opens.
    const verifyBearerToken = options.verifyBearerToken ?? (options.trustEntra ? createEntraVerifier(options.trustEntra) : undefined);
    const hub = await Hub.open(options);
    let amqp: AmqpServer | undefined;
    let mqtt: MqttServer | undefined;
    try {
      const tls = await ensureTlsMaterial(options.dataDir, options.tls);
      const diag = options.onDiagnostic;
      amqp = createAmqpServer(hub, {
        clock: options.clock,
        verifyBearerToken,
        ...(options.authTimeoutMs !== undefined ? { authTimeoutMs: options.authTimeoutMs } : {}),
        ...(options.amqpIdleTimeoutMs !== undefined ? { idleTimeoutMs: options.amqpIdleTimeoutMs } : {}),
        log: diag ? (event, detail) => diag(`amqp ${event} ${JSON.stringify(detail)}`) : undefined,
        ...(options.onAccess ? { onAccess: options.onAccess } : {}),
      });
      mqtt = createMqttServer(hub, {
        clock: options.clock,
        ...(options.authTimeoutMs !== undefined ? { connectTimeoutMs: options.authTimeoutMs } : {}),
        onDiagnostic: diag ? (e) => diag(`mqtt ${e.deviceId ?? ''} ${e.message}`) : undefined,
        ...(options.onAccess ? { onAccess: options.onAccess } : {}),
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
        onRefused: (protocol, reason, detail, remote) => {
          diag?.(`${protocol} connection refused: ${detail}`);
          options.onAccess?.({ type: 'connection-refused', transport: transportOf(protocol), reason, detail, ...(remote ? { remote } : {}) });
        },
        handlers: {
          amqp: (socket) => a.handle(socket),
          mqtt: (socket) => m.handle(socket),
          http: createHttpHandler(hub, {
            onError: diag ? (e) => diag(`https ${String(e)}`) : undefined,
            ...(options.onAccess ? { onAccess: options.onAccess } : {}),
            verifyBearerToken,
          }),
          webSocket: {
            AMQPWSB10: (ws, req) => a.handleWebSocket(ws, { clientCert: clientCertificateOf(req.socket), remote: remoteOf(req.socket) }),
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

  /**
   * `HostName=...` as clients should use it: `host` (default: the hub name),
   * with a port when `protocol`'s port is not IoT Hub's.
   */
  hostName(protocol?: ListenerProtocol, host: string = this.hub.hubName): string {
    return hostNameFor(host, protocol, protocol ? this.ports[protocol] : undefined);
  }

  /** A service connection string for a shared access policy (default iothubowner); `host` as in hostName. */
  serviceConnectionString(keyName = 'iothubowner', protocol: ListenerProtocol = 'amqps', host?: string): string {
    const policy = this.hub.registry.getPolicy(keyName);
    if (!policy) throw new Error(`No shared access policy named '${keyName}'.`);
    return formatConnectionString({ HostName: this.hostName(protocol, host), SharedAccessKeyName: keyName, SharedAccessKey: policy.primaryKey });
  }

  /** A device connection string with the device's primary key; `host` as in hostName. */
  deviceConnectionString(deviceId: string, protocol?: ListenerProtocol, host?: string): string {
    const d = this.hub.registry.getDevice(deviceId);
    const key = d?.authentication.symmetricKey.primaryKey;
    if (!d || !key) throw new Error(`No device '${deviceId}' with a shared access key.`);
    return formatConnectionString({ HostName: this.hostName(protocol, host), DeviceId: deviceId, SharedAccessKey: key });
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

/**
 * Every option of the `c2d-hub` command, declared once. Each row gives the
 * config-file key (dotted: `ports.amqps` is `{"ports": {"amqps": ...}}`), the
 * flag, the `C2D_*` variable, the kind (how it is read and checked), the
 * default and the help line; the flag parser, the config-file check, the
 * environment, the resolution order and `--help` are all made from it.
 *
 * Order: defaults < config file < flags < environment, so a container needs
 * no file and no command line.
 */
import { DEFAULT_PORTS, type HubLimits } from '../../common/limits';
import { STORE_SYNCHRONOUS, type StoreSynchronous } from '../api';
import { IOTHUB_AUDIENCE } from '../entra';
import * as K from './kinds';

export type Command = 'serve' | 'export' | 'import' | 'reset';

export interface OptionSpec<T = unknown> {
  /** Config-file key, dotted for nesting; absent: command line only. */
  readonly key?: string;
  /** Where the value lands in CliConfig (the config key when there is one). */
  readonly path: string;
  readonly flag: string;
  /** Absent: not read from the environment (actions such as --yes). */
  readonly env?: string;
  readonly kind: K.Kind<T>;
  /** Repeatable flag (each use adds a value). */
  readonly multiple?: boolean;
  readonly help: string;
  /** Shown as the default in --help. */
  readonly defaultText?: string;
  /** The commands the option means something for. */
  readonly commands: readonly Command[];
}

const SERVE: readonly Command[] = ['serve'];
const STORE: readonly Command[] = ['serve', 'export', 'import', 'reset'];

const opt = <T>(o: OptionSpec<T>): OptionSpec => o as OptionSpec;

export const OPTIONS: readonly OptionSpec[] = [
  opt({
    key: 'dataDir',
    path: 'dataDir',
    flag: 'data',
    env: 'C2D_DATA_DIR',
    kind: K.pathKind('<dir>', false),
    help: 'data folder (store, TLS certificate)',
    defaultText: './c2d-hub-data',
    commands: STORE,
  }),
  opt({
    key: 'hubName',
    path: 'hubName',
    flag: 'hub-name',
    env: 'C2D_HUB_NAME',
    kind: K.text,
    help: 'host name in tokens and connection strings',
    defaultText: 'localhost',
    commands: SERVE,
  }),
  opt({
    key: 'host',
    path: 'host',
    flag: 'host',
    env: 'C2D_HOST',
    kind: K.texts,
    multiple: true,
    help: 'address to bind; repeatable',
    defaultText: '127.0.0.1 and ::1',
    commands: SERVE,
  }),
  opt({
    key: 'ports.amqps',
    path: 'ports.amqps',
    flag: 'amqps',
    env: 'C2D_AMQPS_PORT',
    kind: K.port,
    help: 'AMQP over TLS port',
    defaultText: String(DEFAULT_PORTS.amqps),
    commands: SERVE,
  }),
  opt({
    key: 'ports.mqtts',
    path: 'ports.mqtts',
    flag: 'mqtts',
    env: 'C2D_MQTTS_PORT',
    kind: K.port,
    help: 'MQTT over TLS port',
    defaultText: String(DEFAULT_PORTS.mqtts),
    commands: SERVE,
  }),
  opt({
    key: 'ports.https',
    path: 'ports.https',
    flag: 'https',
    env: 'C2D_HTTPS_PORT',
    kind: K.port,
    help: 'HTTPS + WebSocket port',
    defaultText: String(DEFAULT_PORTS.https),
    commands: SERVE,
  }),
  opt({
    key: 'tls.cert',
    path: 'tls.cert',
    flag: 'cert',
    env: 'C2D_TLS_CERT',
    kind: K.pathKind('<file>', true),
    help: 'TLS certificate (PEM); with --key',
    defaultText: 'self-signed, generated once',
    commands: SERVE,
  }),
  opt({ key: 'tls.key', path: 'tls.key', flag: 'key', env: 'C2D_TLS_KEY', kind: K.pathKind('<file>', true), help: 'TLS private key (PEM)', commands: SERVE }),
  opt({
    key: 'trustedCaCertificates',
    path: 'trustedCaCertificates',
    flag: 'ca-cert',
    env: 'C2D_CA_CERTS',
    kind: K.caFiles,
    multiple: true,
    help: "CA certificates (PEM) that sign CA-signed devices' certificates; repeatable",
    commands: SERVE,
  }),
  opt({
    key: 'entra.jwks',
    path: 'entra.jwks',
    flag: 'trust-jwks',
    env: 'C2D_ENTRA_JWKS',
    kind: K.jwksFile,
    help: 'accept Microsoft Entra bearer tokens signed by a key of this JSON Web Key Set, on AMQP and HTTPS',
    defaultText: 'none',
    commands: SERVE,
  }),
  opt({
    key: 'entra.issuer',
    path: 'entra.issuer',
    flag: 'entra-issuer',
    env: 'C2D_ENTRA_ISSUER',
    kind: K.text,
    help: 'with --trust-jwks: the issuer tokens must name',
    defaultText: 'any',
    commands: SERVE,
  }),
  opt({
    key: 'entra.audience',
    path: 'entra.audience',
    flag: 'entra-audience',
    env: 'C2D_ENTRA_AUDIENCE',
    kind: K.texts,
    multiple: true,
    help: 'with --trust-jwks: an accepted audience; repeatable',
    defaultText: IOTHUB_AUDIENCE,
    commands: SERVE,
  }),
  opt({
    key: 'synchronous',
    path: 'synchronous',
    flag: 'synchronous',
    env: 'C2D_SYNCHRONOUS',
    kind: K.choice<StoreSynchronous>(STORE_SYNCHRONOUS),
    help: 'store commits synced to disk (full) or not: normal survives a crash of this process, not of the machine',
    defaultText: 'full',
    commands: SERVE,
  }),
  opt({
    key: 'registerUnknownDevices',
    path: 'registerUnknownDevices',
    flag: 'register-unknown-devices',
    env: 'C2D_REGISTER_UNKNOWN_DEVICES',
    kind: K.flag,
    help: 'create a device on its first send',
    defaultText: 'false',
    commands: SERVE,
  }),
  opt({
    key: 'faultInjection',
    path: 'faultInjection',
    flag: 'no-fault-injection',
    env: 'C2D_FAULT_INJECTION',
    kind: K.offFlag,
    help: "ignore devices' D2C fault requests (AzIoTHub_FaultOperation*): they stay ordinary D2C messages; the variable and config key say true or false",
    defaultText: 'fault requests honoured',
    commands: SERVE,
  }),
  opt({
    key: 'limits',
    path: 'limits',
    flag: 'limit',
    env: 'C2D_LIMITS',
    kind: K.limits,
    multiple: true,
    help: 'a hub limit (HubLimits name, e.g. maxConnections=1000); repeatable; the variable takes a comma-separated list',
    defaultText: "IoT Hub's values",
    commands: SERVE,
  }),
  opt({
    key: 'devices',
    path: 'devices',
    flag: 'device',
    env: 'C2D_DEVICES',
    kind: K.devices,
    multiple: true,
    help: 'devices to create or update on start: ids, or JSON as in the config file; repeatable',
    defaultText: 'demo-device',
    commands: SERVE,
  }),
  opt({
    key: 'policies',
    path: 'policies',
    flag: 'policy',
    env: 'C2D_POLICIES',
    kind: K.policies,
    multiple: true,
    help: 'shared access policies (JSON as in the config file); when given, the hub has exactly these',
    defaultText: "IoT Hub's five",
    commands: SERVE,
  }),
  opt({
    key: 'admin.port',
    path: 'admin.port',
    flag: 'admin-port',
    env: 'C2D_ADMIN_PORT',
    kind: K.port,
    help: 'plain-HTTP admin listener (/health, /ready, /metrics)',
    defaultText: 'off',
    commands: SERVE,
  }),
  opt({
    key: 'admin.host',
    path: 'admin.host',
    flag: 'admin-host',
    env: 'C2D_ADMIN_HOST',
    kind: K.text,
    help: 'address of the admin listener',
    defaultText: '127.0.0.1',
    commands: SERVE,
  }),
  opt({
    key: 'log',
    path: 'log',
    flag: 'log',
    env: 'C2D_LOG',
    kind: K.choice(['text', 'json'] as const),
    help: 'connection and auth log lines as text or one JSON object per line',
    defaultText: 'text',
    commands: SERVE,
  }),
  opt({ path: 'force', flag: 'force', kind: K.flag, help: 'import: replace what the store holds', commands: ['import'] }),
  opt({ path: 'keepRegistry', flag: 'keep-registry', kind: K.flag, help: 'reset: keep devices and policies, drop messages and feedback', commands: ['reset'] }),
  opt({ path: 'yes', flag: 'yes', kind: K.flag, help: 'reset: really empty the store', commands: ['reset'] }),
];

/** The config file itself: a flag and a variable, never a key of the file. */
export const CONFIG_FLAG = 'config';
export const CONFIG_ENV = 'C2D_CONFIG';

/** What the options resolve to. */
export interface CliConfig {
  dataDir: string;
  hubName: string;
  host?: string[];
  ports: { amqps: number | false; mqtts: number | false; https: number | false };
  tls?: { cert?: string; key?: string };
  trustedCaCertificates?: string[];
  /** Microsoft Entra tokens the hub trusts: the issuer's key set (a file), its name, the audiences. */
  entra?: { jwks?: string; issuer?: string; audience?: string[] };
  synchronous?: StoreSynchronous;
  registerUnknownDevices: boolean;
  /** Whether devices' D2C fault requests are honoured (HubOptions.faultInjection). */
  faultInjection: boolean;
  limits: Partial<HubLimits>;
  devices?: K.DeviceConfig[];
  policies?: K.PolicyConfig[];
  admin: { port: number | false; host: string };
  log: 'text' | 'json';
  force: boolean;
  keepRegistry: boolean;
  yes: boolean;
}

/** Values before any file, flag or variable. */
export function defaults(cwd: string): CliConfig {
  return {
    dataDir: `${cwd}/c2d-hub-data`,
    hubName: 'localhost',
    ports: { ...DEFAULT_PORTS },
    registerUnknownDevices: false,
    faultInjection: true,
    limits: {},
    admin: { port: false, host: '127.0.0.1' },
    log: 'text',
    force: false,
    keepRegistry: false,
    yes: false,
  };
}

/**
 * The c2d-hub node's editor settings -> hub start options. Ports: a number
 * (0 = any free port), blank = off. Durations are seconds in the editor.
 * Defaults need no privileges: nothing below 1024 unless the user sets it.
 */
import { DEFAULT_PORTS, type HubLimits } from '../../lib/common/limits';
import type { StoreSynchronous } from '../../lib/hub/api';
import type { Protocol, StartOptions } from './start-hub';

export interface HubDef {
  hubName?: string;
  host?: string;
  amqpsPort?: string | number;
  mqttsPort?: string | number;
  httpsPort?: string | number;
  dataDir?: string;
  devices?: string;
  registerUnknown?: boolean;
  /** Whether devices' D2C fault requests are honoured; absent (flows made before it existed) = true. */
  faultInjection?: boolean;
  /** The store's synchronous setting; absent (flows made before it existed) = FULL. */
  storeSync?: string;
  queueDepth?: string | number;
  ttl?: string | number;
  maxDeliveryCount?: string | number;
  lockTimeout?: string | number;
  feedbackTtl?: string | number;
  feedbackWindow?: string | number;
  /** Node id of a Node-RED tls-config node with the hub's certificate and key; absent or '': self-signed. */
  tls?: string;
  /** PEM text of the CA certificates certificateAuthority devices' chains lead to (public, not secret). */
  caCerts?: string;
  /** How long dead letters are kept, seconds (0 = dropped at once, IoT Hub's behaviour). */
  deadLetterTtl?: string | number;
  /** Dead letters kept per device (0 = none). */
  deadLetterMax?: string | number;
}

/** IoT Hub's ports, but HTTPS on 8443: Node-RED usually runs unprivileged, and 443 needs root. */
export const DEFAULT_NODE_PORTS: Record<Protocol, number> = { amqps: DEFAULT_PORTS.amqps, mqtts: DEFAULT_PORTS.mqtts, https: 8443 };

function port(v: string | number | undefined): number | false {
  if (v === undefined || v === null || String(v).trim() === '') return false;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`Port '${String(v)}' is not a number from 0 to 65535.`);
  return n;
}

function num(v: string | number | undefined, scale = 1): number | undefined {
  if (v === undefined || v === null || String(v).trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`'${String(v)}' is not a number.`);
  return Math.round(n * scale);
}

export function hubOptionsOf(def: HubDef, creds: { deviceKey?: string; serviceKey?: string }, defaultDataDir: string): StartOptions {
  const limits: Partial<HubLimits> = {};
  const set = <K extends keyof HubLimits>(k: K, v: number | undefined): void => {
    if (v !== undefined) (limits as Record<string, number>)[k] = v;
  };
  set('maxQueueDepth', num(def.queueDepth));
  set('defaultTtlMs', num(def.ttl, 1000));
  set('maxDeliveryCount', num(def.maxDeliveryCount));
  set('lockTimeoutMs', num(def.lockTimeout, 1000));
  set('feedbackTtlMs', num(def.feedbackTtl, 1000));
  set('feedbackBatchWindowMs', num(def.feedbackWindow, 1000));
  set('deadLetterTtlMs', num(def.deadLetterTtl, 1000));
  set('deadLetterMaxPerDevice', num(def.deadLetterMax));
  return {
    hubName: def.hubName?.trim() || 'localhost',
    host: def.host?.trim() || '127.0.0.1',
    dataDir: def.dataDir?.trim() || defaultDataDir,
    ports: { amqps: port(def.amqpsPort), mqtts: port(def.mqttsPort), https: port(def.httpsPort) },
    limits,
    registerUnknownDevices: def.registerUnknown === true,
    faultInjection: def.faultInjection !== false,
    // Hub.open checks the value (400004 for anything but FULL or NORMAL).
    synchronous: (def.storeSync || 'FULL') as StoreSynchronous,
    // Hub.open checks each is a CA certificate (400004).
    trustedCaCertificates: def.caCerts?.trim() ? [def.caCerts] : [],
    devices: (def.devices ?? '').split(/[\s,]+/).filter((d) => d !== ''),
    deviceKey: creds.deviceKey || undefined,
    serviceKey: creds.serviceKey || undefined,
  };
}

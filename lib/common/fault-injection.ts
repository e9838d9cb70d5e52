/**
 * IoT Hub's fault injection, as its test hubs did it and the official SDKs'
 * end-to-end suites ask for it (C# e2e/test/helpers/templates/FaultInjection*.cs,
 * Java ErrorInjectionHelper, Node e2e d2c/c2d disconnect tests, the C SDK's
 * iothubclient_common_e2e.c): a device sends a D2C message whose application
 * properties name a fault, a close reason, a delay and a duration, and after
 * the delay the hub breaks that device's own connection in that way.
 *
 * Names, values and the rules for reading a request live here, for the hub
 * (which performs faults) and the clients (which ask for them) alike.
 */
import { C2DError } from './errors';
import type { Properties } from './message';

/** The D2C application properties of a fault request (the SDK suites' spelling). */
export const FAULT_PROPERTIES = {
  type: 'AzIoTHub_FaultOperationType',
  closeReason: 'AzIoTHub_FaultOperationCloseReason',
  delayInSecs: 'AzIoTHub_FaultOperationDelayInSecs',
  durationInSecs: 'AzIoTHub_FaultOperationDurationInSecs',
} as const;

/** Faults performed once on a connection. */
export const CONNECTION_FAULTS = [
  'KillTcp',
  'KillAmqpConnection',
  'KillAmqpSession',
  'KillAmqpCBSLinkReq',
  'KillAmqpCBSLinkResp',
  'KillAmqpC2DLink',
  'KillAmqpD2CLink',
  'ShutDownAmqp',
  'ShutDownMqtt',
] as const;

/** Faults that hold for a duration: the device's operations are refused meanwhile. */
export const TIMED_FAULTS = ['InvokeThrottling', 'InvokeMaxMessageQuota', 'InvokeAuthError'] as const;

export const FAULT_TYPES = [...CONNECTION_FAULTS, ...TIMED_FAULTS] as const;

export type ConnectionFaultType = (typeof CONNECTION_FAULTS)[number];
export type TimedFaultType = (typeof TIMED_FAULTS)[number];
export type FaultType = (typeof FAULT_TYPES)[number];

/** A fault as asked for (delay and duration in seconds, as on the wire). */
export interface FaultRequest {
  type: FaultType;
  /** Carried in the AMQP close or detach error's description; default DEFAULT_CLOSE_REASON. */
  closeReason?: string;
  /** Seconds from the request to the fault; default 0. */
  delayInSecs?: number;
  /** Seconds a timed fault lasts; default DEFAULT_FAULT_DURATION_S. Connection faults ignore it. */
  durationInSecs?: number;
}

/** What a connection is asked to do (lib/hub/api.ts SessionSink.fault). */
export interface ConnectionFault {
  type: ConnectionFaultType;
  closeReason: string;
}

/** The close reason when a request names none. */
export const DEFAULT_CLOSE_REASON = 'Fault injected by request';
/** How long a timed fault lasts when the request gives no duration (the C# suites' default). */
export const DEFAULT_FAULT_DURATION_S = 5;
/** The longest delay or duration a request may ask for: an hour (a test tool, not an outage). */
export const MAX_FAULT_SECONDS = 3600;
/** The longest close reason kept (an AMQP error description, a log line). */
export const MAX_CLOSE_REASON_CHARS = 256;

/**
 * The AMQP errors a fault closes or detaches with. The conditions are ones
 * the SDKs read as transient, so each reconnects by its own retry policy:
 * the Node SDK retries amqp:internal-error (InternalServerError) and
 * amqp:link:detach-forced (ServiceUnavailableError) but not
 * amqp:connection:forced (a plain Error, no retry), and our client and C#
 * take both as transient. The description carries the close reason.
 */
export const FAULT_AMQP_CONDITIONS = {
  connection: 'amqp:internal-error',
  session: 'amqp:internal-error',
  link: 'amqp:link:detach-forced',
} as const;

/** Where each fault applies: the transports whose connections can perform it. */
const APPLIES: Record<FaultType, readonly string[]> = {
  KillTcp: ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'in-process'],
  KillAmqpConnection: ['amqp', 'amqp-ws', 'in-process'],
  KillAmqpSession: ['amqp', 'amqp-ws', 'in-process'],
  KillAmqpCBSLinkReq: ['amqp', 'amqp-ws', 'in-process'],
  KillAmqpCBSLinkResp: ['amqp', 'amqp-ws', 'in-process'],
  KillAmqpC2DLink: ['amqp', 'amqp-ws', 'in-process'],
  KillAmqpD2CLink: ['amqp', 'amqp-ws', 'in-process'],
  ShutDownAmqp: ['amqp', 'amqp-ws', 'in-process'],
  ShutDownMqtt: ['mqtt', 'mqtt-ws', 'in-process'],
  InvokeThrottling: ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http', 'in-process'],
  InvokeMaxMessageQuota: ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http', 'in-process'],
  InvokeAuthError: ['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'],
};

/** The transports a fault applies to (the README's table is this). */
export function faultTransports(type: FaultType): readonly string[] {
  return APPLIES[type];
}

export function faultAppliesTo(type: FaultType, transport: string): boolean {
  return APPLIES[type].includes(transport);
}

export function isConnectionFault(type: FaultType): type is ConnectionFaultType {
  return (CONNECTION_FAULTS as readonly string[]).includes(type);
}

export function isFaultType(v: unknown): v is FaultType {
  return typeof v === 'string' && (FAULT_TYPES as readonly string[]).includes(v);
}

/** A fault request with every default filled in, checked. */
export interface CheckedFault {
  type: FaultType;
  closeReason: string;
  delayMs: number;
  durationMs: number;
}

/** A request that could not be read: which property (or field) and why. */
export class BadFaultRequest extends C2DError {
  constructor(
    readonly property: string,
    message: string,
  ) {
    super('ArgumentInvalid', message);
  }
}

/** Seconds from a property (text) or a field (number): a non-negative number up to MAX_FAULT_SECONDS. */
function seconds(v: unknown, name: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isFinite(n) || n < 0 || n > MAX_FAULT_SECONDS) {
    throw new BadFaultRequest(name, `${name} must be a number of seconds from 0 to ${MAX_FAULT_SECONDS} (got ${JSON.stringify(v)}).`);
  }
  return n;
}

/** Checks a request given as fields (the API, the node, the admin route); names are the field names. Throws BadFaultRequest. */
export function checkFault(
  r: { type?: unknown; closeReason?: unknown; delayInSecs?: unknown; durationInSecs?: unknown },
  names: Record<keyof typeof FAULT_PROPERTIES, string> = FIELD_NAMES,
): CheckedFault {
  if (!isFaultType(r.type))
    throw new BadFaultRequest(names.type, `${names.type} must be one of ${FAULT_TYPES.join(', ')} (got ${JSON.stringify(r.type ?? null)}).`);
  if (r.closeReason !== undefined && r.closeReason !== null && typeof r.closeReason !== 'string') {
    throw new BadFaultRequest(names.closeReason, `${names.closeReason} must be text (got ${JSON.stringify(r.closeReason)}).`);
  }
  const reason =
    typeof r.closeReason === 'string' && r.closeReason.trim() !== '' ? r.closeReason.trim().slice(0, MAX_CLOSE_REASON_CHARS) : DEFAULT_CLOSE_REASON;
  const delay = seconds(r.delayInSecs, names.delayInSecs) ?? 0;
  const duration = seconds(r.durationInSecs, names.durationInSecs) ?? DEFAULT_FAULT_DURATION_S;
  return { type: r.type, closeReason: reason, delayMs: Math.round(delay * 1000), durationMs: Math.round(duration * 1000) };
}

const FIELD_NAMES = { type: 'type', closeReason: 'closeReason', delayInSecs: 'delayInSecs', durationInSecs: 'durationInSecs' };

/**
 * A property by its name in any case: over HTTPS the names arrive as header names, which
 * Node gives in lower case (`iothub-app-aziothub_faultoperationtype`).
 */
function property(properties: Properties, name: string): string | undefined {
  const exact = properties[name];
  if (exact !== undefined) return exact;
  const lower = name.toLowerCase();
  for (const k of Object.keys(properties)) if (k.length === name.length && k.toLowerCase() === lower) return properties[k];
  return undefined;
}

/**
 * Reads a fault request from a D2C message's properties: undefined when the
 * message asks for none (no AzIoTHub_FaultOperationType), the checked fault,
 * or a BadFaultRequest naming the property at fault.
 */
export function faultRequestOf(properties: Properties): CheckedFault | BadFaultRequest | undefined {
  const type = property(properties, FAULT_PROPERTIES.type);
  if (type === undefined) return undefined;
  try {
    return checkFault(
      {
        type,
        closeReason: property(properties, FAULT_PROPERTIES.closeReason),
        delayInSecs: property(properties, FAULT_PROPERTIES.delayInSecs),
        durationInSecs: property(properties, FAULT_PROPERTIES.durationInSecs),
      },
      FAULT_PROPERTIES,
    );
  } catch (e) {
    if (e instanceof BadFaultRequest) return e;
    throw e;
  }
}

/** The D2C properties that ask the hub for a fault (DeviceClient.sendEvent(body, faultRequestProperties(...))). */
export function faultRequestProperties(r: FaultRequest): Properties {
  const p: Properties = { [FAULT_PROPERTIES.type]: r.type };
  if (r.closeReason !== undefined) p[FAULT_PROPERTIES.closeReason] = r.closeReason;
  if (r.delayInSecs !== undefined) p[FAULT_PROPERTIES.delayInSecs] = String(r.delayInSecs);
  if (r.durationInSecs !== undefined) p[FAULT_PROPERTIES.durationInSecs] = String(r.durationInSecs);
  return p;
}

/**
 * The fault request fields of a JSON object or a msg.payload (the node action, the admin
 * routes), unchecked: HubApi.injectFault checks each and names a bad one (400004).
 */
export function faultRequestFields(v: unknown): FaultRequest {
  const o = (v && typeof v === 'object' && !Buffer.isBuffer(v) ? v : {}) as Record<string, unknown>;
  return {
    type: o.type as FaultType,
    closeReason: o.closeReason as string | undefined,
    delayInSecs: o.delayInSecs as number | undefined,
    durationInSecs: o.durationInSecs as number | undefined,
  };
}

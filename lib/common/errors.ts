/**
 * IoT Hub's error codes, defined once. Each entry says how the error looks on
 * every wire (HTTP status and `iothub-errorcode`, AMQP condition) and how a
 * client should treat it (retry class). Source: c2d-semantics.md §2.2, §5.1.
 */

export type RetryClass = 'transient' | 'unauthorized' | 'throttled' | 'notFound' | 'fatal';

interface ErrorSpec {
  readonly code: number;
  readonly httpStatus: number;
  /** AMQP error condition the SDKs map back to this error. */
  readonly amqpCondition: string;
  readonly retry: RetryClass;
}

export const ERRORS = {
  ArgumentInvalid: { code: 400004, httpStatus: 400, amqpCondition: 'com.microsoft:argument-error', retry: 'fatal' },
  ArgumentNull: { code: 400005, httpStatus: 400, amqpCondition: 'com.microsoft:argument-error', retry: 'fatal' },
  MessageExpiryTimeInvalid: { code: 400011, httpStatus: 400, amqpCondition: 'com.microsoft:argument-out-of-range', retry: 'fatal' },
  InvalidProtocolVersion: { code: 400001, httpStatus: 400, amqpCondition: 'amqp:not-implemented', retry: 'fatal' },
  IotHubUnauthorized: { code: 401003, httpStatus: 401, amqpCondition: 'amqp:unauthorized-access', retry: 'unauthorized' },
  IotHubUnauthorizedAccess: { code: 401002, httpStatus: 401, amqpCondition: 'amqp:unauthorized-access', retry: 'unauthorized' },
  IotHubQuotaExceeded: { code: 403002, httpStatus: 403, amqpCondition: 'com.microsoft:quota-exceeded', retry: 'fatal' },
  DeviceMaximumQueueDepthExceeded: { code: 403004, httpStatus: 403, amqpCondition: 'amqp:resource-limit-exceeded', retry: 'fatal' },
  InvalidMessageExpiryTime: { code: 403009, httpStatus: 403, amqpCondition: 'com.microsoft:argument-out-of-range', retry: 'fatal' },
  DeviceDisabled: { code: 403012, httpStatus: 403, amqpCondition: 'amqp:unauthorized-access', retry: 'unauthorized' },
  DeviceNotFound: { code: 404001, httpStatus: 404, amqpCondition: 'amqp:not-found', retry: 'notFound' },
  /**
   * This hub's own code: no pending message or dead letter with that id. IoT Hub has no
   * per-message operations (peek, cancel, requeue), so it has no code for this.
   */
  MessageNotFound: { code: 404000, httpStatus: 404, amqpCondition: 'amqp:not-found', retry: 'notFound' },
  DeviceConnectionClosedRemotely: { code: 404104, httpStatus: 404, amqpCondition: 'amqp:connection:forced', retry: 'transient' },
  DeviceAlreadyExists: { code: 409001, httpStatus: 409, amqpCondition: 'amqp:not-allowed', retry: 'fatal' },
  LinkCreationConflict: { code: 409002, httpStatus: 409, amqpCondition: 'amqp:link:stolen', retry: 'transient' },
  PreconditionFailed: { code: 412001, httpStatus: 412, amqpCondition: 'com.microsoft:precondition-failed', retry: 'fatal' },
  DeviceMessageLockLost: { code: 412002, httpStatus: 412, amqpCondition: 'com.microsoft:message-lock-lost', retry: 'fatal' },
  MessageTooLarge: { code: 413001, httpStatus: 413, amqpCondition: 'amqp:link:message-size-exceeded', retry: 'fatal' },
  ThrottlingException: { code: 429001, httpStatus: 429, amqpCondition: 'com.microsoft:device-container-throttled', retry: 'throttled' },
  ServerError: { code: 500001, httpStatus: 500, amqpCondition: 'amqp:internal-error', retry: 'transient' },
  ServiceUnavailable: { code: 503001, httpStatus: 503, amqpCondition: 'com.microsoft:timeout', retry: 'transient' },
  OperationNotSupported: { code: 405001, httpStatus: 405, amqpCondition: 'amqp:not-implemented', retry: 'fatal' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof ERRORS;

const BY_CODE = new Map<number, ErrorName>((Object.keys(ERRORS) as ErrorName[]).map((n) => [ERRORS[n].code, n]));
const BY_CONDITION = new Map<string, ErrorName>();
for (const n of Object.keys(ERRORS) as ErrorName[]) {
  // First name wins for shared conditions: the table is ordered by precedence.
  if (!BY_CONDITION.has(ERRORS[n].amqpCondition)) BY_CONDITION.set(ERRORS[n].amqpCondition, n);
}

/**
 * An error with IoT Hub's numeric `code` (e.g. 403004) and `name`
 * (e.g. DeviceMaximumQueueDepthExceeded). Every layer throws these, so a
 * Catch node, a REST body and an AMQP outcome all carry the same facts.
 */
export class C2DError extends Error {
  readonly code: number;
  override readonly name: ErrorName;
  readonly httpStatus: number;
  readonly amqpCondition: string;
  readonly retry: RetryClass;

  constructor(name: ErrorName, message: string, options?: { cause?: unknown }) {
    super(message, options);
    const spec: ErrorSpec = ERRORS[name];
    this.name = name;
    this.code = spec.code;
    this.httpStatus = spec.httpStatus;
    this.amqpCondition = spec.amqpCondition;
    this.retry = spec.retry;
  }

  /** A readable one-liner: `403004 DeviceMaximumQueueDepthExceeded: ...`. */
  override toString(): string {
    return `${this.code} ${this.name}: ${this.message}`;
  }

  toJSON(): { code: number; name: string; message: string } {
    return { code: this.code, name: this.name, message: this.message };
  }
}

/** Looks up an error name by IoT Hub's numeric code. */
export function errorNameForCode(code: number): ErrorName | undefined {
  return BY_CODE.get(code);
}

/** Looks up an error name by AMQP condition (first match in table order). */
export function errorNameForAmqpCondition(condition: string): ErrorName | undefined {
  return BY_CONDITION.get(condition);
}

export function isC2DError(e: unknown): e is C2DError {
  return e instanceof C2DError;
}

/** Shorthands for the errors the engine raises most. */
export const errors = {
  deviceNotFound: (deviceId: string) => new C2DError('DeviceNotFound', `Device '${deviceId}' is not registered or is disabled.`),
  queueFull: (deviceId: string, depth: number) =>
    new C2DError('DeviceMaximumQueueDepthExceeded', `The queue of device '${deviceId}' already holds ${depth} messages, the most it may hold.`),
  tooLarge: (bytes: number, max: number) => new C2DError('MessageTooLarge', `The message is ${bytes} bytes (body and properties); the most allowed is ${max}.`),
  lockLost: (lockToken: string) =>
    new C2DError(
      'DeviceMessageLockLost',
      `Lock token '${lockToken}' does not match a locked message: the lock expired, the message was settled, or the token is unknown.`,
    ),
  messageNotFound: (deviceId: string, what: string) => new C2DError('MessageNotFound', `Device '${deviceId}' has no ${what}.`),
  /** 401003: the credential is missing, wrong, expired or not allowed this. */
  unauthorized: (why: string) => new C2DError('IotHubUnauthorized', why),
  /** 400004: an argument, option or field is malformed or out of range. */
  invalid: (why: string) => new C2DError('ArgumentInvalid', why),
  /** 400011: an expiry time or TTL that is not a valid time. */
  badExpiry: (why: string) => new C2DError('MessageExpiryTimeInvalid', why),
  /** 403009: an expiry time that is valid but outside what the hub accepts. */
  expiryOutOfRange: (why: string) => new C2DError('InvalidMessageExpiryTime', why),
  /** 404001 in the caller's words (e.g. why the device is gone). */
  notFound: (why: string) => new C2DError('DeviceNotFound', why),
  /** 409002: a second receiver for one device. */
  linkConflict: (why: string) => new C2DError('LinkCreationConflict', why),
  /** 412001: an etag or If-Match that does not match. */
  precondition: (why: string) => new C2DError('PreconditionFailed', why),
  /** 500001: the hub failed on its own side. */
  internal: (why: string, options?: { cause?: unknown }) => new C2DError('ServerError', why, options),
  /** 503001: not open, closing or closed; retry later. */
  unavailable: (why: string) => new C2DError('ServiceUnavailable', why),
  throttled: (limit: number) => new C2DError('ThrottlingException', `More than ${limit} sends per second; slow down and retry.`),
  /** Reject and abandon over MQTT: IoT Hub's MQTT has only PUBACK (c2d-semantics §1.3). */
  notOverMqtt: (settlement: string) =>
    new C2DError(
      'OperationNotSupported',
      `${settlement} is not supported over MQTT: IoT Hub's MQTT has only PUBACK, which completes the message. Use AMQP or HTTP to reject or abandon.`,
    ),
};

/**
 * A lost or not-yet-open client connection, as a Node socket error with code
 * ECONNRESET, so the retry policy (lib/common/retry) takes it for a network
 * error and reconnects.
 */
export function connectionReset(message: string): Error & { code: 'ECONNRESET' } {
  return Object.assign(new Error(message), { code: 'ECONNRESET' as const });
}

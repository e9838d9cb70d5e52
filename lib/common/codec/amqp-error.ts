/**
 * C2DError <-> AMQP error `{condition, description, info}`. The condition is
 * what the SDKs map to their error classes (ERRORS[..].amqpCondition); the
 * IoT Hub code travels in `info` and at the start of the description, so a
 * client of ours gets the exact code back where conditions are shared.
 */
import { C2DError, errors, ERRORS, errorNameForAmqpCondition, errorNameForCode, type ErrorName } from '../errors';

/** Error info key holding IoT Hub's numeric code (e.g. 403004). */
export const AMQP_ERROR_CODE_INFO = 'iothub-errorcode';
/** Error info key holding IoT Hub's error name (e.g. DeviceMaximumQueueDepthExceeded). */
export const AMQP_ERROR_NAME_INFO = 'iothub-errorname';

export interface AmqpError {
  condition: string;
  description?: string;
  info?: Record<string, unknown>;
}

/** The AMQP error for a C2DError; anything else is an internal error whose text is not shown. */
export function toAmqpError(e: unknown): AmqpError {
  const err = e instanceof C2DError ? e : errors.internal('The hub failed to handle the request.');
  return {
    condition: err.amqpCondition,
    description: err.toString(),
    info: { [AMQP_ERROR_CODE_INFO]: err.code, [AMQP_ERROR_NAME_INFO]: err.name },
  };
}

/** The C2DError an AMQP error stands for: by info code, then a leading code in the text, then the condition. */
export function fromAmqpError(a: AmqpError | undefined): C2DError {
  const description = typeof a?.description === 'string' ? a.description : '';
  let name: ErrorName | undefined;
  const infoCode = a?.info?.[AMQP_ERROR_CODE_INFO];
  if (typeof infoCode === 'number') name = errorNameForCode(infoCode);
  const lead = /^(\d{6})\b/.exec(description);
  if (!name && lead) name = errorNameForCode(Number(lead[1]));
  if (!name && a?.condition) name = errorNameForAmqpCondition(a.condition);
  name ??= 'ServerError';
  // Keep only the human part of "403004 Name: text".
  const prefix = `${ERRORS[name].code} ${name}: `;
  const text = description.startsWith(prefix) ? description.slice(prefix.length) : description || (a?.condition ?? 'unknown AMQP error');
  return new C2DError(name, text);
}

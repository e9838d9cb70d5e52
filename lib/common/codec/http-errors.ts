/**
 * IoT Hub's HTTP error shape, shared by the hub (encode) and our HTTP clients (decode).
 *
 * Body `{"Message":"ErrorCode:<Name>;<text>","ExceptionMessage":"<code> <Name>: <text>"}`
 * and header `iothub-errorcode: <Name>`. The Node SDKs split `Message` on
 * `;` and `:` and map the name (404 + DeviceNotFound -> DeviceNotFoundError).
 * The C# SDKs first try `Message` as JSON, then fall back to this
 * `ErrorCode:<Name>` form and parse the name into their ErrorCode enum, which
 * yields the 6-digit code; they trust it because the header names the same
 * error. A JSON `Message` with a numeric `errorCode` would break the Node
 * parser, so the name form is the one both accept. `;` in the text is
 * replaced, since the Node parser keeps only the text before a second `;`.
 */
import { C2DError, ERRORS, type ErrorName } from '../errors';
import { HTTP_HEADERS, JSON_CONTENT_TYPE, headerValue, safeHeaderValue, type HeaderBag } from './http';

/**
 * Errors that exist only on the HTTP edge (no engine meaning): IoT Hub's
 * generic names for a wrong path, method or body. Codes are status * 1000,
 * IoT Hub's pattern for its Generic* errors.
 */
export const HTTP_ONLY_ERRORS = {
  GenericNotFound: { code: 404000, httpStatus: 404 },
  GenericMethodNotAllowed: { code: 405000, httpStatus: 405 },
  GenericRequestEntityTooLarge: { code: 413000, httpStatus: 413 },
  /** A bulk registry request with more devices than one call may carry (C# maps it to TooManyDevicesException). */
  TooManyDevices: { code: 413002, httpStatus: 413 },
} as const;
export type HttpOnlyErrorName = keyof typeof HTTP_ONLY_ERRORS;

/** An HTTP-edge error with an IoT Hub name, status and code. */
export class HttpWireError extends Error {
  readonly errorName: HttpOnlyErrorName;
  readonly code: number;
  readonly httpStatus: number;
  /** Extra response headers (e.g. `Allow` with a 405). */
  readonly headers: Record<string, string>;
  constructor(name: HttpOnlyErrorName, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.headers = headers;
    this.errorName = name;
    this.code = HTTP_ONLY_ERRORS[name].code;
    this.httpStatus = HTTP_ONLY_ERRORS[name].httpStatus;
  }
}

export interface HttpErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The response for an error. Anything that is not ours becomes a 500 whose text reveals nothing internal. */
export function encodeHttpError(err: unknown): HttpErrorResponse {
  let name: string;
  let code: number;
  let status: number;
  let text: string;
  let extra: Record<string, string> = {};
  if (err instanceof C2DError) ({ name, code, httpStatus: status, message: text } = err);
  else if (err instanceof HttpWireError) ({ errorName: name, code, httpStatus: status, message: text, headers: extra } = err);
  else {
    ({ code, httpStatus: status } = ERRORS.ServerError);
    name = 'ServerError';
    text = 'The hub failed to handle the request.';
  }
  const clean = safeHeaderValue(text.replace(/[\r\n]+/g, ' ')).replace(/;/g, ',');
  return {
    status,
    headers: { ...extra, [HTTP_HEADERS.httpContentType]: JSON_CONTENT_TYPE, [HTTP_HEADERS.errorCode]: name },
    body: JSON.stringify({ Message: `ErrorCode:${name};${clean}`, ExceptionMessage: `${code} ${name}: ${clean}` }),
  };
}

/** The C2DError an error response stands for (our HTTP client's side of encodeHttpError). */
export function decodeHttpError(status: number, headers: HeaderBag, bodyText: string): C2DError {
  let name = headerValue(headers, HTTP_HEADERS.errorCode);
  let text = `HTTP ${status}`;
  try {
    const parsed = JSON.parse(bodyText) as { Message?: unknown };
    if (typeof parsed.Message === 'string') {
      const m = /^ErrorCode:([^;]*);?(.*)$/s.exec(parsed.Message);
      if (m) {
        name ??= m[1];
        text = m[2] || text;
      } else text = parsed.Message;
    }
  } catch {
    if (bodyText) text = bodyText.slice(0, 500);
  }
  if (name !== undefined && name in ERRORS) return new C2DError(name as ErrorName, text);
  // Unknown or missing name: the first of our errors with that status (table order is precedence).
  const byStatus = (Object.keys(ERRORS) as ErrorName[]).find((n) => ERRORS[n].httpStatus === status);
  return new C2DError(byStatus ?? (status >= 500 ? 'ServerError' : 'ArgumentInvalid'), name ? `${name}: ${text}` : text);
}

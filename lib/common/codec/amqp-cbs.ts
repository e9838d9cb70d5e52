/**
 * Claims-based security on `$cbs` (sdk-wire.md §2.2, c2d-semantics.md §5.1):
 * the put-token request and reply fields, as the SDKs send and read them,
 * defined once for the hub and the clients. The node's address is
 * CBS_ADDRESS (amqp-address.ts).
 */

/** Application properties of a put-token request. */
export const CBS_OPERATION = 'operation';
export const CBS_TYPE = 'type';
/** The audience the token is for (Node: the token's `sr`, still encoded; C#: host/devices/id or amqps://host:5671/). */
export const CBS_NAME = 'name';
export const CBS_OPERATION_PUT_TOKEN = 'put-token';
/** Token types: a SharedAccessSignature, or `Bearer <jwt>` (Microsoft Entra). */
export const CBS_TYPE_SAS = 'servicebus.windows.net:sastoken';
export const CBS_TYPE_JWT = 'jwt';
/** The request's reply-to, as the SDKs set it; replies travel on the receiver link with source `$cbs`. */
export const CBS_REPLY_TO = 'cbs';

/** Application properties of the reply: an AMQP int (200, 400, 401) and a text. */
export const CBS_STATUS_CODE = 'status-code';
export const CBS_STATUS_DESCRIPTION = 'status-description';

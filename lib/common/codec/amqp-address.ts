/**
 * IoT Hub's AMQP link addresses (c2d-semantics.md §5.1). Clients write them
 * in several forms: path only or absolute `amqps://host[:port]/path`, with
 * `devicebound` or `deviceBound` (C#), with a raw (Node) or URL-encoded (C#)
 * device id. One parser, so hub and clients agree on what a link means.
 */

export const CBS_ADDRESS = '$cbs';
export const SERVICE_DEVICEBOUND_ADDRESS = '/messages/devicebound';
export const FEEDBACK_ADDRESS = '/messages/serviceBound/feedback';

/** The device's C2D receive address, as the Node device SDK writes it (raw id). */
export function deviceBoundLinkAddress(deviceId: string): string {
  return `/devices/${deviceId}/messages/devicebound`;
}

/** The device's D2C send address. */
export function deviceEventsLinkAddress(deviceId: string): string {
  return `/devices/${deviceId}/messages/events`;
}

export type LinkAddress =
  | { kind: 'cbs' }
  | { kind: 'serviceDevicebound' }
  | { kind: 'feedback' }
  | { kind: 'deviceDevicebound'; deviceId: string }
  | { kind: 'deviceEvents'; deviceId: string }
  | { kind: 'deviceTwin'; deviceId: string };

/** Strips `scheme://authority` and any query, leaving the path. */
function pathOf(address: string): string {
  const m = /^[a-z][a-z0-9+.-]*:\/\/[^/]*(\/[^?#]*)?/i.exec(address);
  const path = m ? (m[1] ?? '/') : address.split(/[?#]/, 1)[0];
  // A trailing slash names the same node (C# writes `amqps://host:5671/`).
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

function decodeId(encoded: string): string | undefined {
  try {
    const id = decodeURIComponent(encoded);
    return id.length > 0 ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a link address names, or undefined when it names nothing the hub
 * serves. The fixed words match case-insensitively; the device id keeps its case.
 */
export function parseLinkAddress(address: unknown): LinkAddress | undefined {
  if (typeof address !== 'string' || address.length === 0 || address.length > 1024) return undefined;
  if (address === CBS_ADDRESS) return { kind: 'cbs' };
  const path = pathOf(address);
  const lower = path.toLowerCase();
  if (lower === SERVICE_DEVICEBOUND_ADDRESS) return { kind: 'serviceDevicebound' };
  if (lower === FEEDBACK_ADDRESS.toLowerCase()) return { kind: 'feedback' };
  const twin = /^\/devices\/([^/]+)\/twin$/i.exec(path);
  if (twin) {
    const deviceId = decodeId(twin[1]);
    return deviceId === undefined ? undefined : { kind: 'deviceTwin', deviceId };
  }
  const m = /^\/devices\/([^/]+)\/messages\/(devicebound|events)$/i.exec(path);
  if (!m) return undefined;
  const deviceId = decodeId(m[1]);
  if (deviceId === undefined) return undefined;
  return m[2].toLowerCase() === 'events' ? { kind: 'deviceEvents', deviceId } : { kind: 'deviceDevicebound', deviceId };
}

/**
 * The device a C2D message's `to` names (`/devices/{url-encoded id}/messages/devicebound`),
 * or undefined when `to` is not such an address.
 */
export function deviceIdFromTo(to: unknown): string | undefined {
  const a = parseLinkAddress(to);
  return a?.kind === 'deviceDevicebound' ? a.deviceId : undefined;
}

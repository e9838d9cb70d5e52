/**
 * SUBSCRIBE and PUBLISH rules (c2d-semantics §5.2):
 * - a device may subscribe to its own `devices/{id}/messages/devicebound/#`
 *   only; QoS 2 is granted as 1; at most 5 subscriptions (IoT Hub's limit);
 *   every other filter is granted "failure" (0x80) and the connection stays
 *   up. That includes the twin and method filters the Azure device SDKs
 *   subscribe to when those features are used (`$iothub/twin/res/#`,
 *   `$iothub/twin/PATCH/properties/desired/#`, `$iothub/methods/POST/#`:
 *   the Node, Python and C SDKs alike), since this hub serves C2D only;
 * - a device may publish D2C on `devices/{id}/messages/events/...` of its own
 *   id only; anything else closes the connection (MQTT 3.1.1 has no negative
 *   PUBACK), and so does a QoS 2 PUBLISH, as IoT Hub does;
 * - twin and method publishes (`$iothub/...`, e.g. the SDK's twin GET) are
 *   acknowledged and ignored, so they never break the connection.
 */
import { deviceBoundFilter, parseDeviceToCloudTopic, type BagEntry } from '../../common/codec/mqtt';
import { setOwn } from '../../common/codec/own';
import type { Properties } from '../../common/message';

/** IoT Hub's limit on concurrent subscriptions per connection. */
export const MAX_SUBSCRIPTIONS = 5;

/** Twin and method topics: accepted and ignored (see the header). */
export const IOTHUB_TOPIC_PREFIX = '$iothub/';

/** SUBACK's "failure" return code (MQTT 3.1.1 §3.9.3). */
export const SUBACK_FAILURE = 0x80;

/** The QoS to grant for a filter, or null for failure (0x80). */
export function grantSubscription(deviceId: string, sub: { topic: string; qos: number }, current: ReadonlyMap<string, number>): 0 | 1 | null {
  if (sub.topic !== deviceBoundFilter(deviceId)) return null;
  if (!current.has(sub.topic) && current.size >= MAX_SUBSCRIPTIONS) return null;
  return sub.qos === 0 ? 0 : 1;
}

/** Application and system properties of a D2C bag, keys as written (`$.ct`...), a bare key as ''. */
export function d2cProperties(entries: readonly BagEntry[]): Properties {
  const props: Properties = {};
  for (const [k, v] of entries) setOwn(props, k, v ?? '');
  return props;
}

/** What to do with a device's PUBLISH (or the will of its CONNECT). */
export type PublishRule = { kind: 'd2c'; properties: Properties } | { kind: 'ignore' } | { kind: 'refuse'; why: string };

export function publishRule(deviceId: string, packet: { topic: string; qos: number }): PublishRule {
  if (packet.qos === 2) return { kind: 'refuse', why: 'PUBLISH refused: QoS 2 is not supported (IoT Hub closes the connection).' };
  if (packet.topic.startsWith(IOTHUB_TOPIC_PREFIX)) return { kind: 'ignore' };
  const d2c = parseDeviceToCloudTopic(packet.topic);
  if (!d2c || d2c.deviceId !== deviceId) return { kind: 'refuse', why: `PUBLISH refused: '${packet.topic}' is not this device's D2C topic.` };
  return { kind: 'd2c', properties: d2cProperties(d2c.entries) };
}

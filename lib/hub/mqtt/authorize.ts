/**
 * SUBSCRIBE and PUBLISH rules (c2d-semantics §5.2):
 * - a device may subscribe to its own `devices/{id}/messages/devicebound/#`
 *   only; QoS 2 is granted as 1; at most 5 subscriptions (IoT Hub's limit);
 *   every other filter, twin and method topics (`$iothub/...`) included, is
 *   granted "failure" (0x80): the connection stays up;
 * - a device may publish D2C on `devices/{id}/messages/events/...` of its own
 *   id only; aedes closes the connection for any refused PUBLISH (MQTT 3.1.1
 *   has no negative PUBACK), and IoT Hub closes it for a QoS 2 PUBLISH;
 * - twin and method publishes (`$iothub/...`, e.g. the SDK's twin GET) are
 *   acknowledged and ignored: this hub is for C2D only, and the issue asks that
 *   they never break the connection. Nobody can subscribe to `$iothub/...`
 *   here, so letting aedes route them reaches no one.
 */
import { deviceBoundFilter, parseDeviceToCloudTopic, type BagEntry } from '../../common/codec/mqtt';
import { setOwn } from '../../common/codec/own';
import type { Properties } from '../../common/message';
import type { HubApi } from '../api';
import { subscriptionsOf, type Client, type Subscription } from './aedes-client';
import type { MqttConnection } from './connection';

/** IoT Hub's limit on concurrent subscriptions per connection. */
export const MAX_SUBSCRIPTIONS = 5;

/** Twin and method topics: accepted and ignored (see the header). */
export const IOTHUB_TOPIC_PREFIX = '$iothub/';

/** The QoS to grant for a filter, or null for failure (0x80). */
export function grantSubscription(deviceId: string, sub: { topic: string; qos: number }, current: ReadonlyMap<string, number>): 0 | 1 | null {
  if (sub.topic !== deviceBoundFilter(deviceId)) return null;
  if (!current.has(sub.topic) && current.size >= MAX_SUBSCRIPTIONS) return null;
  return sub.qos === 0 ? 0 : 1;
}

export function makeAuthorizeSubscribe(connectionOf: (client: Client) => MqttConnection | undefined) {
  return (client: Client, sub: Subscription, done: (error: Error | null, sub?: Subscription | null) => void): void => {
    const deviceId = connectionOf(client)?.deviceId;
    const qos = deviceId === undefined ? null : grantSubscription(deviceId, sub, subscriptionsOf(client));
    done(null, qos === null ? null : { ...sub, qos });
  };
}

/** Application and system properties of a D2C bag, keys as written (`$.ct`...), a bare key as ''. */
export function d2cProperties(entries: readonly BagEntry[]): Properties {
  const props: Properties = {};
  for (const [k, v] of entries) setOwn(props, k, v ?? '');
  return props;
}

export function makeAuthorizePublish(hub: HubApi, connectionOf: (client: Client) => MqttConnection | undefined) {
  return (client: Client | null, packet: { topic: string; qos: number; payload: Buffer | string }, done: (error?: Error | null) => void): void => {
    const deviceId = client ? connectionOf(client)?.deviceId : undefined;
    if (deviceId === undefined) return done(new Error('PUBLISH refused: the connection is not authenticated.'));
    if (packet.qos === 2) return done(new Error('PUBLISH refused: QoS 2 is not supported (IoT Hub closes the connection).'));
    if (packet.topic.startsWith(IOTHUB_TOPIC_PREFIX)) {
      (packet as { retain?: boolean }).retain = false; // never stored as a retained message
      return done(null);
    }
    const d2c = parseDeviceToCloudTopic(packet.topic);
    if (!d2c || d2c.deviceId !== deviceId) return done(new Error(`PUBLISH refused: '${packet.topic}' is not this device's D2C topic.`));
    const body = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
    try {
      hub.noteDeviceToCloud(deviceId, body, d2cProperties(d2c.entries), connectionOf(client!)?.session);
    } catch (e) {
      // Refused (an injected InvokeThrottling or InvokeMaxMessageQuota): no PUBACK exists for it, so the connection closes.
      return done(e instanceof Error ? e : new Error(String(e)));
    }
    done(null);
  };
}

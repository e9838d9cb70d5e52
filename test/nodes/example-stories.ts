/** What each example shows on its own, shared by the runtime test (examples.test.ts) and the browser test. */

/** The one example that needs something from outside (an Azure IoT Hub and its connection strings). */
export const NEEDS_AZURE = 'Azure IoT Hub.json';

/**
 * What each example must show in the debug sidebar on its own after deploy:
 * per debug node (by name), what its messages must contain, in any order.
 */
export const STORIES: Record<string, Array<[debugNode: string, ...shows: RegExp[]]>> = {
  'Round trip on the embedded hub.json': [
    ['sent', /"deviceId":"demo-device"/],
    ['received', /"text":"hello device"/],
    ['feedback', /"statusCode":"Success"/],
  ],
  'Manual settlement.json': [
    ['sent', /"deviceId":"demo-device"/],
    ['settled', /"action":"complete"/, /"action":"reject"/, /"action":"abandon"/],
    ['feedback', /"statusCode":"Success"/, /"statusCode":"Rejected"/, /"statusCode":"DeliveryCountExceeded"/],
    // The kept dead letters, listed after the negative feedback: the rejected one and the one delivered too often.
    ['dead letters', /^\{"total":2,[^]*"reason":"(Rejected|DeliveryCountExceeded)"[^]*"reason":"(Rejected|DeliveryCountExceeded)"/],
  ],
  'HTTP polling and MQTT devices.json': [
    ['http-device got', /hello over HTTPS/],
    ['mqtt-device got', /hello over MQTT/],
    ['feedback', /"deviceId":"http-device".*"statusCode":"Success"/, /"deviceId":"mqtt-device".*"statusCode":"Success"/],
  ],
  'Every network transport.json': [
    ['received', ...['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'].map((t) => new RegExp(`"hello":"${t}-device"`))],
    ['feedback', ...['amqp', 'amqp-ws', 'mqtt', 'mqtt-ws', 'http'].map((t) => new RegExp(`"deviceId":"${t}-device".*"statusCode":"Success"`))],
  ],
  'Fault injection.json': [
    [
      'faults',
      /"deviceId":"amqp-device","type":"KillTcp".*"phase":"performed"/,
      /"type":"ShutDownAmqp".*"phase":"performed"/,
      /"deviceId":"mqtt-device","type":"ShutDownMqtt".*"phase":"performed"/,
    ],
    ['device status', /"text":"retrying: /],
    ['received', /"before":"amqp-device"/, /"before":"mqtt-device"/, /"after":"amqp-device"/, /"after":"mqtt-device"/],
    ['feedback', /"originalMessageId":"after-amqp-device".*"statusCode":"Success"/, /"originalMessageId":"after-mqtt-device".*"statusCode":"Success"/],
  ],
  'Backend and device in two Node-REDs.json': [
    ['sent', /"deviceId":"remote-device"/],
    ['command', /"command":"blink"/],
    ['completed', /"action":"complete"/],
    ['feedback', /"statusCode":"Success"/],
  ],
};

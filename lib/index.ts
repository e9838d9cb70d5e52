// The package's typed API: what a Node.js program or a Node-RED function node imports.
export * from './common/limits';
export * from './common/errors';
export * from './common/message';
export * from './common/validate';
export * from './common/sas';
export * from './common/connection-string';
export * from './common/retry';
export * from './common/clock';
export type * from './hub/api';
// The embedded hub: the engine alone, or with its servers on their ports.
export { Hub, type HubOptions } from './hub/engine/hub';
export { EmbeddedHub, type EmbeddedHubOptions } from './hub/embedded';
// The typed clients: network (AMQP, MQTT, HTTPS) and in-process.
export * from './client/types';
export { DeviceClient, type DeviceClientOptions } from './client/device-client';
export { ServiceClient, type ServiceClientOptions } from './client/service-client';
export { InProcessDeviceClient, InProcessServiceClient } from './client/in-process';
export { DeviceCredentials, ServiceCredentials, IOTHUB_TOKEN_SCOPE, type DeviceParts, type TokenCredential, type X509Credential } from './client/credentials';
export { SEND_TIMEOUT_MS } from './client/send-timeout';
// Fault injection (testing reconnect logic): the D2C properties that ask the hub for a fault.
export { faultRequestProperties, FAULT_TYPES, type FaultRequest, type FaultType } from './common/fault-injection';
export type { EntraOptions, JsonWebKeySet } from './hub/entra';

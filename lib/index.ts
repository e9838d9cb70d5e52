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
export { Hub, type HubOptions } from './hub/engine/hub';
export { EmbeddedHub, type EmbeddedHubOptions } from './hub/embedded';

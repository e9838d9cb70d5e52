// The embedded hub: the engine and the contract every server codes against.
export { Hub, type HubOptions } from './engine/hub';
export type * from './api';

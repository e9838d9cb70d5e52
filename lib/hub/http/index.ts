// The hub's HTTPS face: device C2D endpoints, registry REST, purge, feedback.
export { createHttpHandler, type HttpHandler, type HttpHandlerOptions } from './router';

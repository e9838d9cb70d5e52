// The hub's HTTPS face: device C2D endpoints, registry REST, purge, feedback, and inspection (/c2d).
export { createHttpHandler, type HttpHandler, type HttpHandlerOptions } from './router';

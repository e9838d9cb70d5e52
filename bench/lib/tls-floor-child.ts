/**
 * Baseline for scenario 4: a bare Node.js TLS server (the hub's own TLS
 * material and settings, no MQTT, no hub) holding idle connections, in its
 * own process and core. What it costs per connection is the floor under any
 * MQTT-over-TLS server written on Node's TLS.
 */
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { ensureTlsMaterial } from '../../lib/hub/tls';
import { processStats, serve } from './ipc';

let server: tls.Server | undefined;
const sockets = new Set<tls.TLSSocket>();

serve({
  async start(): Promise<{ port: number; ca: string }> {
    const material = await ensureTlsMaterial(undefined);
    server = tls.createServer({ cert: material.cert, key: material.key }, (s) => {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('data', () => undefined);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, ca: material.ca ?? material.cert };
  },
  stats: () => ({ ...processStats(), connections: sockets.size }),
  async close(): Promise<void> {
    for (const s of sockets) s.destroy();
    server?.close();
  },
});

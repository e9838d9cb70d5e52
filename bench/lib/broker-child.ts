/**
 * Baseline broker: plain aedes (no auth hooks, no durability) behind the
 * same kind of TLS listener the hub uses, in its own process and core.
 */
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { ensureTlsMaterial } from '../../lib/hub/tls';
import { processStats, serve } from './ipc';

let server: tls.Server | undefined;
let closeBroker: (() => Promise<void>) | undefined;

serve({
  async start(): Promise<{ port: number; ca: string }> {
    const material = await ensureTlsMaterial(undefined);
    const { Aedes } = await import('aedes');
    const broker = await Aedes.createBroker();
    server = tls.createServer({ cert: material.cert, key: material.key }, (s) => broker.handle(s));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closeBroker = () => new Promise<void>((resolve) => broker.close(() => resolve()));
    return { port: (server.address() as AddressInfo).port, ca: material.ca ?? material.cert };
  },
  stats: () => processStats(),
  async close(): Promise<void> {
    await closeBroker?.();
    server?.close();
  },
});

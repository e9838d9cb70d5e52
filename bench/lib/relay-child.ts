/**
 * Baseline relay: a bare rhea container over TLS that forwards what arrives
 * on address `relay` to the receivers attached to it, and settles each
 * incoming delivery once the receiver accepted it (end-to-end acknowledgement,
 * nothing stored), in its own process and core.
 */
import { once } from 'node:events';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import rhea, { type Delivery, type Sender } from 'rhea';
import { ensureTlsMaterial } from '../../lib/hub/tls';
import { processStats, serve } from './ipc';

let server: tls.Server | undefined;

serve({
  async start(): Promise<{ port: number; ca: string }> {
    const material = await ensureTlsMaterial(undefined);
    const container = rhea.create_container({ id: 'relay' });
    const outs: Sender[] = [];
    let rr = 0;
    const upstream = new Map<Delivery, Delivery>();
    container.on('sender_open', (ctx) => {
      ctx.sender!.set_source({ address: ctx.sender!.source.address });
      outs.push(ctx.sender!);
    });
    container.on('receiver_open', (ctx) => {
      ctx.receiver!.set_target({ address: ctx.receiver!.target.address });
    });
    container.on('message', (ctx) => {
      // Round robin over receivers with credit; no credit anywhere: release (the sender retries).
      for (let i = 0; i < outs.length; i++) {
        const out = outs[(rr + i) % outs.length];
        if (out.is_open() && out.sendable()) {
          rr = (rr + i + 1) % outs.length;
          upstream.set(out.send(ctx.message!), ctx.delivery!);
          return;
        }
      }
      ctx.delivery!.release();
    });
    container.on('accepted', (ctx) => {
      const up = upstream.get(ctx.delivery!);
      upstream.delete(ctx.delivery!);
      up?.accept();
    });
    container.on('connection_close', (ctx) => {
      for (let i = outs.length - 1; i >= 0; i--) if (outs[i].connection === ctx.connection) outs.splice(i, 1);
    });
    container.on('disconnected', () => undefined);
    container.sasl_server_mechanisms.enable_anonymous();
    server = tls.createServer({ cert: material.cert, key: material.key }, (s) => {
      const c = container.create_connection({ tcp_no_delay: true, receiver_options: { autoaccept: false } } as never);
      (c as unknown as { accept(s: tls.TLSSocket): void }).accept(s);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, ca: material.ca ?? material.cert };
  },
  stats: () => processStats(),
  close(): void {
    server?.close();
  },
});

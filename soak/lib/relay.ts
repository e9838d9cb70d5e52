/**
 * A TCP relay in front of the hub for one device: the device connects to the
 * relay's port, the relay connects on to the hub. Every connection through it
 * is that device's, so `drop()` can cut them the way a network does (a reset
 * on both sides, no protocol goodbye), and `refuseFor()` keeps the device out
 * for a while, as an outage would. Bytes are piped untouched (TLS end to end).
 */
import * as net from 'node:net';

export class Relay {
  private readonly server: net.Server;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private refuseUntil = 0;
  /** Connections cut by drop() or refused, since start. */
  dropped = 0;
  refused = 0;

  private constructor(
    private readonly hubPort: number,
    private readonly now: () => number,
  ) {
    this.server = net.createServer({ noDelay: true }, (client) => this.accept(client));
  }

  static async start(hubPort: number, now: () => number = Date.now): Promise<Relay> {
    const r = new Relay(hubPort, now);
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject);
      r.server.listen(0, '127.0.0.1', () => resolve());
    });
    return r;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Connections open through the relay now. */
  get open(): number {
    return this.pairs.size;
  }

  private accept(client: net.Socket): void {
    if (this.now() < this.refuseUntil) {
      this.refused++;
      client.on('error', () => undefined);
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: this.hubPort, noDelay: true });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    // Either side going takes the other with it; errors are the connection's end, nothing more.
    const end = (): void => {
      if (!this.pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    for (const s of pair) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  }

  /** Cuts every connection of the device now (RST both ways); returns how many. */
  drop(): number {
    const n = this.pairs.size;
    for (const pair of [...this.pairs]) {
      this.pairs.delete(pair);
      for (const s of pair) if (!s.destroyed) s.resetAndDestroy();
    }
    this.dropped += n;
    return n;
  }

  /** Refuses new connections for `ms` (each attempt is reset at once). */
  refuseFor(ms: number): void {
    this.refuseUntil = this.now() + ms;
  }

  close(): Promise<void> {
    this.drop();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

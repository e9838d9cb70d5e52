/**
 * Bounds MQTT packet size before aedes buffers a packet. aedes' parser has no
 * size limit for MQTT 3.1.1: a client that announces a 200 MB remaining length
 * would make it buffer 200 MB. This scanner reads only the fixed headers
 * (type byte + variable-length "remaining length") and skips bodies, so it
 * costs a few operations per chunk.
 */
import type { Duplex } from 'node:stream';

export class MqttPacketSizeScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private remaining = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Scans the next bytes; returns why the stream must be dropped, or undefined when all is well. */
  feed(chunk: Buffer): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'type') {
        i++;
        this.state = 'length';
        this.remaining = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = chunk[i++] as number;
        this.remaining += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (b & 0x80) {
          // MQTT-2.2.3: at most four length bytes.
          if (this.lengthBytes >= 4) return 'malformed remaining length';
          continue;
        }
        const total = 1 + this.lengthBytes + this.remaining;
        if (total > this.maxPacketBytes) return `a ${total}-byte packet exceeds the ${this.maxPacketBytes}-byte limit`;
        this.state = this.remaining === 0 ? 'type' : 'body';
      } else {
        const take = Math.min(this.remaining, chunk.length - i);
        i += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'type';
      }
    }
    return undefined;
  }
}

/**
 * Watches the bytes aedes reads from `stream` and calls `onViolation` on the
 * first oversized or malformed header. Call it after aedes attached its
 * 'readable' listener: a 'data' listener then only observes each chunk that
 * aedes reads (Node emits 'data' from read()), before aedes parses it, and
 * does not switch the stream to flowing mode.
 */
export function guardPacketSize(stream: Duplex, maxPacketBytes: number, onViolation: (why: string) => void): void {
  const scanner = new MqttPacketSizeScanner(maxPacketBytes);
  let tripped = false;
  stream.on('data', (chunk: Buffer) => {
    if (tripped) return;
    const why = scanner.feed(chunk);
    if (why) {
      tripped = true;
      onViolation(why);
    }
  });
}

/**
 * Bounds MQTT packet size before mqtt-packet's parser buffers a packet: it
 * has no size limit for MQTT 3.1.1, so a client that announces a 200 MB
 * remaining length would make it buffer 200 MB. This scanner reads only the
 * fixed headers (type byte + variable-length "remaining length") and skips
 * bodies, so it costs a few operations per chunk.
 */

export class MqttPacketSizeScanner {
  private state: 'type' | 'length' | 'body' = 'type';
  private remaining = 0;
  private multiplier = 1;
  private lengthBytes = 0;

  constructor(private readonly maxPacketBytes: number) {}

  /** Whether the bytes fed so far end where a packet ends (no packet begun and unfinished). */
  get atBoundary(): boolean {
    return this.state === 'type';
  }

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

/**
 * Bounds what a peer can make the AMQP stack buffer. rhea trusts the frame
 * size a peer announces and would buffer up to 4 GB waiting for it, and it
 * joins multi-transfer messages without limit. This guard sits between the
 * byte stream and rhea: it reads only the frame boundaries and stops a
 * connection whose frame is larger than allowed, before the bytes pile up.
 */
import type { WebSocket } from 'ws';
import type { RheaSocket } from '../../common/rhea-internals';

export type { RheaSocket };

const HEADER = Buffer.from('AMQP');

/** Tracks frame boundaries in a byte stream; says what is wrong with the first bad frame. */
export class FrameScanner {
  private skip = 0;
  private head = Buffer.alloc(0);

  constructor(private readonly maxFrameBytes: number) {}

  /** Undefined while every frame seen so far is within bounds. */
  push(chunk: Buffer): string | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        this.skip -= n;
        i += n;
        continue;
      }
      const take = Math.min(4 - this.head.length, chunk.length - i);
      this.head = Buffer.concat([this.head, chunk.subarray(i, i + take)]);
      i += take;
      if (this.head.length < 4) break;
      if (this.head.equals(HEADER)) {
        // A protocol header (AMQP, or SASL then AMQP): 8 bytes, not a frame.
        this.skip = 4;
      } else {
        const size = this.head.readUInt32BE(0);
        if (size < 8) return `AMQP frame size ${size} is below the minimum of 8 bytes`;
        if (size > this.maxFrameBytes) return `AMQP frame of ${size} bytes exceeds the maximum of ${this.maxFrameBytes}`;
        this.skip = size - 4;
      }
      this.head = Buffer.alloc(0);
    }
    return undefined;
  }
}

/**
 * Wraps a byte stream for rhea: data passes through the scanner first; on a
 * violation `onViolation` runs and the data is not handed to rhea.
 */
export function guardStream(
  source: RheaSocket,
  maxFrameBytes: number,
  onViolation: (why: string) => void,
  afterChunk: () => string | undefined = () => undefined,
): RheaSocket {
  const scanner = new FrameScanner(maxFrameBytes);
  let failed = false;
  // rhea drops a socket with removeAllListeners('error' | 'data' | 'end') and may still write to
  // it once (dispositions of sends settling late). Removing every 'error' listener would leave
  // the EPIPE of that write unhandled, which ends the whole hub process. So our listeners stay
  // on the socket for its life, and "removing" only switches off the handlers rhea gave so far.
  const generation: Record<string, number> = { data: 0, end: 0, error: 0 };
  const live = (event: string, handler: (arg?: unknown) => void): ((arg?: unknown) => void) => {
    const mine = generation[event];
    return (arg) => {
      if (generation[event] === mine) handler(arg);
    };
  };
  // Only the methods rhea calls, each bound to the real stream (a prototype
  // trick would let net.Socket internals write state onto the wrapper).
  const guarded: RheaSocket = {
    on(event, handler) {
      if (event === 'end') {
        // rhea learns of a gone peer only from 'end'; a socket destroyed under it
        // (a dropped network, listeners closed) emits only 'close', and rhea would
        // keep the connection "open" with a live heartbeat timer. Tell it once.
        const h = live('end', handler);
        let told = false;
        const tell = (arg?: unknown): void => {
          if (told) return;
          told = true;
          h(arg);
        };
        source.on('close', () => tell());
        return source.on('end', tell);
      }
      if (event !== 'data') return source.on(event, live(event, handler));
      const deliver = live('data', handler);
      return source.on('data', (chunk) => {
        if (failed) return;
        const why = scanner.push(chunk as Buffer);
        if (why) {
          failed = true;
          onViolation(why);
          return;
        }
        deliver(chunk);
        const late = afterChunk();
        if (late) {
          failed = true;
          onViolation(late);
        }
      });
    },
    write: (d) => source.write(d),
    // rhea ends the socket right after it reports a frame it could not take; the hub answers
    // that with a close frame, written on the next tick, so the end waits for it.
    end: () => {
      setImmediate(() => source.end());
    },
    destroy: () => source.destroy(),
    removeAllListeners: (event) => {
      for (const e of event === undefined ? Object.keys(generation) : [event]) generation[e] = (generation[e] ?? 0) + 1;
    },
    setNoDelay: (noDelay) => source.setNoDelay?.(noDelay),
    get_id_string: () => source.get_id_string?.() ?? 'socket',
  };
  return guarded;
}

/** A `ws` WebSocket as a byte stream (binary messages in, binary frames out). */
export function webSocketStream(ws: WebSocket): RheaSocket {
  return {
    on(event, handler) {
      if (event === 'data')
        ws.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => handler(Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer)));
      else if (event === 'end' || event === 'close') ws.on('close', () => handler());
      else ws.on('error', (e) => handler(e));
      return this;
    },
    write(data) {
      if (ws.readyState === ws.OPEN) ws.send(data, { binary: true });
      return true;
    },
    end() {
      ws.close();
    },
    destroy() {
      ws.terminate();
    },
    get_id_string() {
      return 'websocket';
    },
  };
}

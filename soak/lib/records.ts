/**
 * What the load processes remember per message, in typed arrays indexed by
 * the message's number (the backend numbers its sends 0, 1, 2, ...; the
 * messageId is `s<n>` and the body carries n), so an hour at 500 msg/s is a
 * few tens of MB in each process rather than a Map of objects. Also the body
 * layout every sender and receiver of the soak shares.
 */

/** The body: [n u32][device index u32][sent at, epoch ms f64][padding]. */
export const BODY_HEADER_BYTES = 16;

export function encodeBody(n: number, deviceIndex: number, sentAtMs: number, bytes: number): Buffer {
  const b = Buffer.alloc(Math.max(BODY_HEADER_BYTES, bytes), 0x2e);
  b.writeUInt32LE(n, 0);
  b.writeUInt32LE(deviceIndex, 4);
  b.writeDoubleLE(sentAtMs, 8);
  return b;
}

export function decodeBody(b: Buffer): { n: number; deviceIndex: number; sentAtMs: number } | undefined {
  if (!Buffer.isBuffer(b) || b.length < BODY_HEADER_BYTES) return undefined;
  return { n: b.readUInt32LE(0), deviceIndex: b.readUInt32LE(4), sentAtMs: b.readDoubleLE(8) };
}

export const messageIdOf = (n: number): string => `s${n}`;

export function numberOf(messageId: string | undefined): number | undefined {
  if (typeof messageId !== 'string' || !/^s\d+$/.test(messageId)) return undefined;
  return Number(messageId.slice(1));
}

/** Epoch ms with sub-ms precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

type TypedArray = Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array;
type Ctor<T extends TypedArray> = { new (n: number): T; BYTES_PER_ELEMENT: number };

/** A typed array that grows (doubling) as higher indices are written; unwritten slots read 0. */
export class Column<T extends TypedArray> {
  private data: T;
  /** One past the highest index written. */
  length = 0;

  constructor(
    private readonly ctor: Ctor<T>,
    capacity = 1024,
  ) {
    this.data = new ctor(capacity);
  }

  get(i: number): number {
    return i < this.data.length ? (this.data[i] as number) : 0;
  }

  set(i: number, v: number): void {
    if (i >= this.data.length) {
      let cap = this.data.length;
      while (cap <= i) cap *= 2;
      const next = new this.ctor(cap);
      next.set(this.data as never);
      this.data = next;
    }
    this.data[i] = v;
    if (i >= this.length) this.length = i + 1;
  }

  add(i: number, by = 1): void {
    this.set(i, this.get(i) + by);
  }

  /** The written part, base64 (for the IPC channel). */
  encode(length = this.length): string {
    const view = new this.ctor(length);
    view.set(this.data.subarray(0, Math.min(length, this.data.length)) as never);
    return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString('base64');
  }

  static decode<T extends TypedArray>(ctor: Ctor<T>, b64: string): T {
    // A copy: Buffer.from may share a pooled ArrayBuffer at an unaligned offset.
    const copy = new Uint8Array(Buffer.from(b64, 'base64'));
    return new (ctor as unknown as new (b: ArrayBuffer) => T)(copy.buffer);
  }
}

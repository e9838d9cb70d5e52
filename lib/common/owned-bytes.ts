/**
 * Bytes in memory of their own, exactly their size. Node hands out small
 * Buffers as views into shared 8 KB slabs (`Buffer.from`, `allocUnsafe`),
 * and libraries return views into bigger buffers (a socket read, an
 * encoder's working buffer): whoever keeps such a view keeps the whole
 * backing store alive. For bytes the hub keeps for long (a queued body, an
 * AMQP delivery waiting in its session for the peer's settlement), that
 * multiplies memory by the size of what they came from. Never pooled.
 */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const own = Buffer.allocUnsafeSlow(bytes.length);
  own.set(bytes);
  return own;
}

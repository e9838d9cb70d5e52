/**
 * When a device client takes a message's lock for lost. No transport tells
 * the device when its lock ends, and the hub locked the message before it
 * sent it, so "arrival + lock timeout" is later than the hub's deadline: the
 * wrong side to err on. The client counts from arrival and stops early, by a
 * margin for the message's trip here and the settlement's trip back (a tenth
 * of the lock, at most 5 s). Past that point a settlement the hub would not
 * answer (an MQTT PUBACK) is refused locally with 412002 and not sent.
 */

/** Largest margin taken off the lock timeout. */
export const LOCK_MARGIN_MAX_MS = 5000;

export function lockMarginMs(lockTimeoutMs: number): number {
  return Math.min(LOCK_MARGIN_MAX_MS, Math.floor(lockTimeoutMs / 10));
}

/** How long after arrival the client still trusts the lock. */
export function trustedLockMs(lockTimeoutMs: number): number {
  return lockTimeoutMs - lockMarginMs(lockTimeoutMs);
}

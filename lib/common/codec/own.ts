/** Sets a key read from the wire as an own property, so `__proto__` is a name like any other. */
export function setOwn(target: Record<string, string>, key: string, value: string): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

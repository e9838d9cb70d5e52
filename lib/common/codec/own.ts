/** Sets a key read from the wire as an own property, so `__proto__` is a name like any other. */
export function setOwn(target: Record<string, string>, key: string, value: string): void {
  // Only `__proto__` has a setter on Object.prototype; every other name assigns an own data
  // property, and a plain assignment is several times cheaper than defineProperty (this runs
  // for each application property of each message a device receives).
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

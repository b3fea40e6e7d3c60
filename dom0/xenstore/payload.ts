// Request payloads are nul-terminated strings, read as latin1 so every byte round-trips (tokens
// are opaque to us). A request whose strings are not terminated is malformed: EINVAL.
import { XenstoreError } from './errors.ts';

export function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

export function latin1Bytes(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'latin1'));
}

/** Strings each followed by a nul, as replies carry them ("OK\0", "a\0b\0"). */
export function nulStrings(...items: readonly string[]): Uint8Array {
  return latin1Bytes(items.map((s) => `${s}\0`).join(''));
}

/** Exactly one nul-terminated string. */
export function oneArg(payload: Uint8Array): string {
  const n = payload.byteLength;
  if (n === 0 || payload[n - 1] !== 0 || payload.indexOf(0) !== n - 1) {
    throw new XenstoreError('EINVAL', 'expected one nul-terminated string');
  }
  return latin1(payload.subarray(0, n - 1));
}

/** At least `min` nul-terminated strings (all of the payload must be terminated strings). */
export function args(payload: Uint8Array, min: number): string[] {
  const n = payload.byteLength;
  if (n === 0 || payload[n - 1] !== 0) throw new XenstoreError('EINVAL', 'arguments must be nul-terminated');
  const out = latin1(payload.subarray(0, n - 1)).split('\0');
  if (out.length < min) throw new XenstoreError('EINVAL', `expected ${min} arguments, got ${out.length}`);
  return out;
}

/** "<path>\0<value bytes>": WRITE's form, the value may hold anything. */
export function pathAndValue(payload: Uint8Array): { path: string; value: Uint8Array } {
  const i = payload.indexOf(0);
  if (i < 0) throw new XenstoreError('EINVAL', 'WRITE needs <path>\\0<value>');
  return { path: latin1(payload.subarray(0, i)), value: payload.slice(i + 1) };
}

/** A decimal unsigned integer no larger than `max`; EINVAL otherwise. */
export function decimal(s: string, max: number, what: string): number {
  if (!/^\d{1,10}$/.test(s)) throw new XenstoreError('EINVAL', `${what} "${s}" is not a decimal number`);
  const v = Number(s);
  if (v > max) throw new XenstoreError('EINVAL', `${what} ${v} is above ${max}`);
  return v;
}

// Byte rings: the console (io/console.h) and XenStore (io/xs_wire.h) pages carry two
// unidirectional byte streams, each a power-of-two buffer plus free-running uint32 cons/prod
// indices (MASK_XENCONS_IDX / MASK_XENSTORE_IDX masking). Unlike the sring there are no event
// indices: the caller notifies the peer whenever a write or read moved something.
//
// Trust: the peer may scribble both indices. Each end keeps its own index privately (read from
// the page once, when first used, so it can attach to a ring already in use) and reads only the
// peer's index, once per call, into a local. If the peer's index puts more than `size` bytes in
// flight (prod - cons > size, or the consumer claims to be ahead of the producer) a
// ByteRingOverflowError is latched. Data is copied out of the ring once into private memory.
import { ByteRingOverflowError, RingLayoutError } from './errors.ts';

/** Where one direction of a byte ring lives. */
export interface ByteRingSpec {
  /** For errors, e.g. 'xencons.out'. */
  readonly name: string;
  /** The ring's bytes; length a power of two. */
  readonly data: Uint8Array;
  /** A Uint32Array over the page's index words. */
  readonly words: Uint32Array;
  /** Index of the consumer and producer words in `words`. */
  readonly consWord: number;
  readonly prodWord: number;
}

function checkSpec(spec: ByteRingSpec): number {
  const size = spec.data.byteLength;
  if (size === 0 || (size & (size - 1)) !== 0) {
    throw new RingLayoutError(`${spec.name}: byte ring size must be a power of two, got ${size}`);
  }
  for (const w of [spec.consWord, spec.prodWord]) {
    if (!Number.isInteger(w) || w < 0 || w >= spec.words.length) {
      throw new RingLayoutError(`${spec.name}: index word ${w} outside the ${spec.words.length}-word view`);
    }
  }
  return size;
}

/** Common state of both ends: the latched error and the masking. */
abstract class ByteRingEnd {
  readonly size: number;
  protected latched: ByteRingOverflowError | null = null;
  /** Our own index, private once read. null until first use (or after resync). */
  protected own: number | null = null;

  constructor(protected readonly spec: ByteRingSpec) {
    this.size = checkSpec(spec);
  }

  get name(): string {
    return this.spec.name;
  }

  /** The latched protocol error, once the peer has published an impossible index. */
  get error(): ByteRingOverflowError | null {
    return this.latched;
  }

  /**
   * Forget our private index and re-read it from the page on next use: after the peer legitimately
   * reset the ring (XenStore reconnection), or after clearing a latched error.
   */
  resync(): void {
    this.own = null;
    this.latched = null;
  }

  protected throwIfLatched(): void {
    if (this.latched !== null) throw this.latched;
  }

  protected latch(cons: number, prod: number): never {
    this.latched = new ByteRingOverflowError(this.spec.name, cons, prod, this.size);
    throw this.latched;
  }
}

/** The producing end of one direction. */
export class ByteRingWriter extends ByteRingEnd {
  /** Our producer index (free-running). */
  get prod(): number {
    return this.ownProd();
  }

  /** Bytes we may write now. Throws (and latches) ByteRingOverflowError on an impossible cons. */
  free(): number {
    return this.size - this.inFlight();
  }

  /** Bytes written and not yet consumed by the peer. */
  pending(): number {
    return this.inFlight();
  }

  /**
   * Copies as much of `src` as fits, publishes the new producer index, and returns how many bytes
   * went in (0 when the ring is full). The caller notifies the peer when this is > 0.
   */
  write(src: Uint8Array): number {
    const free = this.size - this.inFlight();
    const n = Math.min(free, src.byteLength);
    if (n === 0) return 0;
    const prod = this.ownProd();
    const at = prod & (this.size - 1);
    const first = Math.min(n, this.size - at);
    this.spec.data.set(src.subarray(0, first), at);
    if (n > first) this.spec.data.set(src.subarray(first, n), 0);
    const next = (prod + n) >>> 0;
    // The seq-cst store orders the data writes before the index, as xen_wmb() does in C.
    Atomics.store(this.spec.words, this.spec.prodWord, next);
    this.own = next;
    return n;
  }

  private ownProd(): number {
    this.throwIfLatched();
    if (this.own === null) this.own = Atomics.load(this.spec.words, this.spec.prodWord);
    return this.own;
  }

  private inFlight(): number {
    const prod = this.ownProd();
    const cons = Atomics.load(this.spec.words, this.spec.consWord);
    const used = (prod - cons) >>> 0;
    if (used > this.size) this.latch(cons, prod);
    return used;
  }
}

/** The consuming end of one direction. */
export class ByteRingReader extends ByteRingEnd {
  /** Our consumer index (free-running). */
  get cons(): number {
    return this.ownCons();
  }

  /** Bytes waiting. Throws (and latches) ByteRingOverflowError on an impossible prod. */
  available(): number {
    const cons = this.ownCons();
    const prod = Atomics.load(this.spec.words, this.spec.prodWord);
    const avail = (prod - cons) >>> 0;
    if (avail > this.size) this.latch(cons, prod);
    return avail;
  }

  /**
   * Copies up to `dst.byteLength` waiting bytes into `dst`, frees them for the peer, and returns
   * how many were copied (0 when empty). The caller notifies the peer when this is > 0.
   */
  readInto(dst: Uint8Array): number {
    return this.take(dst, this.available());
  }

  /** Takes up to `max` waiting bytes (all of them by default) as a private copy. */
  read(max: number = Number.POSITIVE_INFINITY): Uint8Array {
    if (!(max >= 0)) throw new RangeError(`read length must be >= 0, got ${max}`);
    // One read of the peer's prod sizes the buffer and bounds the copy.
    const avail = this.available();
    const buf = new Uint8Array(Math.min(avail, max));
    this.take(buf, avail);
    return buf;
  }

  /** Copies min(avail, dst.byteLength) bytes out and publishes the new consumer index. */
  private take(dst: Uint8Array, avail: number): number {
    const n = Math.min(avail, dst.byteLength);
    if (n === 0) return 0;
    const cons = this.ownCons();
    const at = cons & (this.size - 1);
    const first = Math.min(n, this.size - at);
    dst.set(this.spec.data.subarray(at, at + first), 0);
    if (n > first) dst.set(this.spec.data.subarray(0, n - first), first);
    const next = (cons + n) >>> 0;
    // Publishing cons after the copy tells the peer these bytes may be overwritten.
    Atomics.store(this.spec.words, this.spec.consWord, next);
    this.own = next;
    return n;
  }

  private ownCons(): number {
    this.throwIfLatched();
    if (this.own === null) this.own = Atomics.load(this.spec.words, this.spec.consWord);
    return this.own;
  }
}

/**
 * The index words of an interface page as a Uint32Array, checking that the page is big enough
 * and 4-byte aligned so Atomics can be used on it.
 */
export function interfaceWords(page: Uint8Array, name: string, size: number, firstWordOffset: number): Uint32Array {
  if (page.byteLength < size) throw new RingLayoutError(`${name} needs ${size} bytes, the view has ${page.byteLength}`);
  if ((page.byteOffset + firstWordOffset) % 4 !== 0) throw new RingLayoutError(`${name} index words must be 4-byte aligned`);
  return new Uint32Array(page.buffer, page.byteOffset + firstWordOffset, (size - firstWordOffset) / 4);
}

// Wire layouts declared once, as data: each field's name, byte offset, type and array count.
// Encode and decode are both derived from the same declaration, and the C-header test
// (layout-c-headers.spec.ts) compiles the real Xen headers and compares every offset and width,
// so a typo in an offset cannot survive in one direction only.
//
// All Xen ring protocols are native-endian; every platform xlts runs on (x86_64) is little-endian.
// Decoding is meant for private copies (FrontRing.takeResponse, BackRing.takeRequest): it never
// touches shared memory twice because it is never given shared memory.

export type ScalarKind = 'u8' | 'u16' | 'u32' | 'u64' | 'i8' | 'i16' | 'i32' | 'i64';

/** A char/uint8_t array kept as raw bytes (a MAC address, a console buffer). */
export interface BytesKind {
  readonly bytes: number;
}

/** Reserved or padding bytes: written as zero, not decoded. */
export interface PadKind {
  readonly pad: number;
}

export type FieldKind = ScalarKind | BytesKind | PadKind | AnyStructLayout;

export interface FieldSpec {
  readonly offset: number;
  readonly type: FieldKind;
  /** Present for a C array of scalars or structs: `T name[count]`. */
  readonly count?: number;
  /** The C member designator for offsetof() when it differs from the name (e.g. 'u.gso.size'). */
  readonly c?: string;
}

export type FieldMap = { readonly [name: string]: FieldSpec };

type KindValue<K> = K extends 'u64' | 'i64'
  ? bigint
  : K extends ScalarKind
    ? number
    : K extends BytesKind
      ? Uint8Array
      : K extends StructLayout<infer F>
        ? StructValue<F>
        : never;

type FieldValue<S> = S extends { readonly type: infer K; readonly count: number } ? KindValue<K>[] : S extends { readonly type: infer K } ? KindValue<K> : never;

type ValueKeys<F extends FieldMap> = { [K in keyof F]: F[K]['type'] extends PadKind ? never : K }[keyof F];

/** The decoded form of a struct: padding fields are left out. */
export type StructValue<F extends FieldMap> = { [K in ValueKeys<F>]: FieldValue<F[K]> };

/** How the C-header test finds this struct. */
export interface CBinding {
  /** The C type, e.g. 'struct blkif_request'. */
  readonly type: string;
  /** An expression for the size when it is not sizeof(type), e.g. the sring header. */
  readonly sizeExpr?: string;
}

export interface StructLayout<F extends FieldMap> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
  readonly c: CBinding;
  /** Reads a struct out of `src` at `offset` (a private copy, never shared memory). */
  decode(src: Uint8Array, offset?: number): StructValue<F>;
  /**
   * Writes `value` into `dst` at `offset` (a fresh zeroed buffer by default) and returns `dst`.
   * Every byte of the struct is written: padding and missing array elements become zero.
   */
  encode(value: StructValue<F>, dst?: Uint8Array, offset?: number): Uint8Array;
}

/**
 * Any layout, whatever its fields. Used where a layout is only walked (nested struct fields, the
 * C-header test); the method parameters are erased because nothing calls them through this type.
 */
export interface AnyStructLayout {
  readonly name: string;
  readonly size: number;
  readonly fields: FieldMap;
  readonly c: CBinding;
}

/** A value that does not fit the field it is encoded into, or a declaration that is wrong. */
export class LayoutError extends Error {
  override readonly name = 'LayoutError';
  constructor(
    readonly struct: string,
    readonly field: string,
    detail: string,
  ) {
    super(`${struct}.${field}: ${detail}`);
  }
}

const SCALAR_WIDTH: Record<ScalarKind, number> = { u8: 1, i8: 1, u16: 2, i16: 2, u32: 4, i32: 4, u64: 8, i64: 8 };

const INT_RANGE: Record<Exclude<ScalarKind, 'u64' | 'i64'>, readonly [number, number]> = {
  u8: [0, 0xff],
  i8: [-0x80, 0x7f],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffffffff],
  i32: [-0x80000000, 0x7fffffff],
};

function isScalar(k: FieldKind): k is ScalarKind {
  return typeof k === 'string';
}
function isBytes(k: FieldKind): k is BytesKind {
  return typeof k === 'object' && 'bytes' in k;
}
function isPad(k: FieldKind): k is PadKind {
  return typeof k === 'object' && 'pad' in k;
}

/** Bytes taken by one element of a field. */
export function kindWidth(k: FieldKind): number {
  if (isScalar(k)) return SCALAR_WIDTH[k];
  if (isBytes(k)) return k.bytes;
  if (isPad(k)) return k.pad;
  return k.size;
}

/** Bytes taken by a whole field (all elements of an array). */
export function fieldWidth(f: FieldSpec): number {
  return kindWidth(f.type) * (f.count ?? 1);
}

/** Declares a struct layout; checks at load time that its fields fit and do not overlap. */
export function defineStruct<const F extends FieldMap>(name: string, size: number, fields: F, c?: Partial<CBinding>): StructLayout<F> {
  const entries = Object.entries(fields);
  const spans = entries.map(([field, f]) => {
    if (!Number.isInteger(f.offset) || f.offset < 0) throw new LayoutError(name, field, `bad offset ${f.offset}`);
    if (f.count !== undefined && (!Number.isInteger(f.count) || f.count <= 0)) throw new LayoutError(name, field, `bad count ${f.count}`);
    const end = f.offset + fieldWidth(f);
    if (end > size) throw new LayoutError(name, field, `ends at ${end}, past the struct's ${size} bytes`);
    return { field, start: f.offset, end };
  });
  spans.sort((a, b) => a.start - b.start);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1];
    const cur = spans[i];
    if (prev !== undefined && cur !== undefined && cur.start < prev.end) {
      throw new LayoutError(name, cur.field, `overlaps ${prev.field}`);
    }
  }
  const binding: CBinding = { type: c?.type ?? `struct ${name}`, ...(c?.sizeExpr !== undefined ? { sizeExpr: c.sizeExpr } : {}) };

  return {
    name,
    size,
    fields,
    c: binding,
    decode(src: Uint8Array, offset = 0): StructValue<F> {
      if (offset < 0 || offset + size > src.byteLength) {
        throw new LayoutError(name, '*', `needs ${size} bytes at ${offset}, the buffer has ${src.byteLength}`);
      }
      const dv = new DataView(src.buffer, src.byteOffset + offset, size);
      const out: Record<string, unknown> = {};
      for (const [field, f] of entries) {
        if (isPad(f.type)) continue;
        out[field] = decodeField(dv, src, offset, f);
      }
      return out as StructValue<F>;
    },
    encode(value: StructValue<F>, dst: Uint8Array = new Uint8Array(size), offset = 0): Uint8Array {
      if (offset < 0 || offset + size > dst.byteLength) {
        throw new LayoutError(name, '*', `needs ${size} bytes at ${offset}, the buffer has ${dst.byteLength}`);
      }
      const dv = new DataView(dst.buffer, dst.byteOffset + offset, size);
      const v = value as Record<string, unknown>;
      // Zero first: C's implicit alignment holes must not carry stale bytes of dst onto the wire.
      dst.fill(0, offset, offset + size);
      for (const [field, f] of entries) {
        if (isPad(f.type)) continue;
        encodeField(name, field, dv, dst, offset, f, v[field]);
      }
      return dst;
    },
  };
}

function decodeOne(dv: DataView, src: Uint8Array, base: number, at: number, k: FieldKind): unknown {
  if (isScalar(k)) {
    switch (k) {
      case 'u8':
        return dv.getUint8(at);
      case 'i8':
        return dv.getInt8(at);
      case 'u16':
        return dv.getUint16(at, true);
      case 'i16':
        return dv.getInt16(at, true);
      case 'u32':
        return dv.getUint32(at, true);
      case 'i32':
        return dv.getInt32(at, true);
      case 'u64':
        return dv.getBigUint64(at, true);
      case 'i64':
        return dv.getBigInt64(at, true);
    }
  }
  if (isBytes(k)) return src.slice(base + at, base + at + k.bytes);
  if (isPad(k)) return undefined;
  return (k as StructLayout<FieldMap>).decode(src, base + at);
}

function decodeField(dv: DataView, src: Uint8Array, base: number, f: FieldSpec): unknown {
  if (f.count === undefined) return decodeOne(dv, src, base, f.offset, f.type);
  const w = kindWidth(f.type);
  return Array.from({ length: f.count }, (_, i) => decodeOne(dv, src, base, f.offset + i * w, f.type));
}

function encodeOne(struct: string, field: string, dv: DataView, dst: Uint8Array, base: number, at: number, k: FieldKind, v: unknown): void {
  if (isScalar(k)) {
    if (k === 'u64' || k === 'i64') {
      if (typeof v !== 'bigint') throw new LayoutError(struct, field, `expects a bigint, got ${typeof v}`);
      const ok = k === 'u64' ? v >= 0n && v < 1n << 64n : v >= -(1n << 63n) && v < 1n << 63n;
      if (!ok) throw new LayoutError(struct, field, `${v} does not fit ${k}`);
      if (k === 'u64') dv.setBigUint64(at, v, true);
      else dv.setBigInt64(at, v, true);
      return;
    }
    const [lo, hi] = INT_RANGE[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
      throw new LayoutError(struct, field, `${String(v)} does not fit ${k}`);
    }
    switch (k) {
      case 'u8':
        return dv.setUint8(at, v);
      case 'i8':
        return dv.setInt8(at, v);
      case 'u16':
        return dv.setUint16(at, v, true);
      case 'i16':
        return dv.setInt16(at, v, true);
      case 'u32':
        return dv.setUint32(at, v, true);
      case 'i32':
        return dv.setInt32(at, v, true);
    }
  }
  if (isBytes(k)) {
    if (!(v instanceof Uint8Array) || v.byteLength !== k.bytes) {
      throw new LayoutError(struct, field, `expects a Uint8Array of exactly ${k.bytes} bytes`);
    }
    dst.set(v, base + at);
    return;
  }
  if (isPad(k)) return;
  if (typeof v !== 'object' || v === null) throw new LayoutError(struct, field, `expects a ${k.name} object`);
  (k as StructLayout<FieldMap>).encode(v as StructValue<FieldMap>, dst, base + at);
}

function encodeField(struct: string, field: string, dv: DataView, dst: Uint8Array, base: number, f: FieldSpec, v: unknown): void {
  if (f.count === undefined) {
    encodeOne(struct, field, dv, dst, base, f.offset, f.type, v);
    return;
  }
  // An array may be given short (blkif_request.seg with nr_segments < 11): the elements not
  // given are written as zero bytes, so no stale bytes of the buffer leak onto the wire.
  if (!Array.isArray(v) || v.length > f.count) {
    throw new LayoutError(struct, field, `expects an array of at most ${f.count} elements`);
  }
  const w = kindWidth(f.type);
  v.forEach((el: unknown, i) => encodeOne(struct, `${field}[${i}]`, dv, dst, base, f.offset + i * w, f.type, el));
  dst.fill(0, base + f.offset + v.length * w, base + f.offset + f.count * w);
}

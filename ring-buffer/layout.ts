// Wire layouts declared once, as data: each field's name, byte offset, type and array count.
// Encode and decode are both derived from the same declaration, and the C-header test
// (layout-c-headers.spec.ts) compiles the real Xen headers and compares every offset and width,
// so a typo in an offset cannot survive in one direction only.
//
// This is the one layout library of xlts: the ring protocols here, the Xen hypercall argument
// structs (hypervisor/xen/wire.ts) and the KVM ioctl structs (hypervisor/kvm/kvm-structs.ts) are
// all declared with it, and testing/c-layout-check.ts compares any of them with gcc.
//
// All Xen ring protocols and KVM structs are native-endian; every platform xlts runs on (x86_64) is
// little-endian. Decoding is meant for private copies (FrontRing.takeResponse, BackRing.takeRequest,
// GuestAccess.read): it never touches shared memory twice because it is never given shared memory.
// The one exception is the kvm_run page, which only its own vCPU thread writes while we read it.
//
// Each layout compiles its fields once into a plan of readers and writers (one closure per field,
// chosen by type at declaration), so a decode is a straight walk with no type dispatch: a
// kvm_regs decode on the vCPU exit path costs well under a microsecond.

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
  /**
   * For a member of a bigger struct declared on its own (an arm of kvm_run's exit union): the
   * member path inside `type`, e.g. 'io'; field offsets are then relative to that member.
   */
  readonly member?: string;
}

export interface StructLayout<F extends FieldMap> {
  readonly name: string;
  readonly size: number;
  readonly fields: F;
  readonly c: CBinding;
  /** The offset of a field, for code that reads or writes one field of a live page in place. */
  offsetOf(field: keyof F & string): number;
  /** Reads a struct out of `src` at `offset` (a private copy, never shared memory). */
  decode(src: Uint8Array | DataView, offset?: number): StructValue<F>;
  /**
   * Writes `value` into `dst` at `offset` (a fresh zeroed buffer by default) and returns `dst`.
   * Every byte of the struct is written: padding and missing array elements become zero.
   */
  encode(value: StructValue<F>, dst?: Uint8Array, offset?: number): Uint8Array;
  /** A value with every field zero, to fill in before encode. */
  zero(): StructValue<F>;
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

/** Whether a scalar field is signed in C (for the header test's signedness probe); null otherwise. */
export function fieldSigned(f: FieldSpec): boolean | null {
  return isScalar(f.type) ? f.type.startsWith('i') : null;
}

/** Reads one element at byte `at` of `dv` (a view of the whole buffer). */
type Reader = (dv: DataView, at: number) => unknown;
/** Writes one element; `where` names it in errors. */
type Writer = (dv: DataView, at: number, v: unknown, where: string) => void;

interface PlannedField {
  readonly name: string;
  readonly offset: number;
  /** Undefined for a single element, else the element count and width. */
  readonly count: number | undefined;
  readonly width: number;
  readonly read: Reader;
  readonly write: Writer;
}

/** The plan-level entry points of a layout, for a struct nested in another. */
const NESTED = Symbol('nested');
interface Nested {
  readonly [NESTED]: { decodeAt(dv: DataView, base: number): unknown; encodeAt(dv: DataView, base: number, value: unknown): void };
}

/** Declares a struct layout; checks at load time that its fields fit, are aligned and do not overlap. */
export function defineStruct<const F extends FieldMap>(name: string, size: number, fields: F, c?: Partial<CBinding>): StructLayout<F> {
  const entries = Object.entries(fields);
  const spans = entries.map(([field, f]) => {
    if (!Number.isInteger(f.offset) || f.offset < 0) throw new LayoutError(name, field, `bad offset ${f.offset}`);
    if (f.count !== undefined && (!Number.isInteger(f.count) || f.count <= 0)) throw new LayoutError(name, field, `bad count ${f.count}`);
    // C places every scalar at a multiple of its width (x86_64 psABI); a misaligned offset is a typo.
    if (isScalar(f.type) && f.offset % SCALAR_WIDTH[f.type] !== 0) {
      throw new LayoutError(name, field, `offset ${f.offset} is not ${SCALAR_WIDTH[f.type]}-byte aligned`);
    }
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
  const binding: CBinding = {
    type: c?.type ?? `struct ${name}`,
    ...(c?.sizeExpr !== undefined ? { sizeExpr: c.sizeExpr } : {}),
    ...(c?.member !== undefined ? { member: c.member } : {}),
  };
  const plan: PlannedField[] = entries
    .filter(([, f]) => !isPad(f.type))
    .map(([field, f]) => ({ name: field, offset: f.offset, count: f.count, width: kindWidth(f.type), read: reader(f.type), write: writer(name, f.type) }));

  function decodeAt(dv: DataView, base: number): StructValue<F> {
    const out: Record<string, unknown> = {};
    for (const p of plan) {
      const at = base + p.offset;
      if (p.count === undefined) out[p.name] = p.read(dv, at);
      else {
        const arr: unknown[] = new Array(p.count);
        for (let i = 0; i < p.count; i++) arr[i] = p.read(dv, at + i * p.width);
        out[p.name] = arr;
      }
    }
    return out as StructValue<F>;
  }

  // Writes every declared field; the caller has zeroed the struct's bytes already.
  function encodeAt(dv: DataView, base: number, value: StructValue<F>): void {
    const v = value as Record<string, unknown>;
    for (const p of plan) {
      const at = base + p.offset;
      const x = v[p.name];
      if (p.count === undefined) {
        p.write(dv, at, x, p.name);
        continue;
      }
      // An array may be given short (blkif_request.seg with nr_segments < 11): the elements not
      // given stay zero, so no stale bytes of the buffer leak onto the wire.
      if (!Array.isArray(x) || x.length > p.count) {
        throw new LayoutError(name, p.name, `expects an array of at most ${p.count} elements`);
      }
      for (let i = 0; i < x.length; i++) p.write(dv, at + i * p.width, x[i], `${p.name}[${i}]`);
    }
  }

  function check(byteLength: number, offset: number): void {
    if (!(offset >= 0) || offset + size > byteLength) {
      throw new LayoutError(name, '*', `needs ${size} bytes at ${offset}, the buffer has ${byteLength}`);
    }
  }

  const layout: StructLayout<F> & Nested = {
    name,
    size,
    fields,
    c: binding,
    offsetOf(field: keyof F & string): number {
      const f = fields[field];
      if (f === undefined) throw new LayoutError(name, field, 'no such field');
      return f.offset;
    },
    decode(src: Uint8Array | DataView, offset = 0): StructValue<F> {
      check(src.byteLength, offset);
      const dv = src instanceof DataView ? src : new DataView(src.buffer, src.byteOffset, src.byteLength);
      return decodeAt(dv, offset);
    },
    encode(value: StructValue<F>, dst: Uint8Array = new Uint8Array(size), offset = 0): Uint8Array {
      check(dst.byteLength, offset);
      // Zero first: C's implicit alignment holes must not carry stale bytes of dst onto the wire.
      dst.fill(0, offset, offset + size);
      encodeAt(new DataView(dst.buffer, dst.byteOffset, dst.byteLength), offset, value);
      return dst;
    },
    zero(): StructValue<F> {
      return decodeAt(new DataView(new ArrayBuffer(size)), 0);
    },
    [NESTED]: { decodeAt, encodeAt: encodeAt as (dv: DataView, base: number, value: unknown) => void },
  };
  return layout;
}

function nestedOf(k: AnyStructLayout): Nested[typeof NESTED] {
  const n = (k as Partial<Nested>)[NESTED];
  if (n === undefined) throw new LayoutError(k.name, '*', 'is not a layout made by defineStruct');
  return n;
}

function reader(k: FieldKind): Reader {
  if (isScalar(k)) {
    switch (k) {
      case 'u8':
        return (dv, at) => dv.getUint8(at);
      case 'i8':
        return (dv, at) => dv.getInt8(at);
      case 'u16':
        return (dv, at) => dv.getUint16(at, true);
      case 'i16':
        return (dv, at) => dv.getInt16(at, true);
      case 'u32':
        return (dv, at) => dv.getUint32(at, true);
      case 'i32':
        return (dv, at) => dv.getInt32(at, true);
      case 'u64':
        return (dv, at) => dv.getBigUint64(at, true);
      case 'i64':
        return (dv, at) => dv.getBigInt64(at, true);
    }
  }
  if (isBytes(k)) {
    const n = k.bytes;
    return (dv, at) => new Uint8Array(dv.buffer, dv.byteOffset + at, n).slice();
  }
  if (isPad(k)) return () => undefined;
  const nested = nestedOf(k);
  return (dv, at) => nested.decodeAt(dv, at);
}

function writer(struct: string, k: FieldKind): Writer {
  if (isScalar(k)) {
    if (k === 'u64' || k === 'i64') {
      const [lo, hi] = k === 'u64' ? [0n, (1n << 64n) - 1n] : [-(1n << 63n), (1n << 63n) - 1n];
      const set = k === 'u64' ? DataView.prototype.setBigUint64 : DataView.prototype.setBigInt64;
      return (dv, at, v, where) => {
        if (typeof v !== 'bigint') throw new LayoutError(struct, where, `expects a bigint, got ${typeof v}`);
        if (v < lo || v > hi) throw new LayoutError(struct, where, `${v} does not fit ${k}`);
        set.call(dv, at, v, true);
      };
    }
    const [lo, hi] = INT_RANGE[k];
    const set = {
      u8: DataView.prototype.setUint8,
      i8: DataView.prototype.setInt8,
      u16: DataView.prototype.setUint16,
      i16: DataView.prototype.setInt16,
      u32: DataView.prototype.setUint32,
      i32: DataView.prototype.setInt32,
    }[k];
    return (dv, at, v, where) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
        throw new LayoutError(struct, where, `${String(v)} does not fit ${k}`);
      }
      set.call(dv, at, v, true);
    };
  }
  if (isBytes(k)) {
    const n = k.bytes;
    return (dv, at, v, where) => {
      if (!(v instanceof Uint8Array) || v.byteLength !== n) {
        throw new LayoutError(struct, where, `expects a Uint8Array of exactly ${n} bytes`);
      }
      new Uint8Array(dv.buffer, dv.byteOffset + at, n).set(v);
    };
  }
  if (isPad(k)) return () => undefined;
  const nested = nestedOf(k);
  return (dv, at, v, where) => {
    if (typeof v !== 'object' || v === null) throw new LayoutError(struct, where, `expects a ${k.name} object`);
    nested.encodeAt(dv, at, v);
  };
}

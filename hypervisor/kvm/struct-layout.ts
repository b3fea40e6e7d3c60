// C struct layouts declared once as data. A layout names its C type, its size and each member's
// offset and width; `decode` and `encode` are both driven by that one declaration, and the test
// suite compiles a C program against the real headers to check every offset and size declared
// here (test/kvm-structs.test.ts), so a typo in an offset cannot survive.
//
// Field keys are the C member names, so a reader can hold a layout against the header. Members we
// never read (padding, reserved) are simply not declared: encode zero-fills the whole struct.
// All values are little-endian (x86_64). 64-bit members decode to bigint, narrower ones to number.

export type ScalarType = 'u8' | 'u16' | 'u32' | 'i32' | 'u64';

const SCALAR_SIZE: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, i32: 4, u64: 8 };

export interface ScalarField {
  readonly offset: number;
  readonly type: ScalarType;
  /** A fixed-size array of this scalar (C `type name[count]`). */
  readonly count?: number;
}

export interface NestedField {
  readonly offset: number;
  // Methods of StructLayout are bivariant, so any layout fits here.
  readonly struct: StructLayout<FieldMap>;
  readonly count?: number;
}

export type FieldSpec = ScalarField | NestedField;
export type FieldMap = { readonly [name: string]: FieldSpec };

type ScalarValue<T> = T extends 'u64' ? bigint : number;

type FieldValue<F> = F extends { readonly struct: StructLayout<infer S>; readonly count: number }
  ? StructValue<S>[]
  : F extends { readonly struct: StructLayout<infer S> }
    ? StructValue<S>
    : F extends { readonly type: infer T; readonly count: number }
      ? ScalarValue<T>[]
      : F extends { readonly type: infer T }
        ? ScalarValue<T>
        : never;

/** The decoded value of a layout: one property per declared member. */
export type StructValue<S extends FieldMap> = { -readonly [K in keyof S]: FieldValue<S[K]> };

export class StructLayoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StructLayoutError';
  }
}

export interface CTypeRef {
  /** The C type, e.g. `struct kvm_regs`. */
  readonly type: string;
  /**
   * For a member of a bigger struct declared on its own (an arm of kvm_run's exit union): the
   * member path inside `type`, e.g. `io`; offsets here are then relative to that member.
   */
  readonly member?: string;
}

interface PlannedField {
  readonly name: string;
  readonly spec: FieldSpec;
}

export class StructLayout<S extends FieldMap> {
  /** The members in declaration order, computed once: decode/encode are on the exit hot path. */
  private readonly plan: readonly PlannedField[];

  constructor(
    readonly c: CTypeRef,
    readonly size: number,
    readonly fields: S,
  ) {
    const spans: { name: string; start: number; end: number }[] = [];
    for (const [name, f] of Object.entries(fields)) {
      const width = fieldElementSize(f);
      const count = f.count ?? 1;
      const align = 'struct' in f ? 1 : width;
      if (!Number.isSafeInteger(f.offset) || f.offset < 0 || f.offset % align !== 0) {
        throw new StructLayoutError(`${c.type}.${name}: offset ${f.offset} is not ${align}-aligned`);
      }
      if (!Number.isSafeInteger(count) || count < 1) throw new StructLayoutError(`${c.type}.${name}: bad count ${count}`);
      const end = f.offset + width * count;
      if (end > size) throw new StructLayoutError(`${c.type}.${name}: ends at ${end}, past the struct size ${size}`);
      spans.push({ name, start: f.offset, end });
    }
    spans.sort((a, b) => a.start - b.start);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1]!;
      const cur = spans[i]!;
      if (cur.start < prev.end) throw new StructLayoutError(`${c.type}: ${cur.name} overlaps ${prev.name}`);
    }
    this.plan = Object.entries(fields).map(([name, spec]) => ({ name, spec }));
  }

  offsetOf(name: keyof S & string): number {
    const f = this.fields[name];
    if (f === undefined) throw new StructLayoutError(`${this.c.type} has no member ${name}`);
    return f.offset;
  }

  /** Reads the struct at `offset` of `bytes` (copying every member out: the source may be shared). */
  decode(bytes: Uint8Array | DataView, offset = 0): StructValue<S> {
    const view = bytes instanceof DataView ? bytes : new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (offset < 0 || offset + this.size > view.byteLength) {
      throw new StructLayoutError(`${this.c.type}: ${this.size} bytes at ${offset} do not fit in ${view.byteLength}`);
    }
    const out: Record<string, unknown> = {};
    for (const { name, spec } of this.plan) out[name] = decodeField(view, offset, spec);
    return out as StructValue<S>;
  }

  /** Writes `value` into `target` at `offset` (zero-filling undeclared bytes); returns `target`. */
  encode(value: StructValue<S>, target: Uint8Array = new Uint8Array(this.size), offset = 0): Uint8Array {
    if (offset < 0 || offset + this.size > target.byteLength) {
      throw new StructLayoutError(`${this.c.type}: ${this.size} bytes at ${offset} do not fit in ${target.byteLength}`);
    }
    target.fill(0, offset, offset + this.size);
    const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
    const record = value as Record<string, unknown>;
    for (const { name, spec } of this.plan) encodeField(view, offset, spec, record[name], this.c.type, name);
    return target;
  }

  /** A value with every member zero, to fill in before encode. */
  zero(): StructValue<S> {
    return this.decode(new Uint8Array(this.size));
  }
}

/** Declares a layout; `const` keeps the member types literal so values are typed per member. */
export function struct<const S extends FieldMap>(c: string | CTypeRef, size: number, fields: S): StructLayout<S> {
  return new StructLayout(typeof c === 'string' ? { type: c } : c, size, fields);
}

function fieldElementSize(f: FieldSpec): number {
  return 'struct' in f ? f.struct.size : SCALAR_SIZE[f.type];
}

function decodeScalar(view: DataView, at: number, type: ScalarType): number | bigint {
  switch (type) {
    case 'u8':
      return view.getUint8(at);
    case 'u16':
      return view.getUint16(at, true);
    case 'u32':
      return view.getUint32(at, true);
    case 'i32':
      return view.getInt32(at, true);
    case 'u64':
      return view.getBigUint64(at, true);
  }
}

function decodeField(view: DataView, base: number, f: FieldSpec): unknown {
  const at = base + f.offset;
  if ('struct' in f) {
    if (f.count === undefined) return f.struct.decode(view, at);
    return Array.from({ length: f.count }, (_, i) => f.struct.decode(view, at + i * f.struct.size));
  }
  if (f.count === undefined) return decodeScalar(view, at, f.type);
  const width = SCALAR_SIZE[f.type];
  return Array.from({ length: f.count }, (_, i) => decodeScalar(view, at + i * width, f.type));
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const INTEGER_RANGE: Record<Exclude<ScalarType, 'u64'>, readonly [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  u32: [0, 0xffff_ffff],
  i32: [-0x8000_0000, 0x7fff_ffff],
};

// `struct`/`member` name the value in errors; the message is only built on failure.
function encodeScalar(view: DataView, at: number, type: ScalarType, v: unknown, struct: string, member: string): void {
  if (type === 'u64') {
    if (typeof v !== 'bigint' || v < 0n || v > U64_MAX) throw new StructLayoutError(`${struct}.${member}: not a u64: ${String(v)}`);
    view.setBigUint64(at, v, true);
    return;
  }
  const [lo, hi] = INTEGER_RANGE[type];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new StructLayoutError(`${struct}.${member}: ${String(v)} does not fit in ${type}`);
  }
  switch (type) {
    case 'u8':
      view.setUint8(at, v);
      return;
    case 'u16':
      view.setUint16(at, v, true);
      return;
    case 'u32':
      view.setUint32(at, v, true);
      return;
    case 'i32':
      view.setInt32(at, v, true);
  }
}

function encodeField(view: DataView, base: number, f: FieldSpec, v: unknown, struct: string, member: string): void {
  const at = base + f.offset;
  if ('struct' in f) {
    const target = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    if (f.count === undefined) {
      f.struct.encode(v as StructValue<FieldMap>, target, at);
      return;
    }
    if (!Array.isArray(v) || v.length !== f.count) throw new StructLayoutError(`${struct}.${member}: expected ${f.count} elements`);
    v.forEach((el, i) => f.struct.encode(el as StructValue<FieldMap>, target, at + i * f.struct.size));
    return;
  }
  if (f.count === undefined) {
    encodeScalar(view, at, f.type, v, struct, member);
    return;
  }
  if (!Array.isArray(v) || v.length !== f.count) throw new StructLayoutError(`${struct}.${member}: expected ${f.count} elements`);
  const width = SCALAR_SIZE[f.type];
  for (let i = 0; i < f.count; i++) encodeScalar(view, at + i * width, f.type, v[i], struct, `${member}[${i}]`);
}

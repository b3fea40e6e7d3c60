// Wire layouts as data. A layout lists each field's offset and width once; decode and encode both
// come from it, and layout.spec.ts compiles a C program against /usr/include/xen to check every
// size and offset declared with `struct()` against the real headers.
//
// Decoding always works on a private copy of guest bytes (GuestAccess.copyIn hands one out), so a
// decoded value cannot change under us after validation: no double fetch. Encoding starts from a
// zeroed buffer, so padding never carries stale host bytes to the guest (XSA-216's lesson).

/** Little-endian integer widths. u64 decodes to bigint: guest addresses and timeouts use all 64 bits. */
export type ScalarType = 'u8' | 'u16' | 'u32' | 'i16' | 'i32' | 'u64';

export interface ScalarField {
  readonly offset: number;
  readonly type: ScalarType;
  /** The C member path when it differs from the key (e.g. 'u.interdomain.port'). */
  readonly c?: string;
}

export interface BytesField {
  readonly offset: number;
  readonly type: 'bytes';
  readonly length: number;
  readonly c?: string;
}

export type FieldSpec = ScalarField | BytesField;
export type FieldSpecs = Readonly<Record<string, FieldSpec>>;

export interface StructLayout<F extends FieldSpecs = FieldSpecs> {
  /** The C type, e.g. 'struct evtchn_bind_virq', used by the header-comparison test. */
  readonly cName: string;
  /** sizeof the C type on x86_64. */
  readonly size: number;
  readonly fields: F;
}

type FieldValue<S extends FieldSpec> = S extends BytesField ? Uint8Array : S extends { type: 'u64' } ? bigint : number;

/** The decoded form of a layout: one property per field. */
export type Decoded<F extends FieldSpecs> = { -readonly [K in keyof F]: FieldValue<F[K]> };

export class LayoutError extends Error {
  override readonly name = 'LayoutError';
}

const WIDTH: Record<ScalarType, number> = { u8: 1, u16: 2, u32: 4, i16: 2, i32: 4, u64: 8 };

export function fieldWidth(spec: FieldSpec): number {
  return spec.type === 'bytes' ? spec.length : WIDTH[spec.type];
}

/**
 * Declares a layout. Checks at module load that every field lies inside the struct, is naturally
 * aligned (as the C compiler would place it) and overlaps no other field, so a typo fails fast.
 */
export function struct<const F extends FieldSpecs>(cName: string, size: number, fields: F): StructLayout<F> {
  const spans: Array<[number, number, string]> = [];
  for (const [name, spec] of Object.entries(fields)) {
    const width = fieldWidth(spec);
    if (!Number.isInteger(spec.offset) || spec.offset < 0 || spec.offset + width > size) {
      throw new LayoutError(`${cName}.${name}: [${spec.offset}, +${width}) is outside the ${size}-byte struct`);
    }
    if (spec.type !== 'bytes' && spec.offset % width !== 0) {
      throw new LayoutError(`${cName}.${name}: offset ${spec.offset} is not ${width}-byte aligned`);
    }
    spans.push([spec.offset, spec.offset + width, name]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1]!;
    const cur = spans[i]!;
    if (cur[0] < prev[1]) throw new LayoutError(`${cName}: fields ${prev[2]} and ${cur[2]} overlap`);
  }
  return { cName, size, fields };
}

/** Decodes `bytes` (at least layout.size long, normally a private copy) into a plain object. */
export function decode<F extends FieldSpecs>(layout: StructLayout<F>, bytes: Uint8Array): Decoded<F> {
  if (bytes.length < layout.size) {
    throw new LayoutError(`${layout.cName} needs ${layout.size} bytes, got ${bytes.length}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, layout.size);
  const out: Record<string, number | bigint | Uint8Array> = {};
  for (const [name, spec] of Object.entries(layout.fields)) {
    out[name] = readField(dv, bytes, spec);
  }
  return out as Decoded<F>;
}

/**
 * Encodes `value` into a fresh zero-filled buffer of layout.size bytes. Integer fields are checked
 * against their width: a value that does not fit is a bug on our side, not truncated silently.
 */
export function encode<F extends FieldSpecs>(layout: StructLayout<F>, value: Decoded<F>): Uint8Array {
  const bytes = new Uint8Array(layout.size);
  const dv = new DataView(bytes.buffer);
  const v = value as Record<string, number | bigint | Uint8Array>;
  for (const [name, spec] of Object.entries(layout.fields)) {
    const x = v[name];
    if (x === undefined) throw new LayoutError(`${layout.cName}.${name} has no value`);
    writeField(dv, bytes, spec, x, `${layout.cName}.${name}`);
  }
  return bytes;
}

function readField(dv: DataView, bytes: Uint8Array, spec: FieldSpec): number | bigint | Uint8Array {
  const o = spec.offset;
  switch (spec.type) {
    case 'u8':
      return dv.getUint8(o);
    case 'u16':
      return dv.getUint16(o, true);
    case 'i16':
      return dv.getInt16(o, true);
    case 'u32':
      return dv.getUint32(o, true);
    case 'i32':
      return dv.getInt32(o, true);
    case 'u64':
      return dv.getBigUint64(o, true);
    case 'bytes':
      return bytes.slice(o, o + spec.length);
  }
}

function writeField(dv: DataView, bytes: Uint8Array, spec: FieldSpec, x: number | bigint | Uint8Array, where: string): void {
  const o = spec.offset;
  if (spec.type === 'bytes') {
    if (!(x instanceof Uint8Array) || x.length > spec.length) throw new LayoutError(`${where}: needs at most ${spec.length} bytes`);
    bytes.set(x, o);
    return;
  }
  if (spec.type === 'u64') {
    if (typeof x !== 'bigint' || x < 0n || x > 0xffff_ffff_ffff_ffffn) throw new LayoutError(`${where}: not a u64: ${String(x)}`);
    dv.setBigUint64(o, x, true);
    return;
  }
  if (typeof x !== 'number' || !Number.isInteger(x)) throw new LayoutError(`${where}: not an integer: ${String(x)}`);
  const [min, max] = RANGE[spec.type];
  if (x < min || x > max) throw new LayoutError(`${where}: ${x} does not fit ${spec.type}`);
  switch (spec.type) {
    case 'u8':
      dv.setUint8(o, x);
      return;
    case 'u16':
      dv.setUint16(o, x, true);
      return;
    case 'i16':
      dv.setInt16(o, x, true);
      return;
    case 'u32':
      dv.setUint32(o, x, true);
      return;
    case 'i32':
      dv.setInt32(o, x, true);
      return;
  }
}

const RANGE: Record<Exclude<ScalarType, 'u64'>, [number, number]> = {
  u8: [0, 0xff],
  u16: [0, 0xffff],
  i16: [-0x8000, 0x7fff],
  u32: [0, 0xffff_ffff],
  i32: [-0x8000_0000, 0x7fff_ffff],
};

// A wire structure declared once as data: each field's offset and width, from which both the
// encoder and the decoder are derived, and which a test compares with the C compiler's view of the
// same struct. Little-endian, naturally aligned integer fields only: that is all the boot ABI uses.
import { PvhError } from './errors.ts';

export type FieldWidth = 1 | 2 | 4 | 8;

export interface FieldSpec {
  readonly offset: number;
  readonly width: FieldWidth;
}

export type StructValues<F extends Record<string, FieldSpec>> = { readonly [K in keyof F]: number };

export class StructLayoutError extends PvhError {}

export class StructLayout<F extends Record<string, FieldSpec>> {
  readonly fieldNames: readonly (keyof F & string)[];

  constructor(
    /** The C struct name, for messages and the layout test. */
    readonly name: string,
    readonly size: number,
    readonly fields: F,
  ) {
    this.fieldNames = Object.keys(fields);
    // Declaration errors are programming errors, but checking them here makes a typo in an offset
    // fail at import instead of corrupting a guest's boot data.
    let end = 0;
    for (const key of this.fieldNames) {
      const f = fields[key]!;
      if (f.offset % f.width !== 0) throw new StructLayoutError(`${name}.${key} at ${f.offset} is not ${f.width}-byte aligned`);
      if (f.offset < end) throw new StructLayoutError(`${name}.${key} overlaps the previous field`);
      end = f.offset + f.width;
    }
    if (end > size) throw new StructLayoutError(`${name} fields end at ${end}, past its size ${size}`);
  }

  /** Encodes into a fresh buffer of `size` bytes; fields not given are zero (reserved fields). */
  encode(values: Partial<StructValues<F>>): Uint8Array {
    const out = new Uint8Array(this.size);
    this.encodeInto(out, 0, values);
    return out;
  }

  encodeInto(target: Uint8Array, at: number, values: Partial<StructValues<F>>): void {
    if (at < 0 || at + this.size > target.length) throw new StructLayoutError(`${this.name} does not fit at ${at} in ${target.length} bytes`);
    const dv = new DataView(target.buffer, target.byteOffset + at, this.size);
    for (const key of this.fieldNames) {
      const f = this.fields[key]!;
      const v = values[key] ?? 0;
      if (!Number.isSafeInteger(v) || v < 0 || (f.width < 8 && v >= 2 ** (8 * f.width))) {
        throw new StructLayoutError(`${this.name}.${key} = ${v} does not fit in ${f.width} bytes`);
      }
      switch (f.width) {
        case 1:
          dv.setUint8(f.offset, v);
          break;
        case 2:
          dv.setUint16(f.offset, v, true);
          break;
        case 4:
          dv.setUint32(f.offset, v, true);
          break;
        case 8:
          dv.setBigUint64(f.offset, BigInt(v), true);
          break;
      }
    }
  }

  /** Decodes a copy's fields; an 8-byte value above 2^53 is refused rather than rounded. */
  decode(source: Uint8Array, at = 0): StructValues<F> {
    if (at < 0 || at + this.size > source.length) throw new StructLayoutError(`${this.name} does not fit at ${at} in ${source.length} bytes`);
    const dv = new DataView(source.buffer, source.byteOffset + at, this.size);
    const out: Record<string, number> = {};
    for (const key of this.fieldNames) {
      const f = this.fields[key]!;
      switch (f.width) {
        case 1:
          out[key] = dv.getUint8(f.offset);
          break;
        case 2:
          out[key] = dv.getUint16(f.offset, true);
          break;
        case 4:
          out[key] = dv.getUint32(f.offset, true);
          break;
        case 8: {
          const v = dv.getBigUint64(f.offset, true);
          if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new StructLayoutError(`${this.name}.${key} = 0x${v.toString(16)} is beyond 2^53`);
          out[key] = Number(v);
          break;
        }
      }
    }
    return out as StructValues<F>;
  }
}

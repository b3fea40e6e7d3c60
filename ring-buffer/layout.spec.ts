// The layout module, and every wire layout declared with it: encode/decode round trips driven by
// the layout data itself, known byte vectors, and the errors for values that do not fit.
import { describe, expect, it } from 'vitest';
import { BLKIF, BLKIF_OP, BLKIF_RING_ENTRY_SIZE, blkifRequest, blkifRequestIndirect, blkifResponse } from './blkif.ts';
import { xenconsInterface } from './console-interface.ts';
import { type AnyStructLayout, type FieldKind, type FieldMap, type FieldSpec, LayoutError, type StructLayout, type StructValue, defineStruct, fieldWidth, kindWidth } from './layout.ts';
import {
  NETIF_RX_RING_ENTRY_SIZE,
  NETIF_TX_RING_ENTRY_SIZE,
  NETTXF,
  XEN_NETIF_EXTRA,
  netifExtraInfo,
  netifExtraInfoGso,
  netifExtraInfoHash,
  netifExtraInfoMcast,
  netifRxRequest,
  netifTxRequest,
} from './netif.ts';
import { WIRE_LAYOUTS } from './wire-layouts.ts';
import { xsdSockmsg } from './xs-wire.ts';
import { prng } from './testing/prng.ts';

function isStruct(k: FieldKind): k is AnyStructLayout {
  return typeof k === 'object' && 'fields' in k;
}

/** A random value for one element of a field, from the declaration alone. */
function randomOf(k: FieldKind, rnd: () => number): unknown {
  if (typeof k === 'string') {
    const w = kindWidth(k);
    if (w === 8) {
      const big = (BigInt(rnd()) << 32n) | BigInt(rnd());
      return k === 'u64' ? big : BigInt.asIntN(64, big);
    }
    const u = rnd() % 2 ** (8 * w);
    return k.startsWith('i') && u >= 2 ** (8 * w - 1) ? u - 2 ** (8 * w) : u;
  }
  if ('bytes' in k) return Uint8Array.from({ length: k.bytes }, () => rnd() & 0xff);
  if ('pad' in k) return undefined;
  return randomValue(k, rnd);
}

function randomValue(layout: AnyStructLayout, rnd: () => number): Record<string, unknown> {
  const v: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(layout.fields)) {
    if (typeof f.type === 'object' && 'pad' in f.type) continue;
    v[name] = f.count === undefined ? randomOf(f.type, rnd) : Array.from({ length: f.count }, () => randomOf(f.type, rnd));
  }
  return v;
}

/** Which bytes of a struct some non-pad field covers (recursively). */
function coverage(layout: AnyStructLayout, mask = new Uint8Array(layout.size), base = 0): Uint8Array {
  for (const f of Object.values(layout.fields) as FieldSpec[]) {
    if (typeof f.type === 'object' && 'pad' in f.type) continue;
    const w = kindWidth(f.type);
    for (let i = 0; i < (f.count ?? 1); i++) {
      const at = base + f.offset + i * w;
      if (isStruct(f.type)) coverage(f.type, mask, at);
      else mask.fill(1, at, at + w);
    }
  }
  return mask;
}

/** Encode/decode through the erased layout type the test walks. */
function codec(layout: AnyStructLayout): StructLayout<FieldMap> {
  return layout as StructLayout<FieldMap>;
}

describe('every wire layout round-trips', () => {
  for (const layout of WIRE_LAYOUTS) {
    it(`${layout.name} (${layout.size} bytes)`, () => {
      const rnd = prng(layout.size * 7919 + layout.name.length);
      const mask = coverage(layout);
      // The page-sized interfaces are mostly byte arrays: a few rounds cover them.
      const rounds = layout.size > 256 ? 8 : 200;
      for (let n = 0; n < rounds; n++) {
        const value = randomValue(layout, rnd) as StructValue<FieldMap>;
        const bytes = codec(layout).encode(value);
        expect(bytes.byteLength).toBe(layout.size);
        expect(codec(layout).decode(bytes)).toEqual(value);
        // Holes and padding are always written as zero.
        for (let i = 0; i < layout.size; i++) if (mask[i] === 0 && bytes[i] !== 0) throw new Error(`${layout.name}: byte ${i} not zero`);
        // And the other way: any bytes with zero holes survive decode then encode unchanged.
        const raw = Uint8Array.from({ length: layout.size }, (_, i) => (mask[i] === 1 ? rnd() & 0xff : 0));
        expect(codec(layout).encode(codec(layout).decode(raw))).toEqual(raw);
      }
    });
  }

  it('encodes at an offset into a bigger buffer and decodes from there', () => {
    const buf = new Uint8Array(64).fill(0xff);
    xsdSockmsg.encode({ type: 1, req_id: 2, tx_id: 3, len: 4 }, buf, 8);
    expect(buf[7]).toBe(0xff);
    expect(buf[24]).toBe(0xff);
    expect(xsdSockmsg.decode(buf, 8)).toEqual({ type: 1, req_id: 2, tx_id: 3, len: 4 });
  });
});

describe('known byte vectors', () => {
  it('blkif_request: fields at their x86_64 offsets, little-endian', () => {
    const b = blkifRequest.encode({
      operation: BLKIF_OP.BLKIF_OP_WRITE,
      nr_segments: 2,
      handle: 0x0301,
      id: 0x1122334455667788n,
      sector_number: 0x1000n,
      seg: [
        { gref: 0xaabbccdd, first_sect: 0, last_sect: 7 },
        { gref: 9, first_sect: 1, last_sect: 2 },
      ],
    });
    const dv = new DataView(b.buffer);
    expect(b.byteLength).toBe(112);
    expect([b[0], b[1], dv.getUint16(2, true)]).toEqual([1, 2, 0x0301]);
    expect([...b.subarray(4, 8)]).toEqual([0, 0, 0, 0]); // alignment hole
    expect(dv.getBigUint64(8, true)).toBe(0x1122334455667788n);
    expect(dv.getBigUint64(16, true)).toBe(0x1000n);
    expect([dv.getUint32(24, true), b[28], b[29]]).toEqual([0xaabbccdd, 0, 7]);
    expect([dv.getUint32(32, true), b[36], b[37]]).toEqual([9, 1, 2]);
    // Segments not given are zero, all the way to the end.
    expect(b.subarray(40).every((x) => x === 0)).toBe(true);
    const back = blkifRequest.decode(b);
    expect(back.seg).toHaveLength(BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST);
    const gref: number = back.seg[0]?.gref ?? -1;
    const id: bigint = back.id;
    expect([gref, id]).toEqual([0xaabbccdd, 0x1122334455667788n]);
  });

  it('blkif_response: signed status at 10', () => {
    const b = blkifResponse.encode({ id: 5n, operation: 0, status: -2 });
    expect(new DataView(b.buffer).getInt16(10, true)).toBe(-2);
    expect([b[10], b[11]]).toEqual([0xfe, 0xff]);
    expect(blkifResponse.decode(b).status).toBe(-2);
  });

  it('netif_tx_request and an extra-info slot decoded through its union member', () => {
    const tx = netifTxRequest.encode({ gref: 0x10, offset: 0x20, flags: NETTXF.NETTXF_extra_info, id: 3, size: 1514 });
    expect([...tx]).toEqual([0x10, 0, 0, 0, 0x20, 0, 8, 0, 3, 0, 0xea, 0x05]);
    const slot = netifExtraInfoGso.encode({ type: XEN_NETIF_EXTRA.XEN_NETIF_EXTRA_TYPE_GSO, flags: 0, size: 1448, gso_type: 1, features: 0 });
    expect(netifExtraInfo.decode(slot).type).toBe(XEN_NETIF_EXTRA.XEN_NETIF_EXTRA_TYPE_GSO);
    expect(netifExtraInfoGso.decode(slot).size).toBe(1448);
    const mc = netifExtraInfoMcast.encode({ type: 2, flags: 0, addr: Uint8Array.of(1, 0, 0x5e, 0, 0, 1) });
    expect([...mc.subarray(2)]).toEqual([1, 0, 0x5e, 0, 0, 1]);
  });

  it('pad fields are not part of the value', () => {
    const v = netifRxRequest.decode(new Uint8Array(8));
    expect(Object.keys(v).sort()).toEqual(['gref', 'id']);
    // @ts-expect-error netif_rx_request.pad is padding, not a value
    expect(v.pad).toBeUndefined();
  });

  it('ring slot sizes are the largest member of each union', () => {
    expect(BLKIF_RING_ENTRY_SIZE).toBe(112);
    expect(NETIF_TX_RING_ENTRY_SIZE).toBe(12);
    expect(NETIF_RX_RING_ENTRY_SIZE).toBe(8);
  });
});

describe('values that do not fit are LayoutErrors', () => {
  const ok = { type: 0, req_id: 0, tx_id: 0, len: 0 };
  it.each([
    ['negative u32', { ...ok, len: -1 }],
    ['u32 overflow', { ...ok, len: 2 ** 32 }],
    ['fraction', { ...ok, len: 1.5 }],
    ['string', { ...ok, len: '1' }],
    ['missing', { type: 0, req_id: 0, tx_id: 0 }],
  ])('xsd_sockmsg: %s', (_what, v) => {
    expect(() => xsdSockmsg.encode(v as unknown as StructValue<typeof xsdSockmsg.fields>)).toThrow(LayoutError);
  });

  it('checks 64-bit, signed, bytes and array fields', () => {
    expect(() => blkifResponse.encode({ id: -1n, operation: 0, status: 0 })).toThrow(LayoutError);
    expect(() => blkifResponse.encode({ id: 1n << 64n, operation: 0, status: 0 })).toThrow(LayoutError);
    expect(() => blkifResponse.encode({ id: 1 as unknown as bigint, operation: 0, status: 0 })).toThrow(LayoutError);
    expect(() => blkifResponse.encode({ id: 0n, operation: 0, status: 0x8000 })).toThrow(LayoutError);
    expect(() => blkifResponse.encode({ id: 0n, operation: 256, status: 0 })).toThrow(LayoutError);
    expect(() => netifExtraInfoHash.encode({ type: 4, flags: 0, hash_type: 0, algorithm: 1, value: new Uint8Array(3) })).toThrow(LayoutError);
    const seg = { gref: 0, first_sect: 0, last_sect: 0 };
    expect(() =>
      blkifRequest.encode({ operation: 0, nr_segments: 12, handle: 0, id: 0n, sector_number: 0n, seg: Array.from({ length: 12 }, () => seg) }),
    ).toThrow(LayoutError);
    expect(() => blkifRequestIndirect.encode({ operation: 6, indirect_op: 0, nr_segments: 0, id: 0n, sector_number: 0n, handle: 0, indirect_grefs: [-1] })).toThrow(
      /indirect_grefs\[0\]/,
    );
  });

  it('refuses buffers too small to decode from or encode into', () => {
    expect(() => blkifResponse.decode(new Uint8Array(15))).toThrow(LayoutError);
    expect(() => xsdSockmsg.decode(new Uint8Array(20), 5)).toThrow(LayoutError);
    expect(() => xsdSockmsg.encode(ok, new Uint8Array(16), 1)).toThrow(LayoutError);
  });
});

describe('defineStruct checks its declaration', () => {
  it('refuses fields past the end, overlapping fields and bad counts', () => {
    expect(() => defineStruct('t', 4, { a: { offset: 2, type: 'u32' } })).toThrow(LayoutError);
    expect(() => defineStruct('t', 8, { a: { offset: 0, type: 'u32' }, b: { offset: 3, type: 'u8' } })).toThrow(/overlaps/);
    expect(() => defineStruct('t', 8, { a: { offset: 0, type: 'u8', count: 0 } })).toThrow(LayoutError);
    expect(() => defineStruct('t', 8, { a: { offset: -1, type: 'u8' } })).toThrow(LayoutError);
  });
  it('measures fields, arrays and nested structs', () => {
    expect(fieldWidth(blkifRequest.fields.seg)).toBe(88);
    expect(fieldWidth(blkifRequestIndirect.fields.indirect_grefs)).toBe(32);
    expect(fieldWidth(xenconsInterface.fields.out)).toBe(2048);
    expect(kindWidth({ pad: 44 })).toBe(44);
    expect(defineStruct('t', 8, { a: { offset: 0, type: 'u8' } }).c.type).toBe('struct t');
  });
});

describe('defineStruct, as the KVM and Xen layers use it', () => {
  const segment = defineStruct('seg', 16, { base: { offset: 0, type: 'u64' }, limit: { offset: 8, type: 'u16' } });
  const outer = defineStruct('outer', 56, {
    a: { offset: 0, type: segment },
    list: { offset: 16, type: segment, count: 2 },
    n: { offset: 48, type: 'i32' },
  });

  it('decodes from a DataView as from a Uint8Array, at an offset', () => {
    const buf = new Uint8Array(8 + outer.size).fill(0xee);
    const v = { a: { base: 1n, limit: 2 }, list: [{ base: 3n, limit: 4 }, { base: 5n, limit: 6 }], n: -7 };
    outer.encode(v, buf, 8);
    expect(buf[7]).toBe(0xee);
    expect(outer.decode(buf, 8)).toEqual(v);
    expect(outer.decode(new DataView(buf.buffer), 8)).toEqual(v);
  });

  it('gives a zero value and field offsets', () => {
    expect(outer.zero()).toEqual({ a: { base: 0n, limit: 0 }, list: [{ base: 0n, limit: 0 }, { base: 0n, limit: 0 }], n: 0 });
    expect(outer.offsetOf('n')).toBe(48);
    expect(() => outer.offsetOf('nope' as 'n')).toThrow(LayoutError);
  });

  it('refuses misaligned scalars and keeps the C member binding', () => {
    expect(() => defineStruct('m', 8, { a: { offset: 2, type: 'u32' } })).toThrow(/aligned/);
    expect(() => defineStruct('m', 8, { a: { offset: 1, type: 'u16' } })).toThrow(/aligned/);
    expect(defineStruct('kvm_run.io', 8, { a: { offset: 0, type: 'u8' } }, { type: 'struct kvm_run', member: 'io' }).c).toEqual({ type: 'struct kvm_run', member: 'io' });
  });
});

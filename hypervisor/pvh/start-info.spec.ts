import { describe, expect, it } from 'vitest';
import { defineStruct } from '../../ring-buffer/layout.ts';
import { StructLayoutError } from './errors.ts';
import { encodeMemmap, hvmMemmapTableEntry, hvmStartInfo } from './start-info.ts';

describe('struct layouts', () => {
  it('round-trips start_info and leaves unnamed fields zero', () => {
    const v = { magic: 0x336ec578, version: 1, flags: 0, nr_modules: 1, modlist_paddr: 0x1040, cmdline_paddr: 0x3000, rsdp_paddr: 0xe0000, memmap_paddr: 0x2000, memmap_entries: 8 };
    const bytes = hvmStartInfo.encode(v);
    expect(bytes.length).toBe(56);
    expect(hvmStartInfo.decode(bytes)).toEqual({ ...v, reserved: 0 });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x78, 0xc5, 0x6e, 0x33, 1, 0, 0, 0]);
  });

  it('refuses values that do not fit their field and buffers that are too small', () => {
    expect(() => hvmStartInfo.encode({ version: 2 ** 32 })).toThrow(StructLayoutError);
    expect(() => hvmStartInfo.encode({ cmdline_paddr: -1 })).toThrow(StructLayoutError);
    expect(() => hvmStartInfo.decode(new Uint8Array(55))).toThrow(StructLayoutError);
    const big = new Uint8Array(56);
    new DataView(big.buffer).setBigUint64(16, 2n ** 60n, true);
    expect(() => hvmStartInfo.decode(big)).toThrow(/beyond 2\^53/);
  });

  it('refuses inconsistent declarations', () => {
    expect(() => defineStruct('bad', 8, { a: { offset: 2, type: 'u32' } })).toThrow(/aligned/);
    expect(() => defineStruct('bad', 8, { a: { offset: 0, type: 'u32' }, b: { offset: 2, type: 'u16' } })).toThrow(/overlaps/);
    expect(() => defineStruct('bad', 4, { a: { offset: 0, type: 'u64' } })).toThrow(/past the struct's 4 bytes/);
  });

  it('encodes a memory map table entry by entry', () => {
    const bytes = encodeMemmap([
      { addr: 0, size: 0x9fc00, type: 1 },
      { addr: 0xfee00000, size: 0x1000, type: 2 },
    ]);
    expect(bytes.length).toBe(48);
    expect(hvmMemmapTableEntry.decode(bytes, 24)).toEqual({ addr: 0xfee00000, size: 0x1000, type: 2, reserved: 0 });
  });
});

import { describe, expect, it } from 'vitest';
import { GuestMemoryError, gpa } from '../guest-memory.ts';
import { ArrayGuestMemory } from './array-guest-memory.ts';

describe('ArrayGuestMemory', () => {
  it('lays regions without a fileOffset one after another', () => {
    const mem = new ArrayGuestMemory([
      { base: 0, size: 0x1000 },
      { base: 0x10000, size: 0x2000 },
    ]);
    expect(mem.regions.map((r) => r.fileOffset)).toEqual([0, 0x1000]);
    expect(mem.bytes.length).toBe(0x3000);
    mem.view(gpa(0x10000), 1)[0] = 7;
    expect(mem.bytes[0x1000]).toBe(7);
  });

  it('keeps the fileOffsets of a MemoryRegion list, so bytes can be indexed as the plan lays them out', () => {
    const mem = new ArrayGuestMemory([
      { base: gpa(0), size: 0x1000, fileOffset: 0 },
      { base: gpa(0x100000), size: 0x1000, fileOffset: 0x3000 },
    ]);
    expect(mem.bytes.length).toBe(0x4000);
    mem.view(gpa(0x100010), 2).set([1, 2]);
    expect(Array.from(mem.bytes.subarray(0x3010, 0x3012))).toEqual([1, 2]);
    expect(mem.contains(gpa(0x1000), 1)).toBe(false);
    expect(() => mem.view(gpa(0xfff), 2)).toThrow(GuestMemoryError);
  });

  it('refuses a list where only some regions give a fileOffset', () => {
    expect(() => new ArrayGuestMemory([{ base: 0, size: 0x1000, fileOffset: 0 }, { base: 0x1000, size: 0x1000 }])).toThrow(GuestMemoryError);
  });
});

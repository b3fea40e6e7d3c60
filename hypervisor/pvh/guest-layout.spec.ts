import { describe, expect, it } from 'vitest';
import { PAGE_SIZE } from '../memory/guest-memory.ts';
import { LayoutError } from './errors.ts';
import {
  ACPI_TABLES_PADDR,
  GiB,
  HIGH_MEMORY_BASE,
  HIGH_RAM_START,
  LOW_RAM_END,
  LOW_RAM_LIMIT,
  MAX_MODULES,
  MiB,
  isInRam,
  planGuestLayout,
} from './guest-layout.ts';
import { XEN_HVM_MEMMAP_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RESERVED } from './start-info.ts';

const RAM = XEN_HVM_MEMMAP_TYPE_RAM;
const RES = XEN_HVM_MEMMAP_TYPE_RESERVED;

describe('planGuestLayout', () => {
  it('lays out 64 MiB as the table in guest-layout.ts says', () => {
    const l = planGuestLayout({ memorySize: 64 * MiB });
    const S = 64 * MiB - 66 * PAGE_SIZE;
    expect(l.memmap).toEqual([
      { addr: 0, size: 0x1000, type: RAM },
      { addr: 0x1000, size: 0x4000, type: RES },
      { addr: 0x5000, size: LOW_RAM_END - 0x5000, type: RAM },
      { addr: LOW_RAM_END, size: HIGH_RAM_START - LOW_RAM_END, type: RES },
      { addr: HIGH_RAM_START, size: S - HIGH_RAM_START, type: RAM },
      { addr: S, size: 66 * PAGE_SIZE, type: RES },
      { addr: 0xfec00000, size: PAGE_SIZE, type: RES },
      { addr: 0xfee00000, size: PAGE_SIZE, type: RES },
      { addr: 0xfeffc000, size: 4 * PAGE_SIZE, type: RES },
    ]);
    expect(l.memoryRegions).toEqual([{ base: 0, size: 64 * MiB, fileOffset: 0 }]);
    expect(l.grantFrames).toEqual({ base: S, size: 64 * PAGE_SIZE });
    expect(l.consoleRing).toBe(S + 64 * PAGE_SIZE);
    expect(l.xenstoreRing).toBe(S + 65 * PAGE_SIZE);
    expect(l.acpiTables.base).toBe(ACPI_TABLES_PADDR);
    expect(l.startInfo).toBe(0x1000);
  });

  it('keeps every special page out of RAM and every entry sorted and disjoint', () => {
    for (const size of [8 * MiB, 64 * MiB, 1 * GiB, 3 * GiB, 5 * GiB]) {
      const l = planGuestLayout({ memorySize: size, moduleSizes: [12345, 3 * MiB] });
      for (const [a, b] of l.memmap.slice(0, -1).map((e, i) => [e, l.memmap[i + 1]!] as const)) {
        expect(a.addr + a.size).toBeLessThanOrEqual(b.addr);
      }
      for (const page of [l.startInfo, l.modlist, l.memmapTable, l.cmdline, l.bootGdt, l.consoleRing, l.xenstoreRing, l.grantFrames.base, l.acpiTables.base, l.lapic, l.ioapic, l.kvmIdentityMap, l.kvmTss]) {
        expect(isInRam(l, page, 1)).toBe(false);
      }
      // Modules are RAM (the guest frees its initrd), page-aligned, below 4 GiB and above 1 MiB.
      for (const m of l.modules) {
        expect(m.base % PAGE_SIZE).toBe(0);
        expect(isInRam(l, m.base, m.size)).toBe(true);
        expect(m.base + m.size).toBeLessThanOrEqual(2 ** 32);
      }
      // Linux reads the map, the module list and start_info below 1 GiB, and cmdline below 4 GiB.
      expect(l.memmapTable + l.memmap.length * 24).toBeLessThan(1 * GiB);
      const ramTotal = l.memmap.filter((e) => e.type === RAM).reduce((n, e) => n + e.size, 0);
      expect(ramTotal).toBe(size - (HIGH_RAM_START - LOW_RAM_END) - 0x4000 - 66 * PAGE_SIZE);
    }
  });

  it('moves memory beyond 3 GiB above 4 GiB, in a second backing region', () => {
    const l = planGuestLayout({ memorySize: 5 * GiB });
    expect(l.memoryRegions).toEqual([
      { base: 0, size: LOW_RAM_LIMIT, fileOffset: 0 },
      { base: HIGH_MEMORY_BASE, size: 2 * GiB, fileOffset: LOW_RAM_LIMIT },
    ]);
    expect(l.memmap.at(-1)).toEqual({ addr: HIGH_MEMORY_BASE, size: 2 * GiB, type: RAM });
  });

  it('places modules top-down, the first highest', () => {
    const l = planGuestLayout({ memorySize: 64 * MiB, moduleSizes: [5000, 0, 8192] });
    const [a, b, c] = l.modules;
    expect(a!.base + a!.size).toBeLessThanOrEqual(l.grantFrames.base);
    expect(a!.base).toBe(l.grantFrames.base - 2 * PAGE_SIZE);
    expect(b).toEqual({ base: a!.base, size: 0 });
    expect(c!.base).toBe(a!.base - 8192);
  });

  it('refuses sizes and module lists it cannot honour', () => {
    expect(() => planGuestLayout({ memorySize: 64 * MiB + 1 })).toThrow(LayoutError);
    expect(() => planGuestLayout({ memorySize: 2 * MiB })).toThrow(/below the minimum/);
    expect(() => planGuestLayout({ memorySize: 2 ** 50 })).toThrow(/above the maximum/);
    expect(() => planGuestLayout({ memorySize: 4 * MiB, moduleSizes: [4 * MiB] })).toThrow(/does not fit/);
    expect(() => planGuestLayout({ memorySize: 64 * MiB, moduleSizes: [-1] })).toThrow(/not a byte count/);
    expect(() => planGuestLayout({ memorySize: 64 * MiB, moduleSizes: new Array<number>(MAX_MODULES + 1).fill(1) })).toThrow(/at most/);
  });
});

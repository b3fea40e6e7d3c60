import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import { buildAcpiTables } from './acpi.ts';
import { BOOT_CS_SELECTOR, BOOT_DS_SELECTOR, BOOT_TR_SELECTOR, X86_CR0_ET, X86_CR0_PE, encodeSegmentDescriptor, pvhBootState } from './boot-state.ts';
import { PF_R, PF_X, PT_LOAD, PT_NOTE, parseElf } from './elf.ts';
import { XEN_ELFNOTE_PHYS32_ENTRY, pvhKernelFromElf } from './elf-notes.ts';
import { CommandLineError, LayoutError, LoadOverlapError, SegmentOutsideRamError } from './errors.ts';
import { MiB, planGuestLayout } from './guest-layout.ts';
import { loadPvhGuest } from './loader.ts';
import { XEN_HVM_START_MAGIC_VALUE, hvmMemmapTableEntry, hvmModlistEntry, hvmStartInfo } from './start-info.ts';
import { ArrayGuestMemory } from '../memory/testing/array-guest-memory.ts';
import { buildElf, minimalPvhElf, note, u32le } from './testing/elf-builder.ts';

function setup(memorySize = 16 * MiB, moduleSizes: number[] = []) {
  const layout = planGuestLayout({ memorySize, moduleSizes });
  const memory = new ArrayGuestMemory(layout.memoryRegions);
  return { layout, memory };
}

function cString(memory: ArrayGuestMemory, at: number): string {
  const end = memory.bytes.indexOf(0, at);
  return new TextDecoder().decode(memory.bytes.subarray(at, end));
}

describe('loadPvhGuest', () => {
  it('copies segments to p_paddr, zero-fills the tail and writes a valid start_info', () => {
    const { layout, memory } = setup(16 * MiB, [3000, 10]);
    memory.bytes.fill(0xee, 0x100000, 0x102000); // stale bytes the bss must not keep
    const kernel = pvhKernelFromElf(parseElf(minimalPvhElf(64, { entry: 0x100004 }).bytes));
    const initrd = new Uint8Array(3000).fill(0x42);
    const res = loadPvhGuest({
      memory,
      layout,
      kernel,
      cmdline: 'console=hvc0 root=/dev/xvda',
      modules: [{ data: initrd, cmdline: 'initrd' }, { data: new Uint8Array(10) }],
      acpi: buildAcpiTables({ base: layout.acpiTables.base, size: layout.acpiTables.size, vcpus: 2 }),
    });
    expect(res.entry).toBe(0x100004);
    expect(memory.bytes.subarray(0x100000, 0x100040)).toEqual(kernel.image.bytes.subarray(kernel.image.programHeaders[0]!.offset).subarray(0, 64));
    expect(memory.bytes.subarray(0x100040, 0x101040).every((b) => b === 0)).toBe(true);
    expect(memory.bytes[0x101040]).toBe(0xee);
    expect(res.kernelEnd).toBe(0x101040);

    const si = hvmStartInfo.decode(memory.bytes, layout.startInfo);
    expect(si).toMatchObject({ magic: XEN_HVM_START_MAGIC_VALUE, version: 1, flags: 0, nr_modules: 2, rsdp_paddr: 0xe0000, reserved: 0 });
    expect(si.modlist_paddr).toBe(layout.modlist);
    expect(cString(memory, si.cmdline_paddr)).toBe('console=hvc0 root=/dev/xvda');
    expect(si.memmap_paddr).toBe(layout.memmapTable);
    expect(si.memmap_entries).toBe(layout.memmap.length);
    for (let i = 0; i < si.memmap_entries; i++) {
      const e = hvmMemmapTableEntry.decode(memory.bytes, si.memmap_paddr + i * hvmMemmapTableEntry.size);
      expect(e).toEqual({ ...layout.memmap[i], reserved: 0 });
    }
    const m0 = hvmModlistEntry.decode(memory.bytes, si.modlist_paddr);
    expect(m0).toMatchObject({ paddr: layout.modules[0]!.base, size: 3000 });
    expect(cString(memory, m0.cmdline_paddr)).toBe('initrd');
    expect(memory.bytes.subarray(m0.paddr, m0.paddr + 3000).every((b) => b === 0x42)).toBe(true);
    expect(hvmModlistEntry.decode(memory.bytes, si.modlist_paddr + 32).cmdline_paddr).toBe(0);
    expect(new TextDecoder().decode(memory.bytes.subarray(0xe0000, 0xe0008))).toBe('RSD PTR ');
  });

  it('returns the PVH entry state with a matching boot GDT in memory', () => {
    const { layout, memory } = setup();
    const kernel = pvhKernelFromElf(parseElf(minimalPvhElf(32).bytes));
    const { bootState: s } = loadPvhGuest({ memory, layout, kernel });
    expect(s.regs).toMatchObject({ rip: 0x100000, rbx: layout.startInfo, rflags: 2, rax: 0, rsp: 0, rsi: 0 });
    expect(s.cr0).toBe(X86_CR0_PE | X86_CR0_ET);
    expect([s.cr3, s.cr4, s.efer]).toEqual([0, 0, 0]);
    expect(s.cs).toMatchObject({ base: 0, limit: 0xffffffff, db: 1, l: 0, s: 1, present: true });
    for (const seg of [s.ds, s.es, s.ss]) expect(seg).toMatchObject({ base: 0, limit: 0xffffffff, type: 3, db: 1 });
    expect(s.tr).toMatchObject({ base: 0, limit: 0x67, type: 0xb, s: 0, present: true });
    const gdt = new DataView(memory.bytes.buffer, s.gdt.base, s.gdt.limit + 1);
    expect(gdt.getBigUint64(0, true)).toBe(0n);
    expect(gdt.getBigUint64(BOOT_CS_SELECTOR, true)).toBe(0x00cf9b000000ffffn);
    expect(gdt.getBigUint64(BOOT_DS_SELECTOR, true)).toBe(0x00cf93000000ffffn);
    expect(gdt.getBigUint64(BOOT_TR_SELECTOR, true)).toBe(0x00008b0000000067n);
  });

  it('passes an empty command line as absent', () => {
    const { layout, memory } = setup();
    loadPvhGuest({ memory, layout, kernel: pvhKernelFromElf(parseElf(minimalPvhElf().bytes)) });
    expect(hvmStartInfo.decode(memory.bytes, layout.startInfo)).toMatchObject({ cmdline_paddr: 0, nr_modules: 0, modlist_paddr: 0 });
  });

  it('refuses segments outside RAM, over reserved pages or over modules, writing nothing', () => {
    const { layout, memory } = setup(16 * MiB, [1 * MiB]);
    const at = (paddr: number, memsz = 0x100) =>
      pvhKernelFromElf(
        parseElf(
          buildElf(64, [
            { type: PT_LOAD, paddr, flags: PF_R | PF_X, data: new Uint8Array(0x10).fill(1), memsz },
            { type: PT_NOTE, paddr: 0, data: note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(paddr)) },
          ]).bytes,
        ),
      );
    const mod = { data: new Uint8Array(1 * MiB) };
    expect(() => loadPvhGuest({ memory, layout, kernel: at(0x1000), modules: [mod] })).toThrow(SegmentOutsideRamError);
    expect(() => loadPvhGuest({ memory, layout, kernel: at(0xa0000), modules: [mod] })).toThrow(/segment outside guest RAM/);
    expect(() => loadPvhGuest({ memory, layout, kernel: at(layout.consoleRing), modules: [mod] })).toThrow(SegmentOutsideRamError);
    expect(() => loadPvhGuest({ memory, layout, kernel: at(64 * MiB), modules: [mod] })).toThrow(SegmentOutsideRamError);
    expect(() => loadPvhGuest({ memory, layout, kernel: at(0x100000, 15 * MiB), modules: [mod] })).toThrow(SegmentOutsideRamError);
    expect(() => loadPvhGuest({ memory, layout, kernel: at(layout.modules[0]!.base - 0x10), modules: [mod] })).toThrow(LoadOverlapError);
    expect(memory.bytes.every((b) => b === 0)).toBe(true);
  });

  it('refuses modules unlike the plan and command lines that do not fit', () => {
    const { layout, memory } = setup(16 * MiB, [100]);
    const kernel = pvhKernelFromElf(parseElf(minimalPvhElf().bytes));
    expect(() => loadPvhGuest({ memory, layout, kernel, modules: [{ data: new Uint8Array(99) }] })).toThrow(LayoutError);
    expect(() => loadPvhGuest({ memory, layout, kernel })).toThrow(LayoutError);
    const elsewhere = buildAcpiTables({ base: gpa(0x90000), size: 0x10000, vcpus: 1 });
    expect(() => loadPvhGuest({ memory, layout, kernel, modules: [{ data: new Uint8Array(100) }], acpi: elsewhere })).toThrow(/outside the layout's ACPI area/);
    const mod = [{ data: new Uint8Array(100) }];
    expect(() => loadPvhGuest({ memory, layout, kernel, modules: mod, cmdline: 'x'.repeat(4096) })).toThrow(CommandLineError);
    expect(() => loadPvhGuest({ memory, layout, kernel, modules: mod, cmdline: 'a\0b' })).toThrow(/NUL/);
    expect(() => loadPvhGuest({ memory, layout, kernel, modules: [{ ...mod[0]!, cmdline: 'y'.repeat(4000) }], cmdline: 'x'.repeat(200) })).toThrow(/module 0/);
    loadPvhGuest({ memory, layout, kernel, modules: mod, cmdline: 'x'.repeat(4095) });
  });
});

describe('boot state', () => {
  it('encodes descriptors as an x86 GDT holds them', () => {
    const s = pvhBootState(0x1000000, gpa(0x1000), gpa(0x4000));
    expect(encodeSegmentDescriptor(s.cs)).toBe(0x00cf9b000000ffffn);
    expect(encodeSegmentDescriptor({ ...s.ds, base: 0x12345678 })).toBe(0x12cf93345678ffffn);
    expect(() => encodeSegmentDescriptor({ ...s.tr, limit: 0x100000 })).toThrow(RangeError);
    expect(() => pvhBootState(2 ** 32, gpa(0x1000), gpa(0x4000))).toThrow(RangeError);
  });
});

import { describe, expect, it } from 'vitest';
import { ElfFormatError, NoPvhEntryNoteError, NotElfError } from './errors.ts';
import { PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_NOTE, parseElf } from './elf.ts';
import { XEN_ELFNOTE_GUEST_OS, XEN_ELFNOTE_PHYS32_ENTRY, XEN_ELFNOTE_XEN_VERSION, parseElfNotes, parseXenNotes, pvhKernelFromElf } from './elf-notes.ts';
import { buildElf, concat, minimalPvhElf, note, u32le, u64le } from './testing/elf-builder.ts';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

function patched(bytes: Uint8Array, at: number, write: (dv: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  write(new DataView(copy.buffer, at));
  return copy;
}

describe('parseElf', () => {
  for (const cls of [32, 64] as const) {
    it(`reads an ELF${cls} PVH kernel: segments, notes, entry`, () => {
      const elf = minimalPvhElf(cls, { entry: 0x100010 });
      const image = parseElf(elf.bytes);
      expect(image.elfClass).toBe(cls);
      const load = image.programHeaders.find((p) => p.type === PT_LOAD)!;
      expect(load).toMatchObject({ paddr: 0x100000, filesz: 64, memsz: 64 + 0x1000, flags: PF_R | PF_X });
      const kernel = pvhKernelFromElf(image);
      expect(kernel.entry).toBe(0x100010);
      expect(kernel.notes.guestOs).toBe('test');
    });
  }

  it('refuses what is not an ELF', () => {
    expect(() => parseElf(new Uint8Array(0))).toThrow(NotElfError);
    expect(() => parseElf(text('MZ this is a PE file.....'))).toThrow(/^not an ELF file/);
  });

  it('refuses unsupported identification fields', () => {
    const { bytes } = minimalPvhElf(64);
    const withByte = (at: number, v: number): Uint8Array => patched(bytes, at, (dv) => dv.setUint8(0, v));
    expect(() => parseElf(withByte(4, 3))).toThrow(/unknown ELF class 3/);
    expect(() => parseElf(withByte(5, 2))).toThrow(/not little-endian/);
    expect(() => parseElf(withByte(6, 0))).toThrow(/identification version/);
  });

  it('refuses a header that is cut short or names the wrong machine or type', () => {
    const { bytes } = minimalPvhElf(64);
    expect(() => parseElf(bytes.subarray(0, 40))).toThrow(/shorter than its ELF header/);
    expect(() => parseElf(patched(bytes, 16, (dv) => dv.setUint16(0, 3, true)))).toThrow(/not ET_EXEC/);
    expect(() => parseElf(patched(bytes, 18, (dv) => dv.setUint16(0, 3, true)))).toThrow(/e_machine 3 is not EM_X86_64/);
    expect(() => parseElf(patched(bytes, 20, (dv) => dv.setUint32(0, 2, true)))).toThrow(/e_version 2/);
    expect(() => parseElf(patched(bytes, 52, (dv) => dv.setUint16(0, 60, true)))).toThrow(/e_ehsize 60/);
    expect(() => parseElf(patched(bytes, 54, (dv) => dv.setUint16(0, 32, true)))).toThrow(/e_phentsize 32/);
    expect(() => parseElf(patched(bytes, 56, (dv) => dv.setUint16(0, 0, true)))).toThrow(/no program headers/);
    expect(() => parseElf(patched(bytes, 56, (dv) => dv.setUint16(0, 0xffff, true)))).toThrow(/PN_XNUM/);
  });

  it('refuses a program header table outside the file', () => {
    const { bytes } = minimalPvhElf(64);
    expect(() => parseElf(patched(bytes, 32, (dv) => dv.setBigUint64(0, BigInt(bytes.length - 8), true)))).toThrow(ElfFormatError);
    expect(() => parseElf(patched(bytes, 32, (dv) => dv.setBigUint64(0, 0xffffffffffffff00n, true)))).toThrow(/e_phoff .* out of range/);
    expect(() => parseElf(patched(bytes, 56, (dv) => dv.setUint16(0, 3000, true)))).toThrow(/program header table/);
  });

  it('refuses segments whose file bytes or physical range do not exist', () => {
    const elf = minimalPvhElf(64);
    const ph0 = elf.phdrOffset(0);
    expect(() => parseElf(patched(elf.bytes, ph0 + 8, (dv) => dv.setBigUint64(0, BigInt(elf.bytes.length), true)))).toThrow(/runs past the end of the file/);
    expect(() => parseElf(patched(elf.bytes, ph0 + 32, (dv) => dv.setBigUint64(0, 0x100000n, true)))).toThrow(ElfFormatError);
    expect(() => parseElf(patched(elf.bytes, ph0 + 40, (dv) => dv.setBigUint64(0, 1n, true)))).toThrow(/p_filesz 0x40 exceeds p_memsz 0x1/);
    expect(() => parseElf(patched(elf.bytes, ph0 + 24, (dv) => dv.setBigUint64(0, 2n ** 52n - 16n, true)))).toThrow(/52-bit physical/);
    expect(() => parseElf(patched(elf.bytes, ph0 + 24, (dv) => dv.setBigUint64(0, 2n ** 63n, true)))).toThrow(/p_paddr .* out of range/);
    const elf32 = minimalPvhElf(32);
    expect(() => parseElf(patched(elf32.bytes, elf32.phdrOffset(0) + 16, (dv) => dv.setUint32(0, 0xffffffff, true)))).toThrow(ElfFormatError);
  });

  it('refuses overlapping PT_LOAD segments and interpreters', () => {
    const code = new Uint8Array(0x100);
    expect(() =>
      parseElf(
        buildElf(64, [
          { type: PT_LOAD, paddr: 0x100000, data: code, memsz: 0x2000 },
          { type: PT_LOAD, paddr: 0x101000, data: code },
        ]).bytes,
      ),
    ).toThrow(/overlap/);
    expect(() => parseElf(buildElf(64, [{ type: PT_INTERP, paddr: 0, data: text('/lib/ld.so\0') }]).bytes)).toThrow(/PT_INTERP/);
  });

  it('keeps high virtual addresses exactly', () => {
    const image = parseElf(buildElf(64, [{ type: PT_LOAD, paddr: 0x1000000, vaddr: 0xffffffff81000000n, data: new Uint8Array(16) }], 0xffffffff81000000n).bytes);
    expect(image.entry).toBe(0xffffffff81000000n);
    expect(image.programHeaders[0]!.vaddr).toBe(0xffffffff81000000n);
  });
});

describe('Xen notes', () => {
  const code = { type: PT_LOAD, paddr: 0x100000, flags: PF_R | PF_X, data: new Uint8Array(32) };

  it('reads a Linux-style 8-byte PHYS32 entry and the diagnostic strings', () => {
    const notes = concat(
      note('GNU', 3, new Uint8Array(20)),
      note('Xen', XEN_ELFNOTE_GUEST_OS, text('linux\0')),
      note('Xen', XEN_ELFNOTE_XEN_VERSION, text('xen-3.0\0')),
      note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u64le(0x100008n)),
      note('Xen', 99, new Uint8Array(3)),
    );
    const image = parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: notes }]).bytes);
    const all = parseElfNotes(image);
    expect(all.map((n) => n.name)).toEqual(['GNU', 'Xen', 'Xen', 'Xen', 'Xen']);
    const xen = parseXenNotes(all);
    expect(xen).toMatchObject({ phys32Entry: 0x100008, guestOs: 'linux', xenVersion: 'xen-3.0' });
    expect(xen.all).toHaveLength(4);
  });

  it('follows p_align 8 note padding', () => {
    const notes = note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x100000), 8);
    const image = parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: concat(note('Xen', 6, text('a\0'), 8), notes), align: 8 }]).bytes);
    expect(pvhKernelFromElf(image).entry).toBe(0x100000);
  });

  it('requires the PHYS32 entry note, inside executable loaded bytes', () => {
    const noEntry = parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: note('Xen', XEN_ELFNOTE_GUEST_OS, text('x\0')) }]).bytes);
    expect(() => pvhKernelFromElf(noEntry)).toThrow(NoPvhEntryNoteError);
    expect(() => pvhKernelFromElf(noEntry)).toThrow('no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)');
    // A note with the right type under another name is not a Xen note.
    const wrongName = parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: note('Xem', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x100000)) }]).bytes);
    expect(() => pvhKernelFromElf(wrongName)).toThrow(NoPvhEntryNoteError);
    const outside = parseElf(minimalPvhElf(64, { entry: 0x200000 }).bytes);
    expect(() => pvhKernelFromElf(outside)).toThrow(/not inside any loaded segment/);
    const inBss = parseElf(minimalPvhElf(64, { entry: 0x100100 }).bytes);
    expect(() => pvhKernelFromElf(inBss)).toThrow(/not inside any loaded segment/);
    const data = { ...code, flags: PF_R | PF_W };
    const nx = parseElf(buildElf(64, [data, { type: PT_NOTE, paddr: 0, data: note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x100000)) }]).bytes);
    expect(() => pvhKernelFromElf(nx)).toThrow(/non-executable/);
  });

  it('refuses malformed and conflicting notes', () => {
    const entry = note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x100000));
    const truncated = entry.subarray(0, entry.length - 2);
    expect(() => parseElfNotes(parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: truncated }]).bytes))).toThrow(/runs past its PT_NOTE/);
    const huge = entry.slice();
    new DataView(huge.buffer).setUint32(4, 0xfffffff0, true);
    expect(() => parseElfNotes(parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: huge }]).bytes))).toThrow(/runs past its PT_NOTE/);
    expect(() => parseElfNotes(parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: new Uint8Array(7) }]).bytes))).toThrow(/truncated note header/);
    const twice = concat(entry, note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x100004)));
    expect(() => pvhKernelFromElf(parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: twice }]).bytes))).toThrow(/conflicting/);
    const wide = note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u64le(0x1_0000_0000n));
    expect(() => pvhKernelFromElf(parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: wide }]).bytes))).toThrow(/not a 32-bit address/);
    const odd = note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, new Uint8Array(2));
    expect(() => pvhKernelFromElf(parseElf(buildElf(64, [code, { type: PT_NOTE, paddr: 0, data: odd }]).bytes))).toThrow(/2 bytes, not 4 or 8/);
  });
});

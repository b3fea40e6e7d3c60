// Builds small ELF files in memory for the loader's tests: a valid base image that each test then
// corrupts one field of, so every refusal path is reached with an otherwise well-formed file.
import { ELFCLASS32, ELFCLASS64, EM_386, EM_X86_64, ET_EXEC, PF_R, PF_X, PT_LOAD, PT_NOTE } from '../elf.ts';
import { XEN_ELFNOTE_PHYS32_ENTRY } from '../elf-notes.ts';

export interface TestSegment {
  readonly type: number;
  readonly paddr: number;
  readonly vaddr?: bigint;
  readonly flags?: number;
  readonly data: Uint8Array;
  /** Defaults to data.length. */
  readonly memsz?: number;
  readonly align?: number;
}

export interface TestElf {
  readonly bytes: Uint8Array;
  /** File offset of program header i, for tests that patch a field. */
  phdrOffset(i: number): number;
}

export function buildElf(cls: 32 | 64, segments: readonly TestSegment[], entry = 0n): TestElf {
  const is64 = cls === 64;
  const ehsize = is64 ? 64 : 52;
  const phentsize = is64 ? 56 : 32;
  let cursor = ehsize + segments.length * phentsize;
  const offsets = segments.map((s) => {
    cursor = Math.ceil(cursor / 16) * 16;
    const at = cursor;
    cursor += s.data.length;
    return at;
  });
  const bytes = new Uint8Array(cursor);
  const dv = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, is64 ? ELFCLASS64 : ELFCLASS32, 1, 1]);
  dv.setUint16(16, ET_EXEC, true);
  dv.setUint16(18, is64 ? EM_X86_64 : EM_386, true);
  dv.setUint32(20, 1, true);
  if (is64) {
    dv.setBigUint64(24, entry, true);
    dv.setBigUint64(32, BigInt(ehsize), true);
    dv.setUint16(52, ehsize, true);
    dv.setUint16(54, phentsize, true);
    dv.setUint16(56, segments.length, true);
  } else {
    dv.setUint32(24, Number(entry), true);
    dv.setUint32(28, ehsize, true);
    dv.setUint16(40, ehsize, true);
    dv.setUint16(42, phentsize, true);
    dv.setUint16(44, segments.length, true);
  }
  segments.forEach((s, i) => {
    const at = ehsize + i * phentsize;
    const memsz = s.memsz ?? s.data.length;
    const flags = s.flags ?? PF_R;
    const align = s.align ?? (s.type === PT_NOTE ? 4 : 0x1000);
    const vaddr = s.vaddr ?? BigInt(s.paddr);
    if (is64) {
      dv.setUint32(at, s.type, true);
      dv.setUint32(at + 4, flags, true);
      dv.setBigUint64(at + 8, BigInt(offsets[i]!), true);
      dv.setBigUint64(at + 16, vaddr, true);
      dv.setBigUint64(at + 24, BigInt(s.paddr), true);
      dv.setBigUint64(at + 32, BigInt(s.data.length), true);
      dv.setBigUint64(at + 40, BigInt(memsz), true);
      dv.setBigUint64(at + 48, BigInt(align), true);
    } else {
      dv.setUint32(at, s.type, true);
      dv.setUint32(at + 4, offsets[i]!, true);
      dv.setUint32(at + 8, Number(vaddr), true);
      dv.setUint32(at + 12, s.paddr, true);
      dv.setUint32(at + 16, s.data.length, true);
      dv.setUint32(at + 20, memsz, true);
      dv.setUint32(at + 24, flags, true);
      dv.setUint32(at + 28, align, true);
    }
    bytes.set(s.data, offsets[i]!);
  });
  return { bytes, phdrOffset: (i) => ehsize + i * phentsize };
}

/** One ELF note: namesz, descsz, type, padded name, padded descriptor. */
export function note(name: string, type: number, desc: Uint8Array, align = 4): Uint8Array {
  const nameBytes = new TextEncoder().encode(`${name}\0`);
  const pad = (n: number): number => Math.ceil(n / align) * align;
  const out = new Uint8Array(12 + pad(nameBytes.length) + pad(desc.length));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, nameBytes.length, true);
  dv.setUint32(4, desc.length, true);
  dv.setUint32(8, type, true);
  out.set(nameBytes, 12);
  out.set(desc, 12 + pad(nameBytes.length));
  return out;
}

export function u32le(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v, true);
  return b;
}

export function u64le(v: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  return b;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A minimal PVH kernel: code at 1 MiB with the entry at its start, a bss tail, and the entry note. */
export function minimalPvhElf(cls: 32 | 64 = 64, opts: { entry?: number; codeAt?: number; bss?: number } = {}): TestElf {
  const codeAt = opts.codeAt ?? 0x100000;
  const entry = opts.entry ?? codeAt;
  const code = new Uint8Array(64).map((_, i) => (i * 7 + 1) & 0xff);
  return buildElf(cls, [
    { type: PT_LOAD, paddr: codeAt, flags: PF_R | PF_X, data: code, memsz: code.length + (opts.bss ?? 0x1000) },
    { type: PT_NOTE, paddr: 0, data: concat(note('Xen', 6, new TextEncoder().encode('test\0')), note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(entry))) },
  ]);
}

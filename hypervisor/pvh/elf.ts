// ELF parsing for PVH kernels: just enough of the format to load PT_LOAD segments at their
// physical addresses and to find PT_NOTE segments. Both classes are read: Linux's vmlinux is
// ELF64, and small test kernels are sometimes linked (or objcopy'd) as ELF32 even when they run
// 64-bit code after entry. The file is untrusted: every header field that names a place in the
// file, or in guest-physical space, is checked before anything is read through it, with overflow-free
// arithmetic (all values are kept as safe integers or refused).
import { ElfFormatError, NotElfError } from './errors.ts';

// e_ident indices and values (System V gABI).
export const EI_NIDENT = 16;
export const EI_CLASS = 4;
export const EI_DATA = 5;
export const EI_VERSION = 6;
export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const ELFDATA2LSB = 1;
export const EV_CURRENT = 1;

export const ET_EXEC = 2;
export const EM_386 = 3;
export const EM_X86_64 = 62;

export const PT_NULL = 0;
export const PT_LOAD = 1;
export const PT_DYNAMIC = 2;
export const PT_INTERP = 3;
export const PT_NOTE = 4;
/** e_phnum value meaning "the real count is in section header 0": never produced by a kernel. */
export const PN_XNUM = 0xffff;

export const PF_X = 1;
export const PF_W = 2;
export const PF_R = 4;

/**
 * The highest guest-physical address + 1 we accept for anything a file names: x86-64's
 * architectural physical address width is 52 bits. Keeping every address below this also keeps
 * every sum of an address and a size a safe integer.
 */
export const MAX_PHYS_ADDR = 2 ** 52;

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46] as const; // "\x7fELF"

/** Per-class sizes, so the two parsers differ only in field offsets. */
const CLASS_SHAPE = {
  [ELFCLASS32]: { ehsize: 52, phentsize: 32, machine: EM_386 },
  [ELFCLASS64]: { ehsize: 64, phentsize: 56, machine: EM_X86_64 },
} as const;

export type ElfClass = 32 | 64;

export interface ElfProgramHeader {
  readonly index: number;
  readonly type: number;
  readonly flags: number;
  readonly offset: number;
  /** Virtual addresses may use all 64 bits (a kernel's high mapping), so they stay bigints. */
  readonly vaddr: bigint;
  readonly paddr: number;
  readonly filesz: number;
  readonly memsz: number;
  readonly align: bigint;
}

export interface ElfImage {
  readonly elfClass: ElfClass;
  readonly machine: number;
  /** e_entry: a virtual address for Linux (0xffffffff81...); PVH enters through the note instead. */
  readonly entry: bigint;
  readonly programHeaders: readonly ElfProgramHeader[];
  /** The whole file; segments are sub-ranges checked against its length. */
  readonly bytes: Uint8Array;
}

/** True when `bytes` starts with the ELF magic (used to tell ELF from bzImage). */
export function hasElfMagic(bytes: Uint8Array): boolean {
  return ELF_MAGIC.every((b, i) => bytes[i] === b);
}

/** Parses and validates an ELF executable for x86; throws NotElfError or ElfFormatError. */
export function parseElf(bytes: Uint8Array): ElfImage {
  if (bytes.length < EI_NIDENT) throw new NotElfError(`${bytes.length} bytes is shorter than an ELF identification`);
  if (!hasElfMagic(bytes)) throw new NotElfError();
  const cls = bytes[EI_CLASS];
  if (cls !== ELFCLASS32 && cls !== ELFCLASS64) throw new ElfFormatError(`unknown ELF class ${cls}`);
  if (bytes[EI_DATA] !== ELFDATA2LSB) throw new ElfFormatError(`ELF data encoding ${bytes[EI_DATA]} is not little-endian`);
  if (bytes[EI_VERSION] !== EV_CURRENT) throw new ElfFormatError(`ELF identification version ${bytes[EI_VERSION]} is not 1`);
  const shape = CLASS_SHAPE[cls];
  const is64 = cls === ELFCLASS64;
  if (bytes.length < shape.ehsize) throw new ElfFormatError(`file of ${bytes.length} bytes is shorter than its ELF header`);

  const r = new FieldReader(bytes, is64);
  const type = r.u16(16, 'e_type');
  if (type !== ET_EXEC) throw new ElfFormatError(`e_type ${type} is not ET_EXEC: only executables can be loaded`);
  const machine = r.u16(18, 'e_machine');
  if (machine !== shape.machine) {
    throw new ElfFormatError(`e_machine ${machine} is not ${is64 ? 'EM_X86_64' : 'EM_386'} for an ELF${is64 ? '64' : '32'} file`);
  }
  const version = r.u32(20, 'e_version');
  if (version !== EV_CURRENT) throw new ElfFormatError(`e_version ${version} is not 1`);
  const entry = r.wide(24, 'e_entry');
  const phoff = r.addr(is64 ? 32 : 28, 'e_phoff');
  const ehsize = r.u16(is64 ? 52 : 40, 'e_ehsize');
  const phentsize = r.u16(is64 ? 54 : 42, 'e_phentsize');
  const phnum = r.u16(is64 ? 56 : 44, 'e_phnum');
  if (ehsize !== shape.ehsize) throw new ElfFormatError(`e_ehsize ${ehsize} is not ${shape.ehsize}`);
  if (phnum === 0) throw new ElfFormatError('no program headers (e_phnum is 0)');
  if (phnum === PN_XNUM) throw new ElfFormatError('extended program header count (PN_XNUM) is not supported');
  if (phentsize !== shape.phentsize) throw new ElfFormatError(`e_phentsize ${phentsize} is not ${shape.phentsize}`);
  if (phoff < shape.ehsize || phoff + phnum * phentsize > bytes.length) {
    throw new ElfFormatError(`program header table at 0x${phoff.toString(16)} (${phnum} x ${phentsize}) runs outside the file of ${bytes.length} bytes`);
  }

  const programHeaders: ElfProgramHeader[] = [];
  for (let index = 0; index < phnum; index++) {
    const at = phoff + index * phentsize;
    const ph = is64
      ? {
          index,
          type: r.u32(at, 'p_type'),
          flags: r.u32(at + 4, 'p_flags'),
          offset: r.addr(at + 8, 'p_offset'),
          vaddr: r.wide(at + 16, 'p_vaddr'),
          paddr: r.addr(at + 24, 'p_paddr'),
          filesz: r.addr(at + 32, 'p_filesz'),
          memsz: r.addr(at + 40, 'p_memsz'),
          align: r.wide(at + 48, 'p_align'),
        }
      : {
          index,
          type: r.u32(at, 'p_type'),
          offset: r.u32(at + 4, 'p_offset'),
          vaddr: BigInt(r.u32(at + 8, 'p_vaddr')),
          paddr: r.u32(at + 12, 'p_paddr'),
          filesz: r.u32(at + 16, 'p_filesz'),
          memsz: r.u32(at + 20, 'p_memsz'),
          flags: r.u32(at + 24, 'p_flags'),
          align: BigInt(r.u32(at + 28, 'p_align')),
        };
    validateProgramHeader(ph, bytes.length);
    programHeaders.push(ph);
  }
  checkLoadOverlaps(programHeaders);
  return { elfClass: is64 ? 64 : 32, machine, entry, programHeaders, bytes };
}

function validateProgramHeader(ph: ElfProgramHeader, fileSize: number): void {
  const what = `program header ${ph.index} (p_type ${ph.type})`;
  if (ph.type === PT_INTERP) throw new ElfFormatError(`${what} is PT_INTERP: a PVH kernel cannot need an interpreter`);
  if (ph.type !== PT_LOAD && ph.type !== PT_NOTE) return; // others are not read
  if (ph.offset + ph.filesz > fileSize) {
    throw new ElfFormatError(`${what}: file range 0x${ph.offset.toString(16)}+0x${ph.filesz.toString(16)} runs past the end of the file (${fileSize} bytes)`);
  }
  if (ph.type === PT_LOAD) {
    if (ph.filesz > ph.memsz) throw new ElfFormatError(`${what}: p_filesz 0x${ph.filesz.toString(16)} exceeds p_memsz 0x${ph.memsz.toString(16)}`);
    if (ph.paddr + ph.memsz > MAX_PHYS_ADDR) {
      throw new ElfFormatError(`${what}: physical range 0x${ph.paddr.toString(16)}+0x${ph.memsz.toString(16)} is beyond the 52-bit physical address space`);
    }
  }
}

/** Two PT_LOAD segments over the same physical bytes would make the load order matter: refuse. */
function checkLoadOverlaps(phs: readonly ElfProgramHeader[]): void {
  const loads = phs.filter((p) => p.type === PT_LOAD && p.memsz > 0).sort((a, b) => a.paddr - b.paddr);
  for (let i = 1; i < loads.length; i++) {
    const prev = loads[i - 1]!;
    const cur = loads[i]!;
    if (cur.paddr < prev.paddr + prev.memsz) {
      throw new ElfFormatError(`PT_LOAD segments ${prev.index} and ${cur.index} overlap in physical memory at 0x${cur.paddr.toString(16)}`);
    }
  }
}

/** The PT_LOAD segments that occupy memory, in file order. */
export function loadSegments(image: ElfImage): ElfProgramHeader[] {
  return image.programHeaders.filter((p) => p.type === PT_LOAD && p.memsz > 0);
}

/** The bytes of a segment that come from the file (p_filesz of them); bounds were checked at parse. */
export function segmentFileBytes(image: ElfImage, ph: ElfProgramHeader): Uint8Array {
  return image.bytes.subarray(ph.offset, ph.offset + ph.filesz);
}

/** Little-endian reads that name the field in their errors and refuse values that are not safe integers. */
class FieldReader {
  private readonly dv: DataView;

  constructor(
    bytes: Uint8Array,
    private readonly is64: boolean,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  u16(at: number, field: string): number {
    this.check(at, 2, field);
    return this.dv.getUint16(at, true);
  }

  u32(at: number, field: string): number {
    this.check(at, 4, field);
    return this.dv.getUint32(at, true);
  }

  /** A class-sized physical address, file offset or size: must be below MAX_PHYS_ADDR. */
  addr(at: number, field: string): number {
    if (!this.is64) return this.u32(at, field);
    const v = this.wide(at, field);
    if (v >= BigInt(MAX_PHYS_ADDR)) throw new ElfFormatError(`${field} 0x${v.toString(16)} is out of range`);
    return Number(v);
  }

  /** A class-sized field that may use all 64 bits (virtual addresses, alignment). */
  wide(at: number, field: string): bigint {
    if (!this.is64) return BigInt(this.u32(at, field));
    this.check(at, 8, field);
    return this.dv.getBigUint64(at, true);
  }

  private check(at: number, width: number, field: string): void {
    if (at + width > this.dv.byteLength) throw new ElfFormatError(`${field} at offset ${at} is past the end of the file`);
  }
}

// ELF notes, and the Xen ones among them. A PVH kernel announces itself with a note named "Xen"
// whose type is XEN_ELFNOTE_PHYS32_ENTRY: its descriptor is the guest-physical address of the
// 32-bit entry point (4 bytes in most kernels; Linux x86-64 emits a pointer-sized 8-byte value
// holding a physical address, of which only the low 32 bits mean anything). The other Xen notes
// (guest OS, version, loader...) are kept for diagnostics; a PVH domain builder does not act on them.
import { ElfFormatError, NoPvhEntryNoteError } from './errors.ts';
import { type ElfImage, type ElfProgramHeader, PF_X, PT_NOTE, loadSegments } from './elf.ts';

// Note types in the "Xen" namespace (xen/include/public/elfnote.h).
export const XEN_ELFNOTE_INFO = 0;
export const XEN_ELFNOTE_ENTRY = 1;
export const XEN_ELFNOTE_HYPERCALL_PAGE = 2;
export const XEN_ELFNOTE_VIRT_BASE = 3;
export const XEN_ELFNOTE_PADDR_OFFSET = 4;
export const XEN_ELFNOTE_XEN_VERSION = 5;
export const XEN_ELFNOTE_GUEST_OS = 6;
export const XEN_ELFNOTE_GUEST_VERSION = 7;
export const XEN_ELFNOTE_LOADER = 8;
export const XEN_ELFNOTE_PAE_MODE = 9;
export const XEN_ELFNOTE_FEATURES = 10;
export const XEN_ELFNOTE_BSD_SYMTAB = 11;
export const XEN_ELFNOTE_HV_START_LOW = 12;
export const XEN_ELFNOTE_L1_MFN_VALID = 13;
export const XEN_ELFNOTE_SUSPEND_CANCEL = 14;
export const XEN_ELFNOTE_INIT_P2M = 15;
export const XEN_ELFNOTE_MOD_START_PFN = 16;
export const XEN_ELFNOTE_SUPPORTED_FEATURES = 17;
export const XEN_ELFNOTE_PHYS32_ENTRY = 18;

export const XEN_NOTE_NAME = 'Xen';

/** Longest note string we keep: these are diagnostics, a hostile file must not make them huge. */
const MAX_NOTE_STRING = 256;

export interface ElfNote {
  readonly name: string;
  readonly type: number;
  readonly desc: Uint8Array;
  /** The PT_NOTE program header the note came from. */
  readonly segment: number;
}

export interface XenNotes {
  /** XEN_ELFNOTE_PHYS32_ENTRY: guest-physical 32-bit entry point, if the kernel supports PVH. */
  readonly phys32Entry?: number;
  readonly guestOs?: string;
  readonly guestVersion?: string;
  readonly xenVersion?: string;
  readonly loader?: string;
  readonly features?: string;
  /** XEN_ELFNOTE_SUPPORTED_FEATURES: a bitmap of XENFEAT_* the kernel can run with. */
  readonly supportedFeatures?: number;
  /** PV-only addresses (entry, hypercall page, virt base, paddr offset), for diagnostics. */
  readonly pvEntry?: bigint;
  readonly hypercallPage?: bigint;
  readonly virtBase?: bigint;
  readonly paddrOffset?: bigint;
  /** Every Xen note, including the ones above and the types we do not interpret. */
  readonly all: readonly ElfNote[];
}

/** A kernel image ready for PVH loading: the parsed ELF, its Xen notes and the entry point. */
export interface PvhKernel {
  readonly image: ElfImage;
  readonly notes: XenNotes;
  readonly entry: number;
}

/** Reads every note of every PT_NOTE segment; throws ElfFormatError on a malformed note. */
export function parseElfNotes(image: ElfImage): ElfNote[] {
  const notes: ElfNote[] = [];
  for (const ph of image.programHeaders) {
    if (ph.type === PT_NOTE) notes.push(...parseNoteSegment(image.bytes, ph));
  }
  return notes;
}

function parseNoteSegment(bytes: Uint8Array, ph: ElfProgramHeader): ElfNote[] {
  // The gABI asks for 8-byte note alignment in ELF64, but GNU and Linux emit 4-byte aligned notes
  // and mark an 8-aligned PT_NOTE with p_align 8; follow p_align as the GNU tools do.
  const align = ph.align === 8n ? 8 : 4;
  const end = ph.offset + ph.filesz; // within the file: checked by parseElf
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const notes: ElfNote[] = [];
  let pos = ph.offset;
  while (pos < end) {
    if (end - pos < 12) throw new ElfFormatError(`truncated note header at file offset 0x${pos.toString(16)}`);
    const namesz = dv.getUint32(pos, true);
    const descsz = dv.getUint32(pos + 4, true);
    const type = dv.getUint32(pos + 8, true);
    const nameAt = pos + 12;
    const descAt = nameAt + roundUp(namesz, align);
    const next = descAt + roundUp(descsz, align);
    // namesz and descsz are u32, so these sums stay far below 2^53; compare against the segment end.
    if (descAt + descsz > end || nameAt + namesz > end) {
      throw new ElfFormatError(`note at file offset 0x${pos.toString(16)} (namesz ${namesz}, descsz ${descsz}) runs past its PT_NOTE segment`);
    }
    const rawName = bytes.subarray(nameAt, nameAt + namesz);
    const nul = rawName.indexOf(0);
    const name = asciiString(nul < 0 ? rawName : rawName.subarray(0, nul));
    notes.push({ name, type, desc: bytes.slice(descAt, descAt + descsz), segment: ph.index });
    pos = Math.min(next, end);
  }
  return notes;
}

/** Interprets the "Xen" notes; a repeated note must agree with the first, else the image is ambiguous. */
export function parseXenNotes(notes: readonly ElfNote[]): XenNotes {
  const xen = notes.filter((n) => n.name === XEN_NOTE_NAME);
  const out: {
    -readonly [K in keyof XenNotes]: XenNotes[K];
  } = { all: xen };
  for (const n of xen) {
    switch (n.type) {
      case XEN_ELFNOTE_PHYS32_ENTRY: {
        const entry = phys32Entry(n);
        if (out.phys32Entry !== undefined && out.phys32Entry !== entry) {
          throw new ElfFormatError(`conflicting XEN_ELFNOTE_PHYS32_ENTRY notes: 0x${out.phys32Entry.toString(16)} and 0x${entry.toString(16)}`);
        }
        out.phys32Entry = entry;
        break;
      }
      case XEN_ELFNOTE_GUEST_OS:
        out.guestOs = noteString(n);
        break;
      case XEN_ELFNOTE_GUEST_VERSION:
        out.guestVersion = noteString(n);
        break;
      case XEN_ELFNOTE_XEN_VERSION:
        out.xenVersion = noteString(n);
        break;
      case XEN_ELFNOTE_LOADER:
        out.loader = noteString(n);
        break;
      case XEN_ELFNOTE_FEATURES:
        out.features = noteString(n);
        break;
      case XEN_ELFNOTE_SUPPORTED_FEATURES:
        if (n.desc.length >= 4) out.supportedFeatures = new DataView(n.desc.buffer, n.desc.byteOffset).getUint32(0, true);
        break;
      case XEN_ELFNOTE_ENTRY:
        out.pvEntry = noteNumber(n);
        break;
      case XEN_ELFNOTE_HYPERCALL_PAGE:
        out.hypercallPage = noteNumber(n);
        break;
      case XEN_ELFNOTE_VIRT_BASE:
        out.virtBase = noteNumber(n);
        break;
      case XEN_ELFNOTE_PADDR_OFFSET:
        out.paddrOffset = noteNumber(n);
        break;
      default:
        break; // kept in `all` only
    }
  }
  return out;
}

/**
 * Parses the Xen notes of an ELF and requires a PVH entry point inside an executable PT_LOAD
 * segment's file-backed bytes (an entry in zero-filled memory, or in no segment, could only fault).
 */
export function pvhKernelFromElf(image: ElfImage): PvhKernel {
  const notes = parseXenNotes(parseElfNotes(image));
  const entry = notes.phys32Entry;
  if (entry === undefined) throw new NoPvhEntryNoteError();
  const home = loadSegments(image).find((s) => entry >= s.paddr && entry < s.paddr + s.filesz);
  if (!home) throw new ElfFormatError(`PVH entry 0x${entry.toString(16)} is not inside any loaded segment`);
  if ((home.flags & PF_X) === 0) throw new ElfFormatError(`PVH entry 0x${entry.toString(16)} is in non-executable segment ${home.index}`);
  return { image, notes, entry };
}

function phys32Entry(n: ElfNote): number {
  if (n.desc.length !== 4 && n.desc.length !== 8) {
    throw new ElfFormatError(`XEN_ELFNOTE_PHYS32_ENTRY descriptor is ${n.desc.length} bytes, not 4 or 8`);
  }
  const dv = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
  if (n.desc.length === 8 && dv.getUint32(4, true) !== 0) {
    throw new ElfFormatError(`XEN_ELFNOTE_PHYS32_ENTRY 0x${dv.getBigUint64(0, true).toString(16)} is not a 32-bit address`);
  }
  return dv.getUint32(0, true);
}

function noteNumber(n: ElfNote): bigint | undefined {
  const dv = new DataView(n.desc.buffer, n.desc.byteOffset, n.desc.byteLength);
  if (n.desc.length === 8) return dv.getBigUint64(0, true);
  if (n.desc.length === 4) return BigInt(dv.getUint32(0, true));
  return undefined;
}

function noteString(n: ElfNote): string {
  const nul = n.desc.indexOf(0);
  return asciiString(n.desc.subarray(0, Math.min(nul < 0 ? n.desc.length : nul, MAX_NOTE_STRING)));
}

/** Printable ASCII only: these strings end up in logs. */
function asciiString(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  return s;
}

function roundUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

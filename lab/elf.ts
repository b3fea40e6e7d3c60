// The little ELF64 reading the lab needs: recognising an x86-64 ELF (the vmlinux we extract),
// telling a static executable from a dynamic one (the initramfs has no libc, so its busybox must
// be static), and finding a named section (a module's .modinfo).
//
// Not hypervisor/pvh/elf.ts: that parser loads kernels, so it accepts only ET_EXEC files with
// program headers and refuses everything else, while the lab reads section headers of relocatable
// modules (ET_REL, no program headers) and PT_INTERP of possibly position-independent (ET_DYN)
// executables, and reports failures as LabImageError. The overlap is the ELF magic and a few
// header offsets, not the parsing.

import { LabImageError } from './errors.ts';

/** True when the bytes start with the ELF magic and say ELF64 little-endian x86-64. */
export function isElf64X86(bytes: Uint8Array): boolean {
  if (bytes.length < 20) return false;
  const magic = bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c && bytes[3] === 0x46;
  const elfClass64 = bytes[4] === 2;
  const littleEndian = bytes[5] === 1;
  const machineX86_64 = bytes[18] === 0x3e && bytes[19] === 0x00;
  return magic && elfClass64 && littleEndian && machineX86_64;
}

// Elf64_Ehdr program-header fields and the PT_INTERP segment type (include/uapi/linux/elf.h).
const E_PHOFF = 0x20;
const E_PHENTSIZE = 0x36;
const E_PHNUM = 0x38;
const PT_INTERP = 3;

/** True when an ELF64 executable names a program interpreter (ld.so), i.e. is dynamically linked. */
export function elfHasInterpreter(elf: Uint8Array): boolean {
  if (!isElf64X86(elf) || elf.length < 0x40) throw new LabImageError('not an x86-64 ELF64 file');
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const phoff = Number(view.getBigUint64(E_PHOFF, true));
  const phentsize = view.getUint16(E_PHENTSIZE, true);
  const phnum = view.getUint16(E_PHNUM, true);
  if (phentsize < 4 || phoff + phnum * phentsize > elf.length) {
    throw new LabImageError('ELF program header table lies outside the file');
  }
  for (let i = 0; i < phnum; i++) {
    if (view.getUint32(phoff + i * phentsize, true) === PT_INTERP) return true;
  }
  return false;
}

// ELF64 little-endian offsets (include/uapi/linux/elf.h, Elf64_Ehdr and Elf64_Shdr).
const E_SHOFF = 0x28;
const E_SHENTSIZE = 0x3a;
const E_SHNUM = 0x3c;
const E_SHSTRNDX = 0x3e;
const SH_NAME = 0x00;
const SH_OFFSET = 0x18;
const SH_SIZE = 0x20;

/** The bytes of the named section of an ELF64 little-endian relocatable (a .ko). */
export function findElfSection(elf: Uint8Array, wanted: string): Uint8Array {
  if (elf.length < 0x40 || elf[0] !== 0x7f || elf[1] !== 0x45 || elf[4] !== 2 || elf[5] !== 1) {
    throw new LabImageError('not an ELF64 little-endian file (a compressed .ko not unpacked?)');
  }
  const view = new DataView(elf.buffer, elf.byteOffset, elf.byteLength);
  const shoff = Number(view.getBigUint64(E_SHOFF, true));
  const shentsize = view.getUint16(E_SHENTSIZE, true);
  const shnum = view.getUint16(E_SHNUM, true);
  const shstrndx = view.getUint16(E_SHSTRNDX, true);
  if (shentsize < 0x40 || shoff + shnum * shentsize > elf.length || shstrndx >= shnum) {
    throw new LabImageError('ELF section header table lies outside the file');
  }
  const section = (index: number): { name: number; offset: number; size: number } => {
    const at = shoff + index * shentsize;
    const offset = Number(view.getBigUint64(at + SH_OFFSET, true));
    const size = Number(view.getBigUint64(at + SH_SIZE, true));
    if (offset + size > elf.length) {
      throw new LabImageError(`ELF section ${index} lies outside the file`);
    }
    return { name: view.getUint32(at + SH_NAME, true), offset, size };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const start = names.offset + s.name;
    const end = elf.indexOf(0, start);
    if (start >= names.offset + names.size || end < 0) continue;
    if (Buffer.from(elf.subarray(start, end)).toString('latin1') === wanted) {
      return elf.subarray(s.offset, s.offset + s.size);
    }
  }
  throw new LabImageError(`ELF file has no ${wanted} section`);
}

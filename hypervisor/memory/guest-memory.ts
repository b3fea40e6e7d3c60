// Guest-physical memory as the shim and the Xen ABI code see it. Addresses from a guest are
// untrusted: every access names a range and is checked against the regions before a view is made.
// `Gpa` is a distinct type so a guest-physical address is never confused with an offset, a
// guest-virtual address or a host pointer.
import type { SharedMemoryFile } from './shared-memory-file.ts';

export type Gpa = number & { readonly __brand: 'GuestPhysicalAddress' };

export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

export function gpa(value: number): Gpa {
  if (!Number.isSafeInteger(value) || value < 0) throw new GuestMemoryError(`not a guest-physical address: ${value}`);
  return value as Gpa;
}

export function gfnToGpa(gfn: number): Gpa {
  return gpa(gfn * PAGE_SIZE);
}

export class GuestMemoryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestMemoryError';
  }
}

/** One contiguous range of guest-physical space backed by part of a shared-memory file. */
export interface MemoryRegion {
  readonly base: Gpa;
  readonly size: number;
  /** Offset of `base` within the backing file. */
  readonly fileOffset: number;
}

export interface GuestMemory {
  readonly regions: readonly MemoryRegion[];
  /** A live view of [addr, addr + length); throws GuestMemoryError unless it lies in one region. */
  view(addr: Gpa, length: number): Uint8Array;
  /** True when [addr, addr + length) lies inside one region. */
  contains(addr: Gpa, length: number): boolean;
}

/** Guest memory backed by one shared-memory file (the shim's RAM file, or a process guest's). */
export class FileGuestMemory implements GuestMemory {
  constructor(
    readonly file: SharedMemoryFile,
    readonly regions: readonly MemoryRegion[],
  ) {
    for (const r of regions) {
      if (r.fileOffset + r.size > file.size) throw new GuestMemoryError(`region at ${r.base} runs past the backing file`);
    }
  }

  /** RAM at guest-physical 0 for the whole file: the layout of small guests and process guests. */
  static flat(file: SharedMemoryFile): FileGuestMemory {
    return new FileGuestMemory(file, [{ base: gpa(0), size: file.size, fileOffset: 0 }]);
  }

  private find(addr: Gpa, length: number): MemoryRegion | undefined {
    if (!Number.isSafeInteger(length) || length < 0) return undefined;
    return this.regions.find((r) => addr >= r.base && addr + length <= r.base + r.size);
  }

  contains(addr: Gpa, length: number): boolean {
    return this.find(addr, length) !== undefined;
  }

  view(addr: Gpa, length: number): Uint8Array {
    const r = this.find(addr, length);
    if (!r) throw new GuestMemoryError(`guest range 0x${addr.toString(16)}+${length} is not in guest memory`);
    return this.file.bytes(r.fileOffset + (addr - r.base), length);
  }
}

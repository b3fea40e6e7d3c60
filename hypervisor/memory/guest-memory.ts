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

/**
 * The region lookup every GuestMemory shares: a range is served only when it lies inside one
 * region; a subclass says where that region's bytes live.
 */
export abstract class RegionGuestMemory implements GuestMemory {
  constructor(readonly regions: readonly MemoryRegion[]) {}

  /** A live view of `length` bytes at `offset` of the backing store (in range: checked by view). */
  protected abstract backing(offset: number, length: number): Uint8Array;

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
    return this.backing(r.fileOffset + (addr - r.base), length);
  }
}

/** Guest memory backed by one shared-memory file (the shim's RAM file, or a process guest's). */
export class FileGuestMemory extends RegionGuestMemory {
  constructor(
    readonly file: SharedMemoryFile,
    regions: readonly MemoryRegion[],
  ) {
    super(regions);
    for (const r of regions) {
      if (r.fileOffset + r.size > file.size) throw new GuestMemoryError(`region at ${r.base} runs past the backing file`);
    }
  }

  /** RAM at guest-physical 0 for the whole file: the layout of small guests and process guests. */
  static flat(file: SharedMemoryFile): FileGuestMemory {
    return new FileGuestMemory(file, [{ base: gpa(0), size: file.size, fileOffset: 0 }]);
  }

  protected backing(offset: number, length: number): Uint8Array {
    return this.file.bytes(offset, length);
  }
}

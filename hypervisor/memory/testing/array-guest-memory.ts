// Guest RAM as regions over one ArrayBuffer, with the same region checks as FileGuestMemory
// (both are RegionGuestMemory), so specs run without a shared-memory file.
import { GuestMemoryError, PAGE_SIZE, RegionGuestMemory, gpa, type MemoryRegion } from '../guest-memory.ts';

type RegionSpec = { readonly base: number; readonly size: number; readonly fileOffset?: number };

/**
 * Regions that say where they live in the backing store (a MemoryRegion list, as a shim or the PVH
 * layout plans it) keep those offsets; regions without are laid out one after another, in order.
 */
function layOut(regions: ReadonlyArray<RegionSpec>): MemoryRegion[] {
  const placed = regions.filter((r) => r.fileOffset !== undefined).length;
  if (placed !== 0 && placed !== regions.length) throw new GuestMemoryError('either every region gives its fileOffset or none does');
  let offset = 0;
  return regions.map((r) => {
    const region = { base: gpa(r.base), size: r.size, fileOffset: r.fileOffset ?? offset };
    offset += r.size;
    return region;
  });
}

export class ArrayGuestMemory extends RegionGuestMemory {
  readonly buffer: ArrayBuffer;
  /** The whole backing store, by offset: for a layout with fileOffset = base, by guest-physical address. */
  readonly bytes: Uint8Array;

  constructor(regions: ReadonlyArray<RegionSpec>) {
    const laidOut = layOut(regions);
    super(laidOut);
    this.buffer = new ArrayBuffer(laidOut.reduce((n, r) => Math.max(n, r.fileOffset + r.size), 0));
    this.bytes = new Uint8Array(this.buffer);
  }

  /** One region of `pages` pages at guest-physical 0. */
  static flat(pages: number): ArrayGuestMemory {
    return new ArrayGuestMemory([{ base: 0, size: pages * PAGE_SIZE }]);
  }

  protected backing(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.buffer, offset, length);
  }
}

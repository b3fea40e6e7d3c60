// Guest RAM as regions over one ArrayBuffer, with the same region checks as FileGuestMemory
// (both are RegionGuestMemory), so specs run without a shared-memory file.
import { PAGE_SIZE, RegionGuestMemory, gpa, type MemoryRegion } from '../guest-memory.ts';

/** Lays the regions out one after another in the backing buffer, in the order given. */
function layOut(regions: ReadonlyArray<{ base: number; size: number }>): MemoryRegion[] {
  let offset = 0;
  return regions.map((r) => {
    const region = { base: gpa(r.base), size: r.size, fileOffset: offset };
    offset += r.size;
    return region;
  });
}

export class ArrayGuestMemory extends RegionGuestMemory {
  readonly buffer: ArrayBuffer;

  constructor(regions: ReadonlyArray<{ base: number; size: number }>) {
    const laidOut = layOut(regions);
    super(laidOut);
    this.buffer = new ArrayBuffer(laidOut.reduce((n, r) => n + r.size, 0));
  }

  /** One region of `pages` pages at guest-physical 0. */
  static flat(pages: number): ArrayGuestMemory {
    return new ArrayGuestMemory([{ base: 0, size: pages * PAGE_SIZE }]);
  }

  protected backing(offset: number, length: number): Uint8Array {
    return new Uint8Array(this.buffer, offset, length);
  }
}

// Fakes for the specs in this folder: guest memory in a plain ArrayBuffer with holes, a CpuContext
// with a page table of our choosing, and recorders for the injected interfaces.
import { GuestMemoryError, PAGE_SIZE, gpa, type Gpa, type GuestMemory, type MemoryRegion } from '../memory/guest-memory.ts';
import type { AccessKind, CpuContext } from './guest-access.ts';
import type { HypervisorLog } from './log.ts';

/** Guest RAM as regions over one ArrayBuffer (same semantics as FileGuestMemory). */
export class ArrayGuestMemory implements GuestMemory {
  readonly buffer: ArrayBuffer;
  readonly regions: readonly MemoryRegion[];

  constructor(regions: ReadonlyArray<{ base: number; size: number }>) {
    let offset = 0;
    this.regions = regions.map((r) => {
      const region = { base: gpa(r.base), size: r.size, fileOffset: offset };
      offset += r.size;
      return region;
    });
    this.buffer = new ArrayBuffer(offset);
  }

  /** One region of `pages` pages at guest-physical 0. */
  static flat(pages: number): ArrayGuestMemory {
    return new ArrayGuestMemory([{ base: 0, size: pages * PAGE_SIZE }]);
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
    return new Uint8Array(this.buffer, r.fileOffset + (addr - r.base), length);
  }
}

/** A CpuContext whose translation is a map of guest-virtual page -> guest-physical page. */
export class PagedCpu implements CpuContext {
  readonly pages = new Map<bigint, { gpa: number; writable: boolean }>();

  constructor(
    readonly vcpuId = 0,
    readonly cpl = 0,
  ) {}

  map(gvaPage: bigint, gpaPage: number, writable = true): this {
    this.pages.set(gvaPage / BigInt(PAGE_SIZE), { gpa: gpaPage, writable });
    return this;
  }

  translate(gva: bigint, access: AccessKind): Gpa | null {
    const p = this.pages.get(gva / BigInt(PAGE_SIZE));
    if (!p || (access === 'write' && !p.writable)) return null;
    return gpa(p.gpa + Number(gva % BigInt(PAGE_SIZE)));
  }
}

/** A log that keeps its lines. */
export class RecordingLog implements HypervisorLog {
  readonly lines: string[] = [];
  warn(message: string): void {
    this.lines.push(message);
  }
}

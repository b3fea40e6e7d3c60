// GuestMemory over a plain byte array, laid out by the same MemoryRegion list a shim would use,
// so loader tests run without a shared-memory file.
import { type Gpa, type GuestMemory, GuestMemoryError, type MemoryRegion } from '../../memory/guest-memory.ts';

export class ArrayGuestMemory implements GuestMemory {
  readonly bytes: Uint8Array;

  constructor(readonly regions: readonly MemoryRegion[]) {
    this.bytes = new Uint8Array(regions.reduce((n, r) => Math.max(n, r.fileOffset + r.size), 0));
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
    const at = r.fileOffset + (addr - r.base);
    return this.bytes.subarray(at, at + length);
  }
}

// The KVM shim's grant-table frames: one shared-memory file of max_grant_frames pages (so Dom0
// can later map the very bytes the guest writes), and one KVM memory slot per frame, put at the
// guest frame the guest names in XENMEM_add_to_physmap. Linux chooses those addresses in a hole
// of its physical map, so a frame may go anywhere that is not already something: not guest RAM,
// not an address our E820 map reserves (ACPI tables, rings, LAPIC/IOAPIC, KVM's private pages),
// not another frame, and below the guest-physical limit.
import { KvmIoctlError, type Vm } from '../kvm/index.ts';
import { PAGE_SIZE, gpa } from '../memory/guest-memory.ts';
import { SharedMemoryFile } from '../memory/shared-memory-file.ts';
import type { GuestLayout } from '../pvh/guest-layout.ts';
import { GrantFramePlacementError, type GrantFrameBacking } from '../xen/grant-table.ts';

/** Frames above this guest-physical address are refused (1 TiB: within every x86-64 CPU's reach). */
const GUEST_PHYS_LIMIT = 2 ** 40;

export class KvmGrantFrames implements GrantFrameBacking {
  readonly file: SharedMemoryFile;
  private readonly placedSlots = new Set<number>();

  constructor(
    private readonly vm: Vm,
    private readonly layout: Pick<GuestLayout, 'memmap'>,
    readonly maxFrames: number,
    /** Frame i uses slot firstSlot + i: the caller keeps that range free. */
    private readonly firstSlot: number,
    /** A /dev/shm path when Dom0 must map the frames (under xltsd); anonymous otherwise. */
    path?: string,
  ) {
    this.file = path === undefined ? SharedMemoryFile.anonymous('xlts-grant-frames', maxFrames * PAGE_SIZE) : SharedMemoryFile.create(path, maxFrames * PAGE_SIZE);
  }

  place(idx: number, gpfn: number): void {
    const at = gpfn * PAGE_SIZE;
    if (!Number.isSafeInteger(at) || at < 0 || at + PAGE_SIZE > GUEST_PHYS_LIMIT) throw new GrantFramePlacementError(`gpfn 0x${gpfn.toString(16)} is beyond the guest-physical limit`);
    const clash = this.layout.memmap.find((e) => at < e.addr + e.size && e.addr < at + PAGE_SIZE);
    if (clash !== undefined) throw new GrantFramePlacementError(`gpfn 0x${gpfn.toString(16)} is inside E820 entry 0x${clash.addr.toString(16)}+0x${clash.size.toString(16)} (type ${clash.type})`);
    const slot = this.firstSlot + idx;
    if (this.placedSlots.has(slot)) {
      this.vm.removeUserMemoryRegion(slot);
      this.placedSlots.delete(slot);
    }
    try {
      this.vm.setUserMemoryRegion({ slot, guestPhysAddr: gpa(at), size: PAGE_SIZE, file: this.file, fileOffset: idx * PAGE_SIZE });
    } catch (err) {
      // EEXIST: the address overlaps a slot we did not foresee (another frame is checked earlier).
      if (err instanceof KvmIoctlError) throw new GrantFramePlacementError(`gpfn 0x${gpfn.toString(16)}: KVM refused the slot (${err.message})`);
      throw err;
    }
    this.placedSlots.add(slot);
  }

  /** The frames' bytes (the grant entries), as Dom0 will read them. */
  frame(idx: number): Uint8Array {
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.maxFrames) throw new RangeError(`no grant frame ${idx}`);
    return this.file.bytes(idx * PAGE_SIZE, PAGE_SIZE);
  }

  close(): void {
    this.file.close();
  }
}

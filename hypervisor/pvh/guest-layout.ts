// Where everything goes in a PVH guest's physical address space, planned as a pure function of
// the memory size and the module sizes, so the loader, the shim (memory slots, HVM params) and the
// tests all read one plan.
//
//   guest-physical range          E820 type  contents
//   ---------------------------   ---------  ------------------------------------------------------
//   0x00000000 - 0x00000fff       RAM        page 0 (real-mode IVT area, left to the guest)
//   0x00001000 - 0x00001fff       RESERVED   hvm_start_info @0x1000, hvm_modlist_entry[] @0x1040
//   0x00002000 - 0x00002fff       RESERVED   hvm_memmap_table_entry[] (this map)
//   0x00003000 - 0x00003fff       RESERVED   kernel command line, then module command lines
//   0x00004000 - 0x00004fff       RESERVED   boot GDT that the initial segment selectors index
//   0x00005000 - 0x0009fbff       RAM        low RAM (Linux puts its SMP trampoline here)
//   0x0009fc00 - 0x0009ffff       RESERVED   where a PC's EBDA would be
//   0x000a0000 - 0x000dffff       RESERVED   legacy VGA / option ROM hole
//   0x000e0000 - 0x000fffff       RESERVED   ACPI tables, RSDP first (found by the legacy scan too)
//   0x00100000 - S-1              RAM        kernel (PT_LOAD at p_paddr), then free RAM; modules
//                                            (initrd first) page-aligned at the top, just below S
//   S          - S+0x3ffff        RESERVED   64 pages kept for grant frames and similar mappings
//   S+0x40000                     RESERVED   console ring page   (HVM_PARAM_CONSOLE_PFN)
//   S+0x41000                     RESERVED   xenstore ring page  (HVM_PARAM_STORE_PFN)
//   S+0x42000  - 0xfebfffff       (hole)     not in the map: free for the guest to map things into
//   0xfec00000 - 0xfec00fff       RESERVED   IOAPIC
//   0xfee00000 - 0xfee00fff       RESERVED   local APIC
//   0xfeffc000 - 0xfeffffff       RESERVED   KVM's private pages on Intel: EPT identity map (1 page,
//                                            KVM_SET_IDENTITY_MAP_ADDR) and real-mode TSS (3 pages,
//                                            KVM_SET_TSS_ADDR); not backed by the memory file
//   0x100000000 - ...             RAM        memory beyond LOW_RAM_LIMIT, relocated above 4 GiB
//
// where S = min(memorySize, LOW_RAM_LIMIT) - 0x42000 (S is page-aligned, as memorySize must be).
//
// Why this shape:
// - Linux needs RAM below 1 MiB (its real-mode trampoline; it panics without), and reads the memory
//   map and module list through its early 1 GiB identity map, so the boot pages sit in low memory.
//   Marking them reserved keeps any guest from reusing them while it still needs them.
// - The PVH entry of Linux 6.1 is not relocatable: vmlinux loads at its p_paddr (16 MiB); tiny test
//   guests load at 1 MiB. Both land in the RAM range starting at 1 MiB.
// - Modules are placed high so they never collide with a kernel loaded low. They stay typed RAM:
//   Linux reserves the initrd itself from start_info and frees it once unpacked, and marking it
//   reserved in the map would lose that memory for good.
// - The console and xenstore rings are pages the guest must never use as RAM but that live in the
//   same memory file, so the Dom0 daemon can map them; they are reserved at the top of low RAM.
// - Every MMIO range we emulate is marked reserved: Linux (XEN_UNPOPULATED_ALLOC) picks a hole
//   that is in no E820 entry for its grant frames and must not pick one of ours.
// - Above LOW_RAM_LIMIT (3 GiB) the 32-bit space is left to MMIO; RAM past it continues at 4 GiB.
import { type MemoryRegion, type Gpa, PAGE_SIZE, gpa } from '../memory/guest-memory.ts';
import { LayoutError } from './errors.ts';
import { hvmMemmapTableEntry, hvmModlistEntry, hvmStartInfo, type MemmapEntry, XEN_HVM_MEMMAP_TYPE_RAM, XEN_HVM_MEMMAP_TYPE_RESERVED } from './start-info.ts';

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export const START_INFO_PADDR = 0x1000;
/** Module list right after start_info, 64-byte aligned; the rest of the page holds entries. */
export const MODLIST_PADDR = 0x1040;
export const MEMMAP_PADDR = 0x2000;
export const CMDLINE_PADDR = 0x3000;
export const BOOT_GDT_PADDR = 0x4000;
const BOOT_PAGES_END = 0x5000;
/** Conventional memory ends here on a PC; the 1 KiB below 640 KiB is the EBDA slot. */
export const LOW_RAM_END = 0x9fc00;
export const ISA_HOLE_START = 0xa0000;
export const ACPI_TABLES_PADDR = 0xe0000;
export const ACPI_TABLES_SIZE = 0x20000;
export const HIGH_RAM_START = 0x100000;
/** RAM below 4 GiB stops here; [LOW_RAM_LIMIT, 4 GiB) is for MMIO. */
export const LOW_RAM_LIMIT = 3 * GiB;
export const HIGH_MEMORY_BASE = 4 * GiB;
export const IOAPIC_PADDR = 0xfec00000;
export const LAPIC_PADDR = 0xfee00000;
/** KVM_SET_IDENTITY_MAP_ADDR: one page KVM itself fills (VMX, unrestricted guest off). */
export const KVM_IDENTITY_MAP_PADDR = 0xfeffc000;
/** KVM_SET_TSS_ADDR: three pages KVM itself uses (VMX real-mode emulation). */
export const KVM_TSS_PADDR = 0xfeffd000;
const KVM_PRIVATE_SIZE = 0x4000;

/** Pages kept reserved for grant frames (Xen's default maximum for a domain is 64). */
export const GRANT_FRAMES_RESERVED = 64;
const SPECIAL_PAGES = GRANT_FRAMES_RESERVED + 2; // + console ring + xenstore ring

/** Room for kernel and module command lines, NUL terminators included. */
export const CMDLINE_CAPACITY = PAGE_SIZE;
/** Module entries that fit in the start_info page after start_info itself. */
export const MAX_MODULES = Math.floor((PAGE_SIZE - (MODLIST_PADDR - START_INFO_PADDR)) / hvmModlistEntry.size);
/** Linux copies the map into a 128-slot table and then appends one entry of its own. */
export const MAX_MEMMAP_ENTRIES = 127;

/** Smallest memory a guest can be given: low memory, 1 MiB of high RAM and the special pages. */
export const MIN_MEMORY_SIZE = 4 * MiB;
/** Largest: keeps every address a safe integer with room to spare. */
export const MAX_MEMORY_SIZE = 2 ** 46;

export interface GuestLayoutRequest {
  /** Bytes of guest memory (the memory file's size); a multiple of the page size. */
  readonly memorySize: number;
  /** Sizes in bytes of the boot modules, in start_info order (the initrd first for Linux). */
  readonly moduleSizes?: readonly number[];
}

export interface PlacedRange {
  readonly base: Gpa;
  readonly size: number;
}

export interface GuestLayout {
  readonly memorySize: number;
  /** How the memory file maps into guest-physical space: one region, or two around the MMIO hole. */
  readonly memoryRegions: readonly MemoryRegion[];
  /** The map handed to the guest (sorted, non-overlapping, adjacent same-type ranges merged). */
  readonly memmap: readonly MemmapEntry[];
  readonly startInfo: Gpa;
  readonly modlist: Gpa;
  readonly memmapTable: Gpa;
  readonly cmdline: Gpa;
  readonly cmdlineCapacity: number;
  readonly bootGdt: Gpa;
  readonly acpiTables: PlacedRange;
  readonly grantFrames: PlacedRange;
  readonly consoleRing: Gpa;
  readonly xenstoreRing: Gpa;
  /** Where each module goes, in request order. */
  readonly modules: readonly PlacedRange[];
  readonly lapic: Gpa;
  readonly ioapic: Gpa;
  /** Where the shim points KVM_SET_IDENTITY_MAP_ADDR and KVM_SET_TSS_ADDR (reserved in the map). */
  readonly kvmIdentityMap: Gpa;
  readonly kvmTss: Gpa;
}

export function planGuestLayout(req: GuestLayoutRequest): GuestLayout {
  const { memorySize } = req;
  if (!Number.isSafeInteger(memorySize) || memorySize % PAGE_SIZE !== 0) {
    throw new LayoutError(`memory size ${memorySize} is not a whole number of ${PAGE_SIZE}-byte pages`);
  }
  if (memorySize < MIN_MEMORY_SIZE) throw new LayoutError(`memory size ${memorySize} is below the minimum of ${MIN_MEMORY_SIZE} bytes`);
  if (memorySize > MAX_MEMORY_SIZE) throw new LayoutError(`memory size ${memorySize} is above the maximum of ${MAX_MEMORY_SIZE} bytes`);

  const lowTop = Math.min(memorySize, LOW_RAM_LIMIT);
  const highSize = memorySize - lowTop;
  const specialBase = lowTop - SPECIAL_PAGES * PAGE_SIZE;
  const grantFrames = { base: gpa(specialBase), size: GRANT_FRAMES_RESERVED * PAGE_SIZE };
  const consoleRing = gpa(specialBase + GRANT_FRAMES_RESERVED * PAGE_SIZE);
  const xenstoreRing = gpa(consoleRing + PAGE_SIZE);

  const moduleSizes = req.moduleSizes ?? [];
  if (moduleSizes.length > MAX_MODULES) throw new LayoutError(`${moduleSizes.length} modules: at most ${MAX_MODULES} fit in the module list`);
  const modules: PlacedRange[] = [];
  let top = specialBase;
  for (const [i, size] of moduleSizes.entries()) {
    if (!Number.isSafeInteger(size) || size < 0) throw new LayoutError(`module ${i} size ${size} is not a byte count`);
    const base = Math.floor((top - size) / PAGE_SIZE) * PAGE_SIZE;
    if (base < HIGH_RAM_START) throw new LayoutError(`module ${i} (${size} bytes) does not fit in RAM below 0x${top.toString(16)}`);
    modules.push({ base: gpa(base), size });
    top = base;
  }

  const R = XEN_HVM_MEMMAP_TYPE_RAM;
  const X = XEN_HVM_MEMMAP_TYPE_RESERVED;
  const ranges: MemmapEntry[] = [
    { addr: 0, size: START_INFO_PADDR, type: R },
    { addr: START_INFO_PADDR, size: BOOT_PAGES_END - START_INFO_PADDR, type: X },
    { addr: BOOT_PAGES_END, size: LOW_RAM_END - BOOT_PAGES_END, type: R },
    { addr: LOW_RAM_END, size: HIGH_RAM_START - LOW_RAM_END, type: X }, // EBDA slot + ISA hole + ACPI
    { addr: HIGH_RAM_START, size: specialBase - HIGH_RAM_START, type: R },
    { addr: specialBase, size: lowTop - specialBase, type: X },
    { addr: IOAPIC_PADDR, size: PAGE_SIZE, type: X },
    { addr: LAPIC_PADDR, size: PAGE_SIZE, type: X },
    { addr: KVM_IDENTITY_MAP_PADDR, size: KVM_PRIVATE_SIZE, type: X },
  ];
  if (highSize > 0) ranges.push({ addr: HIGH_MEMORY_BASE, size: highSize, type: R });
  const memmap = mergeAdjacent(ranges);
  if (memmap.length > MAX_MEMMAP_ENTRIES) throw new LayoutError(`memory map of ${memmap.length} entries exceeds ${MAX_MEMMAP_ENTRIES}`);
  if (memmap.length * hvmMemmapTableEntry.size > PAGE_SIZE) throw new LayoutError('memory map does not fit in its page');

  const memoryRegions: MemoryRegion[] = [{ base: gpa(0), size: lowTop, fileOffset: 0 }];
  if (highSize > 0) memoryRegions.push({ base: gpa(HIGH_MEMORY_BASE), size: highSize, fileOffset: lowTop });

  return {
    memorySize,
    memoryRegions,
    memmap,
    startInfo: gpa(START_INFO_PADDR),
    modlist: gpa(MODLIST_PADDR),
    memmapTable: gpa(MEMMAP_PADDR),
    cmdline: gpa(CMDLINE_PADDR),
    cmdlineCapacity: CMDLINE_CAPACITY,
    bootGdt: gpa(BOOT_GDT_PADDR),
    acpiTables: { base: gpa(ACPI_TABLES_PADDR), size: ACPI_TABLES_SIZE },
    grantFrames,
    consoleRing,
    xenstoreRing,
    modules,
    lapic: gpa(LAPIC_PADDR),
    ioapic: gpa(IOAPIC_PADDR),
    kvmIdentityMap: gpa(KVM_IDENTITY_MAP_PADDR),
    kvmTss: gpa(KVM_TSS_PADDR),
  };
}

/** The map's RAM ranges: where a kernel's PT_LOAD segments may go. */
export function ramRanges(layout: GuestLayout): MemmapEntry[] {
  return layout.memmap.filter((e) => e.type === XEN_HVM_MEMMAP_TYPE_RAM);
}

/** True when [addr, addr+size) lies inside one RAM entry of the map. */
export function isInRam(layout: GuestLayout, addr: number, size: number): boolean {
  return ramRanges(layout).some((e) => addr >= e.addr && addr + size <= e.addr + e.size);
}

function mergeAdjacent(entries: readonly MemmapEntry[]): MemmapEntry[] {
  const sorted = entries.filter((e) => e.size > 0).sort((a, b) => a.addr - b.addr);
  const out: MemmapEntry[] = [];
  for (const e of sorted) {
    const last = out[out.length - 1];
    if (last && last.addr + last.size > e.addr) throw new LayoutError(`memory map entries overlap at 0x${e.addr.toString(16)}`);
    if (last && last.type === e.type && last.addr + last.size === e.addr) out[out.length - 1] = { ...last, size: last.size + e.size };
    else out.push(e);
  }
  return out;
}

if (KVM_TSS_PADDR !== KVM_IDENTITY_MAP_PADDR + PAGE_SIZE || KVM_TSS_PADDR + 3 * PAGE_SIZE !== KVM_IDENTITY_MAP_PADDR + KVM_PRIVATE_SIZE) {
  throw new LayoutError('KVM private pages: identity map page then three TSS pages');
}

// The start_info page holds start_info and the module list; keep that claim checked.
if (MODLIST_PADDR < START_INFO_PADDR + hvmStartInfo.size) throw new LayoutError('module list overlaps start_info');

// The PVH start-of-day structures a domain builder writes into guest memory and points %ebx at:
// hvm_start_info, its module list and its memory map. Declared once here as data; the layout test
// compiles a C program against xen/arch-x86/hvm/start_info.h and compares sizes and offsets.
// A zero address in any field means "not present": nothing is ever placed at guest-physical 0.
import { StructLayout } from './struct-layout.ts';

/** "xEn3" with the top bit of the 'E' set. */
export const XEN_HVM_START_MAGIC_VALUE = 0x336ec578;
/** Version 1 added memmap_paddr/memmap_entries; we always write version 1. */
export const XEN_HVM_START_INFO_VERSION = 1;

/** start_info.flags: the domain is the initial (control) domain. A DomU gets 0. */
export const SIF_PRIVILEGED = 1 << 0;
export const SIF_INITDOMAIN = 1 << 1;

// Memory map entry types; they are the ACPI address range types (E820 numbering).
export const XEN_HVM_MEMMAP_TYPE_RAM = 1;
export const XEN_HVM_MEMMAP_TYPE_RESERVED = 2;
export const XEN_HVM_MEMMAP_TYPE_ACPI = 3;
export const XEN_HVM_MEMMAP_TYPE_NVS = 4;
export const XEN_HVM_MEMMAP_TYPE_UNUSABLE = 5;
export const XEN_HVM_MEMMAP_TYPE_DISABLED = 6;
export const XEN_HVM_MEMMAP_TYPE_PMEM = 7;

export type MemmapType =
  | typeof XEN_HVM_MEMMAP_TYPE_RAM
  | typeof XEN_HVM_MEMMAP_TYPE_RESERVED
  | typeof XEN_HVM_MEMMAP_TYPE_ACPI
  | typeof XEN_HVM_MEMMAP_TYPE_NVS
  | typeof XEN_HVM_MEMMAP_TYPE_UNUSABLE
  | typeof XEN_HVM_MEMMAP_TYPE_DISABLED
  | typeof XEN_HVM_MEMMAP_TYPE_PMEM;

/*
 * struct hvm_start_info {
 *     uint32_t magic;
 *     uint32_t version;
 *     uint32_t flags;
 *     uint32_t nr_modules;
 *     uint64_t modlist_paddr;
 *     uint64_t cmdline_paddr;
 *     uint64_t rsdp_paddr;
 *     uint64_t memmap_paddr;     (version 1)
 *     uint32_t memmap_entries;   (version 1)
 *     uint32_t reserved;         (version 1)
 * };
 */
export const hvmStartInfo = new StructLayout('hvm_start_info', 56, {
  magic: { offset: 0, width: 4 },
  version: { offset: 4, width: 4 },
  flags: { offset: 8, width: 4 },
  nr_modules: { offset: 12, width: 4 },
  modlist_paddr: { offset: 16, width: 8 },
  cmdline_paddr: { offset: 24, width: 8 },
  rsdp_paddr: { offset: 32, width: 8 },
  memmap_paddr: { offset: 40, width: 8 },
  memmap_entries: { offset: 48, width: 4 },
  reserved: { offset: 52, width: 4 },
});

/*
 * struct hvm_modlist_entry {
 *     uint64_t paddr;
 *     uint64_t size;
 *     uint64_t cmdline_paddr;
 *     uint64_t reserved;
 * };
 */
export const hvmModlistEntry = new StructLayout('hvm_modlist_entry', 32, {
  paddr: { offset: 0, width: 8 },
  size: { offset: 8, width: 8 },
  cmdline_paddr: { offset: 16, width: 8 },
  reserved: { offset: 24, width: 8 },
});

/*
 * struct hvm_memmap_table_entry {
 *     uint64_t addr;
 *     uint64_t size;
 *     uint32_t type;
 *     uint32_t reserved;
 * };
 */
export const hvmMemmapTableEntry = new StructLayout('hvm_memmap_table_entry', 24, {
  addr: { offset: 0, width: 8 },
  size: { offset: 8, width: 8 },
  type: { offset: 16, width: 4 },
  reserved: { offset: 20, width: 4 },
});

export interface MemmapEntry {
  readonly addr: number;
  readonly size: number;
  readonly type: MemmapType;
}

/** Encodes a memory map table (entries in order) as the guest reads it. */
export function encodeMemmap(entries: readonly MemmapEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * hvmMemmapTableEntry.size);
  entries.forEach((e, i) => hvmMemmapTableEntry.encodeInto(out, i * hvmMemmapTableEntry.size, e));
  return out;
}

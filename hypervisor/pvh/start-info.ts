// The PVH start-of-day structures a domain builder writes into guest memory and points %ebx at:
// hvm_start_info, its module list and its memory map. Declared once here as data; the layout test
// compiles a C program against xen/arch-x86/hvm/start_info.h and compares sizes and offsets.
// A zero address in any field means "not present": nothing is ever placed at guest-physical 0.
//
// The layouts are ring-buffer/layout.ts layouts (uint64_t fields decode as bigint there); pvh
// wraps them in BootStruct, which speaks plain numbers: every 64-bit field here is a guest-physical
// address or size, so a value beyond 2^53 is refused rather than rounded.
import { type FieldMap, LayoutError, type StructLayout, type StructValue, defineStruct } from '../../ring-buffer/layout.ts';
import { StructLayoutError } from './errors.ts';

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

/** A field value as pvh sees it: a plain number, 64-bit fields included. */
export type BootValues<F extends FieldMap> = { readonly [K in keyof StructValue<F>]: number };

/**
 * A boot-ABI layout at pvh's boundary: numbers in and out, fields not given encode as zero
 * (the reserved fields), and every refusal is a StructLayoutError (a PvhError).
 */
export class BootStruct<F extends FieldMap> {
  readonly name: string;
  readonly size: number;

  constructor(readonly layout: StructLayout<F>) {
    this.name = layout.name;
    this.size = layout.size;
  }

  /** Writes the struct into `dst` at `offset` (a fresh buffer by default) and returns `dst`. */
  encode(values: Partial<BootValues<F>>, dst: Uint8Array = new Uint8Array(this.size), offset = 0): Uint8Array {
    const value: Record<string, unknown> = this.layout.zero();
    for (const [key, v] of Object.entries(values) as [string, number][]) {
      if (typeof value[key] !== 'bigint') value[key] = v;
      else if (Number.isSafeInteger(v) && v >= 0) value[key] = BigInt(v);
      else throw new StructLayoutError(`${this.name}.${key} = ${v} does not fit in 8 bytes`);
    }
    return refusing(() => this.layout.encode(value as StructValue<F>, dst, offset));
  }

  /** Decodes a copy's fields; a 64-bit value above 2^53 is refused rather than rounded. */
  decode(src: Uint8Array, offset = 0): BootValues<F> {
    const raw: Record<string, unknown> = refusing(() => this.layout.decode(src, offset));
    const out: Record<string, number> = {};
    for (const [key, v] of Object.entries(raw)) {
      if (typeof v === 'number') out[key] = v;
      else if (typeof v === 'bigint' && v <= BigInt(Number.MAX_SAFE_INTEGER)) out[key] = Number(v);
      else throw new StructLayoutError(`${this.name}.${key} = 0x${String(typeof v === 'bigint' ? v.toString(16) : v)} is beyond 2^53`);
    }
    return out as BootValues<F>;
  }
}

function refusing<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof LayoutError) throw new StructLayoutError(err.message, { cause: err });
    throw err;
  }
}

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
export const hvmStartInfo = new BootStruct(
  defineStruct('hvm_start_info', 56, {
    magic: { offset: 0, type: 'u32' },
    version: { offset: 4, type: 'u32' },
    flags: { offset: 8, type: 'u32' },
    nr_modules: { offset: 12, type: 'u32' },
    modlist_paddr: { offset: 16, type: 'u64' },
    cmdline_paddr: { offset: 24, type: 'u64' },
    rsdp_paddr: { offset: 32, type: 'u64' },
    memmap_paddr: { offset: 40, type: 'u64' },
    memmap_entries: { offset: 48, type: 'u32' },
    reserved: { offset: 52, type: 'u32' },
  }),
);

/*
 * struct hvm_modlist_entry {
 *     uint64_t paddr;
 *     uint64_t size;
 *     uint64_t cmdline_paddr;
 *     uint64_t reserved;
 * };
 */
export const hvmModlistEntry = new BootStruct(
  defineStruct('hvm_modlist_entry', 32, {
    paddr: { offset: 0, type: 'u64' },
    size: { offset: 8, type: 'u64' },
    cmdline_paddr: { offset: 16, type: 'u64' },
    reserved: { offset: 24, type: 'u64' },
  }),
);

/*
 * struct hvm_memmap_table_entry {
 *     uint64_t addr;
 *     uint64_t size;
 *     uint32_t type;
 *     uint32_t reserved;
 * };
 */
export const hvmMemmapTableEntry = new BootStruct(
  defineStruct('hvm_memmap_table_entry', 24, {
    addr: { offset: 0, type: 'u64' },
    size: { offset: 8, type: 'u64' },
    type: { offset: 16, type: 'u32' },
    reserved: { offset: 20, type: 'u32' },
  }),
);

export interface MemmapEntry {
  readonly addr: number;
  readonly size: number;
  readonly type: MemmapType;
}

/** Encodes a memory map table (entries in order) as the guest reads it. */
export function encodeMemmap(entries: readonly MemmapEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * hvmMemmapTableEntry.size);
  entries.forEach((e, i) => hvmMemmapTableEntry.encode(e, out, i * hvmMemmapTableEntry.size));
  return out;
}

// The vCPU state at the PVH entry point, as plain data: the KVM layer turns it into kvm_regs and
// kvm_sregs, a process guest or a test can read it as is. What the PVH boot ABI fixes (Xen's
// docs/misc/pvh.pandoc): 32-bit protected mode with paging off (CR0.PE, CR4 = 0), a flat 4 GiB
// execute/read CS and read/write DS/ES/SS, TR a busy 32-bit TSS with base 0 and limit 0x67,
// EFLAGS with VM, IF and TF clear, and %ebx the physical address of hvm_start_info. Everything the
// ABI leaves unspecified we set to the most boring value: other GPRs 0, FS/GS like DS, no LDT.
//
// The selectors are also unspecified, but we give them meaning: they index a small GDT that the
// loader writes to guest memory (BOOT_GDT_PADDR), so a guest that reloads a segment register before
// installing its own GDT (or a debugger reading GDTR) sees the same flat descriptors.
import type { Gpa } from '../memory/guest-memory.ts';

export const X86_CR0_PE = 1 << 0;
/** Extension type: hard-wired to 1 on every CPU since the 486; KVM reports it set. */
export const X86_CR0_ET = 1 << 4;
/** EFLAGS bit 1 reads as 1 on every x86. */
export const X86_EFLAGS_FIXED = 1 << 1;

/** Descriptor types (the 4-bit type field), with the accessed bit set as VMX requires of usable segments. */
export const SEG_TYPE_CODE_EXEC_READ_ACCESSED = 0xb;
export const SEG_TYPE_DATA_READ_WRITE_ACCESSED = 0x3;
export const SEG_TYPE_TSS32_BUSY = 0xb;
export const SEG_TYPE_LDT = 0x2;

export const BOOT_CS_SELECTOR = 0x08;
export const BOOT_DS_SELECTOR = 0x10;
export const BOOT_TR_SELECTOR = 0x18;
/** Null, code, data, TSS: four 8-byte descriptors. */
export const BOOT_GDT_ENTRIES = 4;

export interface SegmentState {
  readonly selector: number;
  readonly base: number;
  /** The effective limit in bytes (0xffffffff for a flat segment), as KVM's kvm_segment holds it. */
  readonly limit: number;
  /** The descriptor's 4-bit type field. */
  readonly type: number;
  /** Descriptor type flag: 1 for code/data, 0 for system segments (TSS, LDT). */
  readonly s: 0 | 1;
  readonly dpl: number;
  readonly present: boolean;
  /** Default operation size: 1 for 32-bit segments. */
  readonly db: 0 | 1;
  /** 64-bit code segment. */
  readonly l: 0 | 1;
  /** Granularity: 1 when the descriptor's 20-bit limit counts 4 KiB pages. */
  readonly g: 0 | 1;
  readonly avl: 0 | 1;
  /** True for a segment register that holds no usable descriptor (our LDTR). */
  readonly unusable: boolean;
}

export interface DescriptorTableRegister {
  readonly base: number;
  readonly limit: number;
}

export interface GeneralRegisters {
  readonly rax: number;
  readonly rbx: number;
  readonly rcx: number;
  readonly rdx: number;
  readonly rsi: number;
  readonly rdi: number;
  readonly rsp: number;
  readonly rbp: number;
  readonly r8: number;
  readonly r9: number;
  readonly r10: number;
  readonly r11: number;
  readonly r12: number;
  readonly r13: number;
  readonly r14: number;
  readonly r15: number;
  readonly rip: number;
  readonly rflags: number;
}

export interface PvhBootState {
  readonly regs: GeneralRegisters;
  readonly cr0: number;
  readonly cr2: number;
  readonly cr3: number;
  readonly cr4: number;
  readonly efer: number;
  readonly cs: SegmentState;
  readonly ds: SegmentState;
  readonly es: SegmentState;
  readonly fs: SegmentState;
  readonly gs: SegmentState;
  readonly ss: SegmentState;
  readonly tr: SegmentState;
  readonly ldt: SegmentState;
  readonly gdt: DescriptorTableRegister;
  /** No IDT: the guest must not take an interrupt or exception before it installs its own. */
  readonly idt: DescriptorTableRegister;
}

const FLAT_LIMIT = 0xffffffff;

const flatCode: SegmentState = {
  selector: BOOT_CS_SELECTOR,
  base: 0,
  limit: FLAT_LIMIT,
  type: SEG_TYPE_CODE_EXEC_READ_ACCESSED,
  s: 1,
  dpl: 0,
  present: true,
  db: 1,
  l: 0,
  g: 1,
  avl: 0,
  unusable: false,
};

const flatData: SegmentState = { ...flatCode, selector: BOOT_DS_SELECTOR, type: SEG_TYPE_DATA_READ_WRITE_ACCESSED };

const bootTss: SegmentState = {
  selector: BOOT_TR_SELECTOR,
  base: 0,
  limit: 0x67,
  type: SEG_TYPE_TSS32_BUSY,
  s: 0,
  dpl: 0,
  present: true,
  db: 0,
  l: 0,
  g: 0,
  avl: 0,
  unusable: false,
};

const noLdt: SegmentState = { ...bootTss, selector: 0, limit: 0, type: SEG_TYPE_LDT, present: false, unusable: true };

/** The state a vCPU enters a PVH kernel with. */
export function pvhBootState(entry: number, startInfo: Gpa, bootGdt: Gpa): PvhBootState {
  if (!Number.isInteger(entry) || entry < 0 || entry > 0xffffffff) throw new RangeError(`PVH entry 0x${entry.toString(16)} is not a 32-bit address`);
  if (startInfo > 0xffffffff) throw new RangeError(`start_info at 0x${startInfo.toString(16)} is not addressable from 32-bit %ebx`);
  return {
    regs: {
      rax: 0,
      rbx: startInfo,
      rcx: 0,
      rdx: 0,
      rsi: 0,
      rdi: 0,
      rsp: 0,
      rbp: 0,
      r8: 0,
      r9: 0,
      r10: 0,
      r11: 0,
      r12: 0,
      r13: 0,
      r14: 0,
      r15: 0,
      rip: entry,
      rflags: X86_EFLAGS_FIXED,
    },
    cr0: X86_CR0_PE | X86_CR0_ET,
    cr2: 0,
    cr3: 0,
    cr4: 0,
    efer: 0,
    cs: flatCode,
    ds: flatData,
    es: flatData,
    fs: flatData,
    gs: flatData,
    ss: flatData,
    tr: bootTss,
    ldt: noLdt,
    gdt: { base: bootGdt, limit: BOOT_GDT_ENTRIES * 8 - 1 },
    idt: { base: 0, limit: 0 },
  };
}

/**
 * The 8-byte legacy descriptor for a segment (the form a GDT holds): limit 15:0, base 23:0,
 * type, S, DPL, P, limit 19:16, AVL, L, D/B, G, base 31:24. With G set the stored limit is in
 * pages, so a flat 0xffffffff becomes 0xfffff.
 */
export function encodeSegmentDescriptor(seg: SegmentState): bigint {
  const raw = seg.g ? Math.floor(seg.limit / 4096) : seg.limit;
  if (raw > 0xfffff) throw new RangeError(`segment limit 0x${seg.limit.toString(16)} needs the granularity bit`);
  const base = BigInt(seg.base);
  const limit = BigInt(raw);
  return (
    (limit & 0xffffn) |
    ((base & 0xffffffn) << 16n) |
    (BigInt(seg.type & 0xf) << 40n) |
    (BigInt(seg.s) << 44n) |
    (BigInt(seg.dpl & 3) << 45n) |
    (BigInt(seg.present ? 1 : 0) << 47n) |
    (((limit >> 16n) & 0xfn) << 48n) |
    (BigInt(seg.avl) << 52n) |
    (BigInt(seg.l) << 53n) |
    (BigInt(seg.db) << 54n) |
    (BigInt(seg.g) << 55n) |
    (((base >> 24n) & 0xffn) << 56n)
  );
}

/** The boot GDT's bytes: null, CS, DS (also ES/FS/GS/SS), TSS, at the selectors the state names. */
export function bootGdtBytes(state: PvhBootState): Uint8Array {
  const out = new Uint8Array(BOOT_GDT_ENTRIES * 8);
  const dv = new DataView(out.buffer);
  for (const seg of [state.cs, state.ds, state.tr]) dv.setBigUint64(seg.selector, encodeSegmentDescriptor(seg), true);
  return out;
}

// Putting a fresh vCPU into a known execution mode: real mode at an address, or 64-bit long mode
// with identity-mapped page tables. Tiny test guests and the exit benchmark start this way; the PVH
// loader has its own 32-bit protected-mode entry state (hypervisor/pvh/).
import type { GuestMemory, Gpa } from '../memory/guest-memory.ts';
import { gpa } from '../memory/guest-memory.ts';
import { KvmArgumentError } from './errors.ts';
import type { KvmSegment, KvmSregs, Vcpu } from './vcpu.ts';

/** RFLAGS with only the always-one bit 1 set (interrupts off). */
export const RFLAGS_FIXED = 0x2n;

export const CR0_PE = 1n << 0n;
export const CR0_ET = 1n << 4n;
export const CR0_PG = 1n << 31n;
export const CR4_PAE = 1n << 5n;
export const EFER_LME = 1n << 8n;
export const EFER_LMA = 1n << 10n;

const PTE_PRESENT = 1n << 0n;
const PTE_WRITABLE = 1n << 1n;
const PTE_LARGE = 1n << 7n;

/** Real mode, CS:IP = 0:entry, every segment based at 0, stack at `stack`. */
export function enterRealMode(vcpu: Vcpu, entry: number, stack = 0x7000): void {
  if (!Number.isInteger(entry) || entry < 0 || entry > 0xffff) throw new KvmArgumentError(`real-mode entry 0x${entry.toString(16)} is not below 64 KiB`);
  const sregs = vcpu.getSregs();
  for (const seg of [sregs.cs, sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss]) {
    seg.base = 0n;
    seg.selector = 0;
  }
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = BigInt(entry);
  regs.rsp = BigInt(stack);
  regs.rflags = RFLAGS_FIXED;
  vcpu.setRegs(regs);
}

export interface LongModeLayout {
  /** Where the three page-table pages go (PML4, PDPT, PD): 12 KiB of guest RAM, page-aligned. */
  readonly pageTables: Gpa;
  readonly entry: bigint;
  readonly stack: bigint;
}

/**
 * Builds page tables that map guest-physical [0, 1 GiB) with 2 MiB pages twice: at virtual 0
 * (identity) and at virtual 1 GiB (an alias, so a test can tell a translation from an identity).
 * Returns the CR3 value.
 */
export function writeIdentityPageTables(memory: GuestMemory, at: Gpa): bigint {
  if (at % 0x1000 !== 0) throw new KvmArgumentError(`page tables at 0x${at.toString(16)} are not page-aligned`);
  const pml4 = at;
  const pdpt = gpa(at + 0x1000);
  const pd = gpa(at + 0x2000);
  const tables = memory.view(pml4, 0x3000);
  tables.fill(0);
  const view = new DataView(tables.buffer, tables.byteOffset, tables.byteLength);
  view.setBigUint64(0, BigInt(pdpt) | PTE_PRESENT | PTE_WRITABLE, true);
  view.setBigUint64(0x1000 + 0 * 8, BigInt(pd) | PTE_PRESENT | PTE_WRITABLE, true);
  view.setBigUint64(0x1000 + 1 * 8, BigInt(pd) | PTE_PRESENT | PTE_WRITABLE, true);
  for (let i = 0; i < 512; i++) {
    view.setBigUint64(0x2000 + i * 8, (BigInt(i) << 21n) | PTE_PRESENT | PTE_WRITABLE | PTE_LARGE, true);
  }
  return BigInt(pml4);
}

function flatSegment(selector: number, type: number, long: boolean): KvmSegment {
  return {
    base: 0n,
    limit: 0xffff_ffff,
    selector,
    type,
    present: 1,
    dpl: 0,
    db: long ? 0 : 1,
    s: 1,
    l: long ? 1 : 0,
    g: 1,
    avl: 0,
    unusable: 0,
  };
}

/**
 * 64-bit long mode at ring 0: paging on with the tables from writeIdentityPageTables, a flat
 * 64-bit code segment and flat data segments (loaded straight into the hidden segment state,
 * so no GDT is needed until the guest reloads a selector), interrupts off.
 */
export function enterLongMode(vcpu: Vcpu, memory: GuestMemory, layout: LongModeLayout): void {
  const cr3 = writeIdentityPageTables(memory, layout.pageTables);
  const sregs: KvmSregs = vcpu.getSregs();
  sregs.cs = flatSegment(0x08, 0xb, true);
  const data = flatSegment(0x10, 0x3, false);
  sregs.ds = { ...data };
  sregs.es = { ...data };
  sregs.fs = { ...data };
  sregs.gs = { ...data };
  sregs.ss = { ...data };
  // VMX requires a usable busy 64-bit TSS in long mode; it is never used by these guests.
  sregs.tr = { base: 0n, limit: 0x67, selector: 0x18, type: 0xb, present: 1, dpl: 0, db: 0, s: 0, l: 0, g: 0, avl: 0, unusable: 0 };
  sregs.cr3 = cr3;
  sregs.cr4 = CR4_PAE;
  sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
  sregs.efer = EFER_LME | EFER_LMA;
  vcpu.setSregs(sregs);
  const regs = vcpu.getRegs();
  regs.rip = layout.entry;
  regs.rsp = layout.stack;
  regs.rflags = RFLAGS_FIXED;
  vcpu.setRegs(regs);
}

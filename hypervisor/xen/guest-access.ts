// How the hypercall code reaches guest memory through a hypercall's pointer arguments.
//
// A pointer argument is guest-virtual. The CPU engine that took the hypercall knows how to
// translate it: KVM vCPUs with KVM_TRANSLATE on the calling vCPU, process guests and Dom0 with the
// identity. Translation is per page, since consecutive virtual pages need not be consecutive in
// guest-physical space, so a range that crosses a page boundary is translated page by page.
//
// Every read copies guest bytes ONCE into a private buffer; handlers decode and validate only that
// copy (no double fetch, XSA-155). Any failure is a GuestFaultError, which the dispatcher reports as
// -EFAULT.
import { GuestMemoryError, PAGE_SIZE, type Gpa, type GuestMemory } from '../memory/guest-memory.ts';
import { GuestFaultError } from './errors.ts';
import { type FieldMap, type StructLayout, type StructValue } from '../../ring-buffer/layout.ts';

export type AccessKind = 'read' | 'write';

/** The calling vCPU, as the hypercall code sees it. Implemented by each CPU engine. */
export interface CpuContext {
  /** Xen vCPU id of the caller (its index in the domain, the id CPUID base+4 EBX reports). */
  readonly vcpuId: number;
  /**
   * Current privilege level. Xen refuses hypercalls from guest user mode with -EPERM; the KVM
   * engine reads it from SS.DPL (CS.DPL in protected mode), process guests and Dom0 report 0.
   */
  readonly cpl: number;
  /**
   * Guest-physical address of guest-virtual `gva`, or null when it is not mapped (or, for
   * 'write', mapped read-only). Only the page containing `gva` is translated; callers never
   * assume the next page follows.
   */
  translate(gva: bigint, access: AccessKind): Gpa | null;
}

/** Identity translation: guest-virtual = guest-physical. For process guests and Dom0. */
export function identityTranslate(gva: bigint): Gpa | null {
  if (gva < 0n || gva > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(gva) as Gpa;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;
const PAGE = BigInt(PAGE_SIZE);

/** Copy-in/copy-out for one hypercall: a CpuContext bound to the domain's memory. */
export class GuestAccess {
  constructor(
    readonly memory: GuestMemory,
    readonly cpu: CpuContext,
  ) {}

  /** A private copy of [gva, gva + length). */
  copyIn(gva: bigint, length: number): Uint8Array {
    const out = new Uint8Array(length);
    this.walk(gva, length, 'read', (view, done) => out.set(view, done));
    return out;
  }

  /** Writes `bytes` to [gva, gva + bytes.length). */
  copyOut(gva: bigint, bytes: Uint8Array): void {
    this.walk(gva, bytes.length, 'write', (view, done) => view.set(bytes.subarray(done, done + view.length)));
  }

  /** Copies a struct in and decodes the private copy. */
  read<F extends FieldMap>(layout: StructLayout<F>, gva: bigint): StructValue<F> {
    return layout.decode(this.copyIn(gva, layout.size));
  }

  /** Encodes a struct (padding zeroed) and copies it out. */
  write<F extends FieldMap>(layout: StructLayout<F>, gva: bigint, value: StructValue<F>): void {
    this.copyOut(gva, layout.encode(value));
  }

  /** Visits the range one page-bounded chunk at a time with a live view of guest memory. */
  private walk(gva: bigint, length: number, access: AccessKind, visit: (view: Uint8Array, done: number) => void): void {
    if (!Number.isSafeInteger(length) || length < 0) throw new GuestFaultError(gva, length, 'bad length');
    if (gva < 0n || gva > U64_MAX || gva + BigInt(length) - 1n > U64_MAX) {
      throw new GuestFaultError(gva, length, 'range wraps the address space');
    }
    // All pages are translated and checked before anything is copied, so a write that faults on
    // its second page leaves the first untouched and a failed hypercall has no partial effect.
    const chunks: Uint8Array[] = [];
    let done = 0;
    while (done < length) {
      const va = gva + BigInt(done);
      const chunk = Math.min(length - done, Number(PAGE - (va % PAGE)));
      // KVM_TRANSLATE ignores the canonical-form rule and walks the low bits of any address, so a
      // non-canonical pointer would reach some unrelated page; a real CPU faults on it. The
      // non-canonical hole starts and ends on page boundaries, so checking each chunk's first
      // byte covers the whole range.
      if (!isCanonical(va)) throw new GuestFaultError(gva, length, `0x${va.toString(16)} is not canonical`);
      const pa = this.cpu.translate(va, access);
      if (pa === null) throw new GuestFaultError(gva, length, `no ${access} translation for 0x${va.toString(16)}`);
      try {
        chunks.push(this.memory.view(pa, chunk));
      } catch (err) {
        if (err instanceof GuestMemoryError) throw new GuestFaultError(gva, length, `0x${pa.toString(16)}+${chunk} is not guest RAM`);
        throw err;
      }
      done += chunk;
    }
    done = 0;
    for (const view of chunks) {
      visit(view, done);
      done += view.length;
    }
  }
}

/** x86-64 with 48-bit virtual addresses: bits 63..47 are all copies of bit 47. */
export function isCanonical(va: bigint): boolean {
  const top = va >> 47n;
  return top === 0n || top === 0x1ffffn;
}

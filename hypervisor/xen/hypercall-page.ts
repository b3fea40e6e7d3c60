// The hypercall page: 4096 bytes the guest asks us to fill by writing its guest-physical address
// to the hypercall MSR (CPUID base+2 EBX). The guest calls hypercall N as `call page + N*32`.
//
// Xen's stubs are `mov $N, %eax; vmcall; ret`. VMCALL cannot reach us: without KVM's in-kernel
// Xen support, KVM handles VMCALL itself (kvm_emulate_hypercall) and never exits to user space.
// Our stub traps with a port write instead, which KVM forwards as KVM_EXIT_IO:
//
//   b8 NN NN NN NN    mov  $N, %eax
//   e7 PP             out  %eax, $PORT
//   c3                ret
//   cc ... cc         int3 padding to 32 bytes
//
// The `out` uses an 8-bit immediate port so it touches no register but eax: rdx carries the third
// hypercall argument and must reach us intact. Register convention at the exit: rax = N (also the
// 4 bytes of port data), arguments in rdi, rsi, rdx, r10, r8; the shim reads them with
// KVM_GET_REGS, dispatches, writes the result to rax with KVM_SET_REGS, and re-enters; KVM then
// completes the `out` (advancing rip) and the stub returns to the caller with rax = result.
//
// The port, 0x5e, is claimed by nothing on a PC (PIC 0x20/0x21/0xa0/0xa1, PIT 0x40-0x43, keyboard
// controller 0x60/0x64, speaker 0x61, RTC 0x70/0x71, POST/DMA page 0x80-0x8f, A20 0x92, APM 0xb2,
// DMA 0x00-0x1f/0xc0-0xdf, FPU 0xf0-0xff) nor by KVM's in-kernel devices, so every write to it is
// a hypercall. 0xe9 is avoided on purpose: Linux writes early output there when console_io fails.
//
// Slot 23 (__HYPERVISOR_iret) is PV-only; like Xen we put ud2 there so a stray call faults.
import { gpa, type Gpa, type GuestMemory } from '../memory/guest-memory.ts';
import { HYPERCALL_PAGE_SLOTS, HYPERCALL_STUB_SIZE, XEN_PAGE_SIZE, __HYPERVISOR_iret } from './abi.ts';

export const XEN_HYPERCALL_PORT = 0x5e;

const MOV_EAX_IMM32 = 0xb8;
const OUT_IMM8_EAX = 0xe7;
const RET = 0xc3;
const INT3 = 0xcc;
const UD2 = [0x0f, 0x0b] as const;

export function buildHypercallPage(port: number = XEN_HYPERCALL_PORT): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > 0xff) throw new RangeError(`hypercall port must fit an 8-bit immediate, got ${port}`);
  const page = new Uint8Array(XEN_PAGE_SIZE).fill(INT3);
  for (let nr = 0; nr < HYPERCALL_PAGE_SLOTS; nr++) {
    const at = nr * HYPERCALL_STUB_SIZE;
    if (nr === __HYPERVISOR_iret) {
      page.set(UD2, at);
      continue;
    }
    page[at] = MOV_EAX_IMM32;
    new DataView(page.buffer).setUint32(at + 1, nr, true);
    page[at + 5] = OUT_IMM8_EAX;
    page[at + 6] = port;
    page[at + 7] = RET;
  }
  return page;
}

/** A hypercall-MSR write the guest must see fail (the KVM layer injects #GP, as Xen does). */
export class HypercallMsrError extends Error {
  override readonly name = 'HypercallMsrError';
  constructor(
    readonly value: bigint,
    reason: string,
  ) {
    super(`hypercall MSR write 0x${value.toString(16)}: ${reason}`);
  }
}

/**
 * Handles a write of `value` to the hypercall MSR: bits 63:12 are the page's guest-physical
 * address, bits 11:0 the index of the hypercall page to place (we have one, so only 0).
 * Writes the page into guest RAM and returns where it went.
 */
export function installHypercallPage(memory: GuestMemory, value: bigint, port: number = XEN_HYPERCALL_PORT): Gpa {
  if (value < 0n || value > 0xffff_ffff_ffff_ffffn) throw new HypercallMsrError(value, 'not a u64');
  const index = value & 0xfffn;
  if (index !== 0n) throw new HypercallMsrError(value, `there is 1 hypercall page, not ${index + 1n}`);
  const address = value & ~0xfffn;
  if (address > BigInt(Number.MAX_SAFE_INTEGER)) throw new HypercallMsrError(value, 'address out of range');
  const where = gpa(Number(address));
  if (!memory.contains(where, XEN_PAGE_SIZE)) throw new HypercallMsrError(value, 'page is not guest RAM');
  memory.view(where, XEN_PAGE_SIZE).set(buildHypercallPage(port));
  return where;
}

// Linux kernels with the XSA-466 changes (mainline 6.13, backported to 6.1.119+, e.g. Debian's
// 6.1.0-2x and later) no longer call through the hypercall page: a static call picks
// xen_hypercall_amd (`vmmcall`) or xen_hypercall_intel (`vmcall`) by CPU vendor and the guest
// executes that instruction directly. Without KVM's in-kernel Xen support (KVM_CAP_XEN_HVM = 0 on
// Debian's KVM) KVM takes VMCALL/VMMCALL as a KVM hypercall and answers -KVM_ENOSYS (-1000) without
// exiting to us; Linux then BUG()s on the first XENMEM_add_to_physmap.
//
// The fix-up, in the spirit of KVM's own VMCALL<->VMMCALL patching: both functions are
//   0f 01 d9  vmmcall          (xen_hypercall_amd)
//   e9 .. .. .. ..  jmp __x86_return_thunk  (or c3 ret)
//   <padding to 16 bytes>
//   0f 01 c1  vmcall           (xen_hypercall_intel)
//   e9/c3 ...
// and use the same register convention as our page stubs (rax = nr; rdi, rsi, rdx, r10, r8), so
// each 3-byte instruction becomes `out %eax, $0x5e; nop` (e7 5e 90) in the loaded image. We only
// patch when exactly one such pair exists: anything else is left alone and reported.
import type { GuestMemory } from '../memory/guest-memory.ts';
import { gpa } from '../memory/guest-memory.ts';
import { PT_LOAD } from '../pvh/elf.ts';
import type { PvhKernel } from '../pvh/elf-notes.ts';
import { XEN_HYPERCALL_PORT } from '../xen/index.ts';

const VMMCALL = [0x0f, 0x01, 0xd9] as const;
const VMCALL = [0x0f, 0x01, 0xc1] as const;
const JMP_REL32 = 0xe9;
const RET = 0xc3;
const PAIR_DISTANCE = 16;

export type HypercallFixup = { readonly kind: 'patched'; readonly at: readonly number[] } | { readonly kind: 'none'; readonly why: string };

function matches(bytes: Uint8Array, at: number, insn: readonly number[]): boolean {
  return insn.every((b, i) => bytes[at + i] === b) && (bytes[at + 3] === JMP_REL32 || bytes[at + 3] === RET);
}

/** Finds the xen_hypercall_amd/intel pair in the kernel image; patches it in guest memory. */
export function patchLinuxHypercallInstructions(kernel: PvhKernel, memory: GuestMemory): HypercallFixup {
  const bytes = kernel.image.bytes;
  const found: number[] = [];
  for (let i = 0; i + PAIR_DISTANCE + 4 <= bytes.length; i++) {
    if (bytes[i] === 0x0f && matches(bytes, i, VMMCALL) && matches(bytes, i + PAIR_DISTANCE, VMCALL)) found.push(i);
  }
  if (found.length !== 1) return { kind: 'none', why: `${found.length} vmmcall/vmcall stub pairs in the image` };
  const fileOffsets = [found[0]!, found[0]! + PAIR_DISTANCE];
  const at: number[] = [];
  for (const off of fileOffsets) {
    const seg = kernel.image.programHeaders.find((p) => p.type === PT_LOAD && off >= p.offset && off + 3 <= p.offset + p.filesz);
    if (!seg) return { kind: 'none', why: `stub at file offset 0x${off.toString(16)} is in no loaded segment` };
    at.push(seg.paddr + (off - seg.offset));
  }
  for (const paddr of at) memory.view(gpa(paddr), 3).set([0xe7, XEN_HYPERCALL_PORT, 0x90]);
  return { kind: 'patched', at };
}

// The XSA-466 hypercall fix-up on a synthetic kernel: the vmmcall/vmcall stub pair is rewritten to
// the hypercall port in guest memory; an image without exactly one pair is left alone.
import { describe, expect, it } from 'vitest';
import { gpa } from '../hypervisor/memory/guest-memory.ts';
import { parseElf, PF_R, PF_X, PT_LOAD, PT_NOTE } from '../hypervisor/pvh/elf.ts';
import { XEN_ELFNOTE_PHYS32_ENTRY, pvhKernelFromElf } from '../hypervisor/pvh/elf-notes.ts';
import { ArrayGuestMemory } from '../hypervisor/memory/testing/array-guest-memory.ts';
import { buildElf, note, u32le } from '../hypervisor/pvh/testing/elf-builder.ts';
import { patchLinuxHypercallInstructions } from '../hypervisor/shim/linux-hypercall-fixup.ts';

function kernelWith(code: Uint8Array) {
  const elf = buildElf(64, [
    { type: PT_LOAD, paddr: 0x100000, flags: PF_R | PF_X, data: code },
    { type: PT_NOTE, paddr: 0, data: note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x100000)) },
  ]);
  return pvhKernelFromElf(parseElf(elf.bytes));
}

// xen_hypercall_amd then xen_hypercall_intel, 16 bytes apart, as in Debian's 6.1.0-56 vmlinux.
const stubs = [0x0f, 0x01, 0xd9, 0xe9, 0xa8, 0xe0, 0x3b, 0x00, 0x0f, 0x1f, 0x84, 0, 0, 0, 0, 0, 0x0f, 0x01, 0xc1, 0xe9, 0x98, 0xe0, 0x3b, 0x00];

describe('Linux hypercall instruction fix-up', () => {
  it('rewrites vmmcall and vmcall to out %eax, $0x5e; nop', () => {
    const code = new Uint8Array(256).fill(0xcc);
    code.set(stubs, 0x40);
    const kernel = kernelWith(code);
    const memory = new ArrayGuestMemory([{ base: gpa(0), size: 0x200000, fileOffset: 0 }]);
    memory.view(gpa(0x100000), code.length).set(code);
    const fix = patchLinuxHypercallInstructions(kernel, memory);
    expect(fix).toEqual({ kind: 'patched', at: [0x100040, 0x100050] });
    expect([...memory.view(gpa(0x100040), 4)]).toEqual([0xe7, 0x5e, 0x90, 0xe9]);
    expect([...memory.view(gpa(0x100050), 4)]).toEqual([0xe7, 0x5e, 0x90, 0xe9]);
  });

  it('leaves an image alone without exactly one stub pair', () => {
    const memory = new ArrayGuestMemory([{ base: gpa(0), size: 0x200000, fileOffset: 0 }]);
    expect(patchLinuxHypercallInstructions(kernelWith(new Uint8Array(256)), memory).kind).toBe('none');
    const two = new Uint8Array(256);
    two.set(stubs, 0x10);
    two.set(stubs, 0x80);
    expect(patchLinuxHypercallInstructions(kernelWith(two), memory)).toEqual({ kind: 'none', why: '2 vmmcall/vmcall stub pairs in the image' });
  });
});

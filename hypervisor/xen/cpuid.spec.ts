import { describe, expect, it } from 'vitest';
import { XEN_HVM_CPUID_UPCALL_VECTOR, XEN_HVM_CPUID_VCPU_ID_PRESENT, XEN_HVM_CPUID_X2APIC_VIRT } from './abi.ts';
import { XEN_HYPERCALL_MSR, xenCpuidLeaves } from './cpuid.ts';
import { defaultXenIdentity } from './identity.ts';

function regsToString(...words: number[]): string {
  const b = new Uint8Array(words.length * 4);
  words.forEach((w, i) => new DataView(b.buffer).setUint32(i * 4, w, true));
  return new TextDecoder().decode(b);
}

describe('xenCpuidLeaves', () => {
  const leaves = xenCpuidLeaves({ identity: defaultXenIdentity(), vcpuId: 3 });
  const get = (fn: number, index = 0) => {
    const l = leaves.find((e) => e.function === fn && e.index === index);
    if (!l) throw new Error(`no leaf 0x${fn.toString(16)}/${index}`);
    return l;
  };

  it('signs as XenVMMXenVMM with max leaf base+4, and defines every leaf up to it', () => {
    const l0 = get(0x40000000);
    expect(regsToString(l0.ebx, l0.ecx, l0.edx)).toBe('XenVMMXenVMM');
    expect(l0.eax).toBe(0x40000004);
    for (let f = 0x40000000; f <= l0.eax; f++) expect(leaves.some((e) => e.function === f)).toBe(true);
  });

  it('reports version 4.17, one hypercall page and MSR 0x40000200', () => {
    expect(get(0x40000001).eax).toBe((4 << 16) | 17);
    expect(get(0x40000002)).toMatchObject({ eax: 1, ebx: 0x40000200, ecx: 0, edx: 0 });
    expect(XEN_HYPERCALL_MSR).toBe(0x40000200);
  });

  it('offers no time information in base+3', () => {
    for (const i of [0, 1, 2]) expect(get(0x40000003, i)).toMatchObject({ eax: 0, ebx: 0, ecx: 0, edx: 0, significantIndex: true });
  });

  it('advertises the vCPU id and per-vCPU upcall vectors in base+4, nothing else', () => {
    const l4 = get(0x40000004);
    expect(l4.eax).toBe(XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_UPCALL_VECTOR);
    expect(l4.eax & XEN_HVM_CPUID_X2APIC_VIRT).toBe(0);
    expect(l4.ebx).toBe(3);
    expect(l4.significantIndex).toBe(true);
  });

  it('follows the configured version, base and MSR', () => {
    const l = xenCpuidLeaves({ identity: { major: 4, minor: 19 }, vcpuId: 0, base: 0x40000100, hypercallMsr: 0x40000300 });
    expect(l[0]!.function).toBe(0x40000100);
    expect(l[0]!.eax).toBe(0x40000104);
    expect(l[1]!.eax).toBe((4 << 16) | 19);
    expect(l[2]!.ebx).toBe(0x40000300);
    expect(() => xenCpuidLeaves({ identity: { major: 4, minor: 17 }, vcpuId: 0, base: 0x40000010 })).toThrow(RangeError);
  });
});

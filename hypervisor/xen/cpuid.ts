// The Xen CPUID leaves a guest uses to detect us, as data for KVM_SET_CPUID2 (one list per vCPU:
// base+4 carries the vCPU id).
//
//   base+0  EAX = highest Xen leaf (base+4); EBX,ECX,EDX = "XenVMMXenVMM"
//   base+1  EAX = major << 16 | minor
//   base+2  EAX = 1 hypercall page; EBX = MSR index the guest writes the page's address to
//   base+3  time leaf, sub-leaves 0..2: all zero, i.e. no TSC/pvclock information offered
//   base+4  sub-leaf 0: EAX = HVM feature flags, EBX = vCPU id
//
// base = 0x40000000. Linux picks the highest hypervisor signature it finds, so the KVM layer must
// not also expose KVM's own signature above ours. Every leaf up to the advertised maximum is
// defined because on Intel, KVM answers an undefined leaf in range with the highest basic leaf.
//
// The hypercall MSR is 0x40000200, not Xen's usual 0x40000000: KVM claims 0x40000000-0x400000ff
// for Hyper-V emulation (a write there fails inside KVM instead of exiting to us), while
// 0x40000200 is unknown to KVM and reaches the shim as a user-space MSR exit. Xen itself uses
// 0x40000200 when its Viridian leaves occupy the low range, so guests already handle it.
import {
  XEN_CPUID_FIRST_LEAF,
  XEN_CPUID_SIGNATURE_EBX,
  XEN_CPUID_SIGNATURE_ECX,
  XEN_CPUID_SIGNATURE_EDX,
  XEN_HVM_CPUID_UPCALL_VECTOR,
  XEN_HVM_CPUID_VCPU_ID_PRESENT,
} from './abi.ts';
import type { XenIdentity } from './identity.ts';

export const XEN_HYPERCALL_MSR = 0x40000200;

export interface CpuidEntry {
  readonly function: number;
  readonly index: number;
  /** The leaf has sub-leaves: KVM must match `index` (KVM_CPUID_FLAG_SIGNIFCANT_INDEX). */
  readonly significantIndex: boolean;
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

export interface XenCpuidOptions {
  readonly identity: Pick<XenIdentity, 'major' | 'minor'>;
  readonly vcpuId: number;
  readonly base?: number;
  readonly hypercallMsr?: number;
}

/**
 * HVM flags of leaf base+4. Linux 6.1 PVH reads VCPU_ID_PRESENT (its BSP's Xen vCPU id) and
 * UPCALL_VECTOR (use HVMOP_set_evtchn_upcall_vector, which we need: see hvm-op.ts). The APIC/x2APIC
 * virtualisation hints and EXT_DEST_ID describe hardware features we do not promise; leaving them
 * clear keeps Linux on its plain paths.
 */
export const XEN_HVM_CPUID_FLAGS = XEN_HVM_CPUID_VCPU_ID_PRESENT | XEN_HVM_CPUID_UPCALL_VECTOR;

/** Highest leaf offset we define. Linux needs at least 2; base+4 holds the HVM flags. */
export const XEN_CPUID_MAX_LEAF_OFFSET = 4;

export function xenCpuidLeaves(options: XenCpuidOptions): CpuidEntry[] {
  const base = options.base ?? XEN_CPUID_FIRST_LEAF;
  const msr = options.hypercallMsr ?? XEN_HYPERCALL_MSR;
  const { major, minor } = options.identity;
  if (base % 0x100 !== 0 || base < XEN_CPUID_FIRST_LEAF || base > 0x4000ff00) throw new RangeError(`bad Xen CPUID base 0x${base.toString(16)}`);
  if (!Number.isInteger(options.vcpuId) || options.vcpuId < 0) throw new RangeError(`bad vCPU id ${options.vcpuId}`);
  const leaf = (offset: number, regs: { eax?: number; ebx?: number; ecx?: number; edx?: number }, index = 0, significantIndex = false): CpuidEntry => ({
    function: base + offset,
    index,
    significantIndex,
    eax: (regs.eax ?? 0) >>> 0,
    ebx: (regs.ebx ?? 0) >>> 0,
    ecx: (regs.ecx ?? 0) >>> 0,
    edx: (regs.edx ?? 0) >>> 0,
  });
  return [
    leaf(0, { eax: base + XEN_CPUID_MAX_LEAF_OFFSET, ebx: XEN_CPUID_SIGNATURE_EBX, ecx: XEN_CPUID_SIGNATURE_ECX, edx: XEN_CPUID_SIGNATURE_EDX }),
    leaf(1, { eax: (major << 16) | minor }),
    leaf(2, { eax: 1, ebx: msr }),
    leaf(3, {}, 0, true),
    leaf(3, {}, 1, true),
    leaf(3, {}, 2, true),
    leaf(4, { eax: XEN_HVM_CPUID_FLAGS, ebx: options.vcpuId }, 0, true),
  ];
}

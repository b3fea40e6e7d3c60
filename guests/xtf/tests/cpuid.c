/*
 * Xen's CPUID leaves as a PVH guest probes them: the signature at the first base that has it,
 * the version leaf, the hypercall-page MSR in base+2, and the HVM feature leaf base+4 with the
 * per-vCPU upcall vector flag and our vCPU id. Also that no other hypervisor signature sits at a
 * higher base, since Linux picks the highest one it recognises.
 */
#include "xtf.h"

const char xtf_test_title[] = "CPUID leaves";

/* "KVMKVMKVM\0\0\0" as EBX, ECX, EDX. */
#define KVM_SIGNATURE_EBX 0x4b4d564bu
#define KVM_SIGNATURE_ECX 0x564b4d56u
#define KVM_SIGNATURE_EDX 0x0000004du

void test_main(void)
{
    uint32_t base = xtf_cpuid_base;
    struct cpuid_regs sig = cpuid(base);

    xtf_check(sig.ebx == XEN_CPUID_SIGNATURE_EBX && sig.ecx == XEN_CPUID_SIGNATURE_ECX && sig.edx == XEN_CPUID_SIGNATURE_EDX,
              "cpuid signature XenVMMXenVMM at 0x%x", base);
    xtf_check(sig.eax >= base + 4, "cpuid max leaf 0x%x covers base+4", sig.eax);

    for (uint32_t b = base + XEN_CPUID_LEAF_STRIDE; b < XEN_CPUID_FIRST_LEAF + 0x10000; b += XEN_CPUID_LEAF_STRIDE) {
        struct cpuid_regs r = cpuid(b);
        if (r.ebx == KVM_SIGNATURE_EBX && r.ecx == KVM_SIGNATURE_ECX && r.edx == KVM_SIGNATURE_EDX) {
            xtf_fail("cpuid KVM signature at 0x%x, above the Xen leaves", b);
            break;
        }
        if (b + XEN_CPUID_LEAF_STRIDE >= XEN_CPUID_FIRST_LEAF + 0x10000)
            xtf_pass("cpuid no hypervisor signature above the Xen leaves");
    }

    struct cpuid_regs ver = cpuid(base + 1);
    xtf_check((ver.eax >> 16) >= 4, "cpuid version %u.%u (major >= 4)", ver.eax >> 16, ver.eax & 0xffff);

    struct cpuid_regs hc = cpuid(base + 2);
    xtf_check(hc.eax >= 1, "cpuid base+2 hypercall pages: %u", hc.eax);
    xtf_check(hc.ebx != 0, "cpuid base+2 hypercall MSR index 0x%x", hc.ebx);
    /* KVM claims 0x40000000-0x400000ff for Hyper-V: an index there would never reach us. */
    xtf_check(hc.ebx < 0x40000000u || hc.ebx > 0x400000ffu, "cpuid hypercall MSR outside KVM's Hyper-V range");

    struct cpuid_regs hvm = cpuid_count(base + 4, 0);
    xtf_check(hvm.eax & XEN_HVM_CPUID_UPCALL_VECTOR, "cpuid base+4 per-vCPU upcall vector flag (eax 0x%x)", hvm.eax);
    xtf_check(hvm.eax & XEN_HVM_CPUID_VCPU_ID_PRESENT, "cpuid base+4 vcpu id present flag");
    xtf_check(hvm.ebx == 0, "cpuid base+4 vcpu id %u is 0 on the boot vCPU", hvm.ebx);
}

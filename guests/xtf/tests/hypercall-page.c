/*
 * The hypercall page: the runtime already wrote its address to the MSR named by CPUID base+2
 * (console output depends on it). Check the stubs are there for every hypercall a PVH guest uses,
 * that writing the MSR again fills a second page identically (Xen allows re-writing it), and that
 * a page index beyond the advertised page count faults (#GP) instead of being ignored.
 */
#include "xtf.h"

const char xtf_test_title[] = "hypercall page";

static uint8_t second_page[PAGE_SIZE] __page_aligned_bss;

static int stub_present(const uint8_t *page, unsigned int nr)
{
    const uint8_t *stub = page + nr * HYPERCALL_STUB_SIZE;
    for (unsigned int i = 0; i < HYPERCALL_STUB_SIZE; i++)
        if (stub[i])
            return 1;
    return 0;
}

void test_main(void)
{
    static const unsigned int used[] = {
        __HYPERVISOR_memory_op, __HYPERVISOR_xen_version, __HYPERVISOR_console_io, __HYPERVISOR_grant_table_op,
        __HYPERVISOR_vcpu_op,   __HYPERVISOR_sched_op,    __HYPERVISOR_event_channel_op, __HYPERVISOR_hvm_op,
    };
    unsigned int missing = 0;
    for (unsigned int i = 0; i < ARRAY_SIZE(used); i++) {
        if (!stub_present(hypercall_page, used[i])) {
            xtf_fail("hypercall page stub %u is all zero", used[i]);
            missing++;
        }
    }
    if (!missing)
        xtf_pass("hypercall page stubs present for the %u hypercalls PVH Linux uses", (unsigned int)ARRAY_SIZE(used));

    struct cpuid_regs hc = cpuid(xtf_cpuid_base + 2);
    uint32_t msr = hc.ebx;
    uint32_t fault = wrmsr_safe(msr, (uint64_t)(uintptr_t)second_page);
    xtf_check(fault == XTF_NO_FAULT, "second WRMSR of the hypercall MSR accepted");
    xtf_check(memcmp(second_page, hypercall_page, PAGE_SIZE) == 0, "second hypercall page identical to the first");

    /* Bits 11:0 of the value select which hypercall page to write; only hc.eax pages exist. */
    fault = wrmsr_safe(msr, (uint64_t)(uintptr_t)second_page | hc.eax);
    xtf_check(fault == 13, "WRMSR with page index %u beyond %u page(s) raises #GP (vector %d)", hc.eax, hc.eax,
              fault == XTF_NO_FAULT ? -1 : (int)fault);

    /* And the page still works: this line is printed through it. */
    xtf_check_rc(HYPERVISOR_xen_version(XENVER_version, NULL) > 0 ? 0 : -1, 0, "xen_version through the page");
}

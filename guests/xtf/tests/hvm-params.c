/*
 * HVM parameters a PVH guest reads at boot: the console ring page and its event channel (Linux's
 * hvc_xen needs both non-zero), the xenstore page and port, and CALLBACK_IRQ, which it writes.
 * The ring pages must be reserved in the memory map so the guest never uses them as RAM.
 */
#include "xtf.h"

const char xtf_test_title[] = "HVM params";

void test_main(void)
{
    uint64_t pfn = 0, port = 0;
    long rc = hvm_get_param(HVM_PARAM_CONSOLE_PFN, &pfn);
    xtf_check(rc == 0 && pfn != 0, "HVMOP_get_param(CONSOLE_PFN) = 0x%lx (rc %ld)", (unsigned long)pfn, rc);
    if (rc == 0 && pfn)
        xtf_check(xtf_memmap_type(pfn << PAGE_SHIFT, PAGE_SIZE) == XEN_HVM_MEMMAP_TYPE_RESERVED, "console ring page is reserved in the memory map");
    rc = hvm_get_param(HVM_PARAM_CONSOLE_EVTCHN, &port);
    xtf_check(rc == 0 && port != 0, "HVMOP_get_param(CONSOLE_EVTCHN) = %lu (rc %ld)", (unsigned long)port, rc);

    rc = hvm_get_param(HVM_PARAM_STORE_PFN, &pfn);
    xtf_check_rc(rc, 0, "HVMOP_get_param(STORE_PFN)");
    if (rc == 0 && pfn && pfn != ~0ull)
        xtf_check(xtf_memmap_type(pfn << PAGE_SHIFT, PAGE_SIZE) == XEN_HVM_MEMMAP_TYPE_RESERVED, "xenstore ring page is reserved in the memory map");
    xtf_check_rc(hvm_get_param(HVM_PARAM_STORE_EVTCHN, &port), 0, "HVMOP_get_param(STORE_EVTCHN)");

    xtf_check_rc(hvm_set_param(HVM_PARAM_CALLBACK_IRQ, 1), 0, "HVMOP_set_param(CALLBACK_IRQ, 1)");
    uint64_t v = 0;
    rc = hvm_get_param(HVM_PARAM_CALLBACK_IRQ, &v);
    xtf_check(rc == 0 && v == 1, "HVMOP_get_param(CALLBACK_IRQ) reads back 1 (got %lu, rc %ld)", (unsigned long)v, rc);

    xtf_check_rc(hvm_get_param(1000, &v), -XEN_EINVAL, "HVMOP_get_param(index 1000)");
    xtf_check_rc(hvm_set_param(HVM_NR_PARAMS, 0), -XEN_EINVAL, "HVMOP_set_param(index HVM_NR_PARAMS)");
    struct xen_hvm_param other = {.domid = 0x1234, .index = HVM_PARAM_CONSOLE_PFN};
    xtf_check_rc(HYPERVISOR_hvm_op(HVMOP_get_param, &other), -XEN_ESRCH, "HVMOP_get_param(another domain)");
}

/*
 * shared_info and vcpu_info, as PVH Linux sets them up: XENMEM_add_to_physmap places the
 * shared_info page over a RAM page of ours (Linux BUG()s if this fails), then
 * VCPUOP_register_vcpu_info moves vCPU 0's vcpu_info into a page of ours at an offset (Linux
 * panics if this fails). Bad vCPU ids are refused.
 */
#include "xtf.h"

const char xtf_test_title[] = "shared_info and vcpu_info";

#define FILL 0xa5

void test_main(void)
{
    extern struct shared_info *xtf_shared_info;
    long rc = xtf_map_shared_info();
    if (!xtf_check_rc(rc, 0, "XENMEM_add_to_physmap(shared_info)"))
        return;

    struct shared_info *s = xtf_shared_info;
    int pending = 0;
    for (unsigned int i = 0; i < 64; i++)
        pending |= s->evtchn_pending[i] != 0;
    xtf_check(!pending, "shared_info has no pending events after mapping");

    /* The page now belongs to the hypervisor's view: writes through it must stick. */
    s->evtchn_mask[63] = 0x8000000000000000ull;
    barrier();
    xtf_check(ACCESS_ONCE(s->evtchn_mask[63]) == 0x8000000000000000ull, "shared_info is writable by the guest");
    s->evtchn_mask[63] = 0;

    struct vcpu_register_vcpu_info bad = {.mfn = 0, .offset = 0};
    xtf_check_rc(HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 4000, &bad), -XEN_ENOENT, "VCPUOP_register_vcpu_info(vcpu 4000)");

    rc = xtf_register_vcpu_info(0x40);
    xtf_check_rc(rc, 0, "VCPUOP_register_vcpu_info(vcpu 0, offset 0x40)");

    /* A hypercall must not have changed the byte pattern of unrelated guest memory. */
    static uint8_t canary[64];
    memset(canary, FILL, sizeof(canary));
    (void)HYPERVISOR_xen_version(XENVER_version, NULL);
    int intact = 1;
    for (unsigned int i = 0; i < sizeof(canary); i++)
        intact &= canary[i] == FILL;
    xtf_check(intact, "guest memory untouched by an unrelated hypercall");
}

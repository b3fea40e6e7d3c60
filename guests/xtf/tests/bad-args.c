/*
 * Hostile arguments must come back as errors, never as a crash of the domain or of the shim:
 * pointers the guest has not mapped, or that map no RAM (-EFAULT), ports and vCPUs that do not
 * exist (-EINVAL, -ENOENT), an upcall vector in the exception range (-EINVAL), and hypercalls or
 * sub-ops that do not exist (-ENOSYS).
 */
#include "xtf.h"

const char xtf_test_title[] = "bad arguments";

/* Not mapped by our page tables (they cover only the low 4 GiB). */
#define UNMAPPED ((void *)0x8000000000ul)
/* Non-canonical: no translation at all. */
#define NONCANONICAL ((void *)0x8000000000000000ul)
/* Mapped by our identity map, in the MMIO hole between RAM and the IOAPIC: no RAM behind it. */
#define NO_RAM ((void *)0xf0000000ul)

void test_main(void)
{
    xtf_check_rc(HYPERVISOR_xen_version(XENVER_extraversion, UNMAPPED), -XEN_EFAULT, "XENVER_extraversion(unmapped buffer)");
    xtf_check_rc(HYPERVISOR_xen_version(XENVER_extraversion, NONCANONICAL), -XEN_EFAULT, "XENVER_extraversion(non-canonical buffer)");
    xtf_check_rc(HYPERVISOR_xen_version(XENVER_get_features, NO_RAM), -XEN_EFAULT, "XENVER_get_features(buffer outside RAM)");
    xtf_check_rc(HYPERVISOR_console_io(CONSOLEIO_write, 16, UNMAPPED), -XEN_EFAULT, "CONSOLEIO_write(unmapped buffer)");
    xtf_check_rc(HYPERVISOR_memory_op(XENMEM_add_to_physmap, UNMAPPED), -XEN_EFAULT, "XENMEM_add_to_physmap(unmapped argument)");
    xtf_check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_send, UNMAPPED), -XEN_EFAULT, "EVTCHNOP_send(unmapped argument)");
    xtf_check_rc(HYPERVISOR_hvm_op(HVMOP_get_param, NO_RAM), -XEN_EFAULT, "HVMOP_get_param(argument outside RAM)");
    /* An argument straddling the end of RAM-backed memory into unmapped space. */
    xtf_check_rc(HYPERVISOR_xen_version(XENVER_extraversion, (void *)(0x8000000000ul - 8)), -XEN_EFAULT,
                 "XENVER_extraversion(buffer crossing into unmapped space)");

    xtf_check_rc(evtchn_send(EVTCHN_2L_NR_CHANNELS + 5), -XEN_EINVAL, "EVTCHNOP_send(port beyond the 2-level limit)");
    xtf_check_rc(evtchn_send(EVTCHN_2L_NR_CHANNELS - 1), -XEN_EINVAL, "EVTCHNOP_send(unallocated port)");
    xtf_check_rc(evtchn_close(0xffffffffu), -XEN_EINVAL, "EVTCHNOP_close(port 0xffffffff)");
    xtf_check_rc(evtchn_unmask(0x7fffffffu), -XEN_EINVAL, "EVTCHNOP_unmask(port 0x7fffffff)");
    struct evtchn_bind_ipi ipi = {.vcpu = 4000};
    xtf_check_rc(HYPERVISOR_event_channel_op(EVTCHNOP_bind_ipi, &ipi), -XEN_ENOENT, "EVTCHNOP_bind_ipi(vcpu 4000)");

    struct xen_hvm_evtchn_upcall_vector uv = {.vcpu = 0, .vector = 0x05};
    xtf_check_rc(HYPERVISOR_hvm_op(HVMOP_set_evtchn_upcall_vector, &uv), -XEN_EINVAL, "HVMOP_set_evtchn_upcall_vector(vector 0x05)");

    xtf_check_rc(hypercall0(XTF_UNASSIGNED_HYPERCALL), -XEN_ENOSYS, "unassigned hypercall 46");
    xtf_check_rc(HYPERVISOR_memory_op(0x3f, NULL), -XEN_ENOSYS, "memory_op(unknown sub-op)");
    xtf_check_rc(HYPERVISOR_event_channel_op(0x3f, NULL), -XEN_ENOSYS, "event_channel_op(unknown sub-op)");
    xtf_check_rc(HYPERVISOR_hvm_op(0x3f, NULL), -XEN_ENOSYS, "hvm_op(unknown sub-op)");
    xtf_check_rc(HYPERVISOR_sched_op(0x3f, NULL), -XEN_ENOSYS, "sched_op(unknown sub-op)");

    /* After all that, the hypercall path still works. */
    xtf_check(HYPERVISOR_xen_version(XENVER_version, NULL) > 0, "xen_version still answers");
}

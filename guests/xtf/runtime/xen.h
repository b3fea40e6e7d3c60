/*
 * The slice of the Xen guest ABI the xlts test guests use, declared here from the facts in Xen's
 * public headers (xen.h, version.h, memory.h, event_channel.h, sched.h, vcpu.h, hvm/hvm_op.h,
 * hvm/params.h, arch-x86/cpuid.h, errno.h) so the guests build without libxen-dev. Names are
 * Xen's, so a reader can hold this file against those headers. x86-64 layouts only.
 */
#ifndef XTF_XEN_H
#define XTF_XEN_H

#include <stdint.h>

/* Hypercall numbers: slot nr of the hypercall page, 32 bytes each. */
#define __HYPERVISOR_memory_op        12
#define __HYPERVISOR_xen_version      17
#define __HYPERVISOR_console_io       18
#define __HYPERVISOR_grant_table_op   20
#define __HYPERVISOR_vcpu_op          24
#define __HYPERVISOR_sched_op         29
#define __HYPERVISOR_event_channel_op 32
#define __HYPERVISOR_hvm_op           34
#define HYPERCALL_STUB_SIZE           32
/* Slots 43-47 have never been assigned: a good unknown hypercall. */
#define XTF_UNASSIGNED_HYPERCALL      46

/* Negative errno values as Xen returns them (Xen's errno.h matches Linux's numbering). */
#define XEN_EPERM   1
#define XEN_ENOENT  2
#define XEN_ESRCH   3
#define XEN_EFAULT  14
#define XEN_EEXIST  17
#define XEN_EINVAL  22
#define XEN_ENOSYS  38

typedef uint16_t domid_t;
#define DOMID_SELF ((domid_t)0x7ff0)

/* CPUID: the hypervisor leaves are searched at 0x40000000 + k * 0x100. */
#define XEN_CPUID_FIRST_LEAF    0x40000000u
#define XEN_CPUID_LEAF_STRIDE   0x100u
#define XEN_CPUID_SIGNATURE_EBX 0x566e6558u /* "XenV" */
#define XEN_CPUID_SIGNATURE_ECX 0x65584d4du /* "MMXe" */
#define XEN_CPUID_SIGNATURE_EDX 0x4d4d566eu /* "nVMM" */
/* Leaf base+4 (HVM features), EAX bits. */
#define XEN_HVM_CPUID_VCPU_ID_PRESENT (1u << 3)
#define XEN_HVM_CPUID_UPCALL_VECTOR   (1u << 6)

/* xen_version sub-ops. */
#define XENVER_version      0
#define XENVER_extraversion 1
#define XENVER_get_features 6
typedef char xen_extraversion_t[16];
struct xen_feature_info {
    uint32_t submap_idx;
    uint32_t submap;
};
#define XENFEAT_auto_translated_physmap 2
#define XENFEAT_hvm_callback_vector     8
#define XENFEAT_NR_SUBMAPS              1

/* console_io sub-ops. */
#define CONSOLEIO_write 0
#define CONSOLEIO_read  1

/* memory_op: XENMEM_add_to_physmap. */
#define XENMEM_add_to_physmap   7
#define XENMAPSPACE_shared_info 0
struct xen_add_to_physmap {
    domid_t domid;
    uint16_t size;
    uint32_t space;
    uint64_t idx;
    uint64_t gpfn;
};

/* sched_op. */
#define SCHEDOP_yield    0
#define SCHEDOP_shutdown 2
struct sched_shutdown {
    uint32_t reason;
};
#define SHUTDOWN_poweroff   0
#define SHUTDOWN_reboot     1
#define SHUTDOWN_suspend    2
#define SHUTDOWN_crash      3
#define SHUTDOWN_watchdog   4
#define SHUTDOWN_soft_reset 5

/* vcpu_op. */
#define VCPUOP_register_vcpu_info 10
struct vcpu_register_vcpu_info {
    uint64_t mfn;
    uint32_t offset;
    uint32_t rsvd;
};

/* event_channel_op. */
typedef uint32_t evtchn_port_t;
#define EVTCHNOP_bind_virq     1
#define EVTCHNOP_close         3
#define EVTCHNOP_send          4
#define EVTCHNOP_status        5
#define EVTCHNOP_alloc_unbound 6
#define EVTCHNOP_bind_ipi      7
#define EVTCHNOP_unmask        9
struct evtchn_alloc_unbound {
    domid_t dom, remote_dom;
    evtchn_port_t port;
};
struct evtchn_bind_virq {
    uint32_t virq;
    uint32_t vcpu;
    evtchn_port_t port;
};
struct evtchn_bind_ipi {
    uint32_t vcpu;
    evtchn_port_t port;
};
struct evtchn_close {
    evtchn_port_t port;
};
struct evtchn_send {
    evtchn_port_t port;
};
struct evtchn_unmask {
    evtchn_port_t port;
};
#define EVTCHNSTAT_closed       0
#define EVTCHNSTAT_unbound      1
#define EVTCHNSTAT_interdomain  2
#define EVTCHNSTAT_pirq         3
#define EVTCHNSTAT_virq         4
#define EVTCHNSTAT_ipi          5
struct evtchn_status {
    domid_t dom;
    evtchn_port_t port;
    uint32_t status;
    uint32_t vcpu;
    union {
        struct { domid_t dom; } unbound;
        struct { domid_t dom; evtchn_port_t port; } interdomain;
        uint32_t pirq;
        uint32_t virq;
    } u;
};
#define VIRQ_DEBUG 1
/* 2-level ABI: 64 words of 64 bits. */
#define EVTCHN_2L_NR_CHANNELS 4096

/* hvm_op. */
#define HVMOP_set_param                0
#define HVMOP_get_param                1
#define HVMOP_set_evtchn_upcall_vector 23
struct xen_hvm_param {
    domid_t domid;
    uint16_t pad;
    uint32_t index;
    uint64_t value;
};
struct xen_hvm_evtchn_upcall_vector {
    uint32_t vcpu;
    uint8_t vector;
};
#define HVM_PARAM_CALLBACK_IRQ   0
#define HVM_PARAM_STORE_PFN      1
#define HVM_PARAM_STORE_EVTCHN   2
#define HVM_PARAM_CONSOLE_PFN    17
#define HVM_PARAM_CONSOLE_EVTCHN 18
#define HVM_NR_PARAMS            39

/* Shared memory structures (x86-64). */
struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul;
    int8_t tsc_shift;
    uint8_t flags;
    uint8_t pad1[2];
};

struct vcpu_info {
    uint8_t evtchn_upcall_pending;
    uint8_t evtchn_upcall_mask;
    uint64_t evtchn_pending_sel;
    struct {
        uint64_t cr2;
        uint64_t pad;
    } arch;
    struct vcpu_time_info time;
};

#define XEN_LEGACY_MAX_VCPUS 32
struct shared_info {
    struct vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
    uint64_t evtchn_pending[64];
    uint64_t evtchn_mask[64];
    uint32_t wc_version;
    uint32_t wc_sec;
    uint32_t wc_nsec;
    uint32_t wc_sec_hi;
    uint8_t arch[48]; /* struct arch_shared_info: PV-only fields, unused by PVH guests */
};

/* The PVH start-of-day structures (arch-x86/hvm/start_info.h). */
#define XEN_HVM_START_MAGIC_VALUE 0x336ec578u
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};
struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};
#define XEN_HVM_MEMMAP_TYPE_RAM      1
#define XEN_HVM_MEMMAP_TYPE_RESERVED 2

/* Checked at compile time against the sizes Xen's headers give (x86-64). */
_Static_assert(sizeof(struct xen_add_to_physmap) == 24, "xen_add_to_physmap");
_Static_assert(sizeof(struct vcpu_register_vcpu_info) == 16, "vcpu_register_vcpu_info");
_Static_assert(sizeof(struct evtchn_status) == 24, "evtchn_status");
_Static_assert(sizeof(struct xen_hvm_param) == 16, "xen_hvm_param");
_Static_assert(sizeof(struct vcpu_time_info) == 32, "vcpu_time_info");
_Static_assert(sizeof(struct vcpu_info) == 64, "vcpu_info");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_pending) == 0x800, "shared_info.evtchn_pending");
_Static_assert(__builtin_offsetof(struct shared_info, evtchn_mask) == 0xa00, "shared_info.evtchn_mask");
_Static_assert(__builtin_offsetof(struct shared_info, wc_version) == 0xc00, "shared_info.wc_version");
_Static_assert(sizeof(struct shared_info) == 3136, "shared_info");
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");

#endif /* XTF_XEN_H */

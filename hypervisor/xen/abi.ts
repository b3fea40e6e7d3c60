// Numeric constants of the Xen guest ABI that this code implements, under Xen's own names so a
// reader can hold them against the public headers (xen.h, event_channel.h, memory.h, vcpu.h,
// sched.h, version.h, features.h, hvm/hvm_op.h, hvm/params.h, grant_table.h). Declared once here;
// the struct layouts that go with them are in wire.ts and shared-info.ts.

// --- Hypercall numbers (xen.h). Only the families we dispatch, plus the ones Linux may probe. ---
export const __HYPERVISOR_memory_op = 12;
export const __HYPERVISOR_set_timer_op = 15;
export const __HYPERVISOR_xen_version = 17;
export const __HYPERVISOR_console_io = 18;
export const __HYPERVISOR_grant_table_op = 20;
export const __HYPERVISOR_vm_assist = 21;
/** PV-only; its hypercall-page slot holds ud2 instead of a stub. */
export const __HYPERVISOR_iret = 23;
export const __HYPERVISOR_vcpu_op = 24;
export const __HYPERVISOR_sched_op = 29;
export const __HYPERVISOR_event_channel_op = 32;
export const __HYPERVISOR_physdev_op = 33;
export const __HYPERVISOR_hvm_op = 34;

/** The hypercall page holds 4096 / 32 = 128 stubs; numbers at or above this cannot be called through it. */
export const HYPERCALL_PAGE_SLOTS = 128;
export const HYPERCALL_STUB_SIZE = 32;

// --- Domain ids (xen.h) ---
export const DOMID_FIRST_RESERVED = 0x7ff0;
export const DOMID_SELF = 0x7ff0;

// --- Virtual IRQs (xen.h). NR_VIRQS = 24. ---
export const VIRQ_TIMER = 0;
export const VIRQ_DEBUG = 1;
export const VIRQ_CONSOLE = 2;
export const VIRQ_DOM_EXC = 3;
export const VIRQ_TBUF = 4;
export const VIRQ_DEBUGGER = 6;
export const VIRQ_XENOPROF = 7;
export const VIRQ_CON_RING = 8;
export const VIRQ_PCPU_STATE = 9;
export const VIRQ_MEM_EVENT = 10;
export const VIRQ_ARGO = 11;
export const VIRQ_ENOMEM = 12;
export const VIRQ_XENPMU = 13;
export const VIRQ_ARCH_0 = 16;
export const NR_VIRQS = 24;

/**
 * Per-vCPU VIRQs (Xen's virq_is_global() is false for these): each vCPU binds its own. Every other
 * VIRQ is global and must be bound on vCPU 0, and only its binding may later move with bind_vcpu.
 */
export const PER_VCPU_VIRQS: ReadonlySet<number> = new Set([VIRQ_TIMER, VIRQ_DEBUG, VIRQ_XENOPROF, VIRQ_XENPMU]);

// --- Event channels (event_channel.h) ---
export const EVTCHNOP_bind_interdomain = 0;
export const EVTCHNOP_bind_virq = 1;
export const EVTCHNOP_bind_pirq = 2;
export const EVTCHNOP_close = 3;
export const EVTCHNOP_send = 4;
export const EVTCHNOP_status = 5;
export const EVTCHNOP_alloc_unbound = 6;
export const EVTCHNOP_bind_ipi = 7;
export const EVTCHNOP_bind_vcpu = 8;
export const EVTCHNOP_unmask = 9;
export const EVTCHNOP_reset = 10;
export const EVTCHNOP_init_control = 11;
export const EVTCHNOP_expand_array = 12;
export const EVTCHNOP_set_priority = 13;

export const EVTCHNSTAT_closed = 0;
export const EVTCHNSTAT_unbound = 1;
export const EVTCHNSTAT_interdomain = 2;
export const EVTCHNSTAT_pirq = 3;
export const EVTCHNSTAT_virq = 4;
export const EVTCHNSTAT_ipi = 5;

/**
 * Ports of the 2-level ABI with a 64-bit xen_ulong_t: 64 selector bits x 64-bit pending words
 * (EVTCHN_2L_NR_CHANNELS, the old NR_EVENT_CHANNELS).
 */
export const EVTCHN_2L_NR_CHANNELS = 4096;
export const NR_EVENT_CHANNELS = EVTCHN_2L_NR_CHANNELS;
/** Bits per xen_ulong_t on x86_64: one pending_sel bit covers this many ports. */
export const BITS_PER_EVTCHN_WORD = 64;

// --- Memory (memory.h) ---
export const XENMEM_increase_reservation = 0;
export const XENMEM_decrease_reservation = 1;
export const XENMEM_maximum_ram_page = 2;
export const XENMEM_current_reservation = 3;
export const XENMEM_maximum_reservation = 4;
export const XENMEM_populate_physmap = 6;
export const XENMEM_add_to_physmap = 7;
export const XENMEM_memory_map = 9;
export const XENMEM_maximum_gpfn = 14;
export const XENMEM_remove_from_physmap = 15;
export const XENMEM_add_to_physmap_batch = 23;

export const XENMAPSPACE_shared_info = 0;
export const XENMAPSPACE_grant_table = 1;
export const XENMAPSPACE_gmfn = 2;
export const XENMAPSPACE_gmfn_range = 3;
export const XENMAPSPACE_gmfn_foreign = 4;
export const XENMAPSPACE_dev_mmio = 5;

// --- HVM ops and params (hvm/hvm_op.h, hvm/params.h) ---
export const HVMOP_set_param = 0;
export const HVMOP_get_param = 1;
export const HVMOP_pagetable_dying = 9;
export const HVMOP_get_time = 10;
export const HVMOP_set_evtchn_upcall_vector = 23;

export const HVM_PARAM_CALLBACK_IRQ = 0;
export const HVM_PARAM_STORE_PFN = 1;
export const HVM_PARAM_STORE_EVTCHN = 2;
export const HVM_PARAM_PAE_ENABLED = 4;
export const HVM_PARAM_TIMER_MODE = 10;
export const HVM_PARAM_CONSOLE_PFN = 17;
export const HVM_PARAM_CONSOLE_EVTCHN = 18;
export const HVM_NR_PARAMS = 39;

/** CALLBACK_IRQ value bits 63:56 select how the value is read. */
export const HVM_PARAM_CALLBACK_TYPE_GSI = 0;
export const HVM_PARAM_CALLBACK_TYPE_PCI_INTX = 1;
export const HVM_PARAM_CALLBACK_TYPE_VECTOR = 2;

/** Xen refuses upcall vectors below 0x10 (the exception range). */
export const MIN_UPCALL_VECTOR = 0x10;

// --- vCPU ops (vcpu.h) ---
export const VCPUOP_initialise = 0;
export const VCPUOP_up = 1;
export const VCPUOP_down = 2;
export const VCPUOP_is_up = 3;
export const VCPUOP_get_runstate_info = 4;
export const VCPUOP_register_runstate_memory_area = 5;
export const VCPUOP_set_periodic_timer = 6;
export const VCPUOP_stop_periodic_timer = 7;
export const VCPUOP_set_singleshot_timer = 8;
export const VCPUOP_stop_singleshot_timer = 9;
export const VCPUOP_register_vcpu_info = 10;
export const VCPUOP_send_nmi = 11;
export const VCPUOP_get_physid = 12;
export const VCPUOP_register_vcpu_time_memory_area = 13;

// --- Scheduler ops and shutdown reasons (sched.h) ---
export const SCHEDOP_yield = 0;
export const SCHEDOP_block = 1;
export const SCHEDOP_shutdown = 2;
export const SCHEDOP_poll = 3;
export const SCHEDOP_remote_shutdown = 4;
export const SCHEDOP_shutdown_code = 5;
export const SCHEDOP_watchdog = 6;

export const SHUTDOWN_poweroff = 0;
export const SHUTDOWN_reboot = 1;
export const SHUTDOWN_suspend = 2;
export const SHUTDOWN_crash = 3;
export const SHUTDOWN_watchdog = 4;
export const SHUTDOWN_soft_reset = 5;

/** Xen's do_poll() refuses more ports than this in one SCHEDOP_poll. */
export const SCHEDOP_POLL_MAX_PORTS = 128;

// --- Console (xen.h) ---
export const CONSOLEIO_write = 0;
export const CONSOLEIO_read = 1;

// --- Version (version.h) ---
export const XENVER_version = 0;
export const XENVER_extraversion = 1;
export const XENVER_compile_info = 2;
export const XENVER_capabilities = 3;
export const XENVER_changeset = 4;
export const XENVER_platform_parameters = 5;
export const XENVER_get_features = 6;
export const XENVER_pagesize = 7;
export const XENVER_guest_handle = 8;
export const XENVER_commandline = 9;
export const XENVER_build_id = 10;

/** Sizes of the fixed char arrays XENVER_* fill (version.h typedefs). */
export const XEN_EXTRAVERSION_LEN = 16;
export const XEN_CAPABILITIES_INFO_LEN = 1024;
export const XEN_CHANGESET_INFO_LEN = 64;
export const XEN_COMMANDLINE_LEN = 1024;
/** xen_domain_handle_t: a 16-byte UUID. */
export const XEN_DOMAIN_HANDLE_LEN = 16;

// --- Feature bits reported by XENVER_get_features, submap 0 (features.h) ---
export const XENFEAT_writable_page_tables = 0;
export const XENFEAT_writable_descriptor_tables = 1;
export const XENFEAT_auto_translated_physmap = 2;
export const XENFEAT_supervisor_mode_kernel = 3;
export const XENFEAT_pae_pgdir_above_4gb = 4;
export const XENFEAT_mmu_pt_update_preserve_ad = 5;
export const XENFEAT_highmem_assist = 6;
export const XENFEAT_gnttab_map_avail_bits = 7;
export const XENFEAT_hvm_callback_vector = 8;
export const XENFEAT_hvm_safe_pvclock = 9;
export const XENFEAT_hvm_pirqs = 10;
export const XENFEAT_dom0 = 11;
export const XENFEAT_NR_SUBMAPS = 1;

// --- Grant tables (grant_table.h) ---
export const GNTTABOP_map_grant_ref = 0;
export const GNTTABOP_unmap_grant_ref = 1;
export const GNTTABOP_setup_table = 2;
export const GNTTABOP_dump_table = 3;
export const GNTTABOP_transfer = 4;
export const GNTTABOP_copy = 5;
export const GNTTABOP_query_size = 6;
export const GNTTABOP_unmap_and_replace = 7;
export const GNTTABOP_set_version = 8;
export const GNTTABOP_get_status_frames = 9;
export const GNTTABOP_get_version = 10;

export const GNTST_okay = 0;
export const GNTST_general_error = -1;
export const GNTST_bad_domain = -2;
export const GNTST_permission_denied = -8;

// --- CPUID (arch-x86/cpuid.h) ---
export const XEN_CPUID_FIRST_LEAF = 0x40000000;
export const XEN_CPUID_SIGNATURE_EBX = 0x566e6558; // "XenV"
export const XEN_CPUID_SIGNATURE_ECX = 0x65584d4d; // "MMXe"
export const XEN_CPUID_SIGNATURE_EDX = 0x4d4d566e; // "nVMM"
export const XEN_HVM_CPUID_APIC_ACCESS_VIRT = 1 << 0;
export const XEN_HVM_CPUID_X2APIC_VIRT = 1 << 1;
export const XEN_HVM_CPUID_IOMMU_MAPPINGS = 1 << 2;
export const XEN_HVM_CPUID_VCPU_ID_PRESENT = 1 << 3;
export const XEN_HVM_CPUID_DOMID_PRESENT = 1 << 4;
export const XEN_HVM_CPUID_EXT_DEST_ID = 1 << 5;
export const XEN_HVM_CPUID_UPCALL_VECTOR = 1 << 6;

/** x86 page geometry the ABI is defined in (XEN_PAGE_SHIFT). */
export const XEN_PAGE_SHIFT = 12;
export const XEN_PAGE_SIZE = 1 << XEN_PAGE_SHIFT;
/** XEN_LEGACY_MAX_VCPUS: vCPUs with a vcpu_info slot inside shared_info. */
export const XEN_LEGACY_MAX_VCPUS = 32;

// Argument structs of the hypercalls we implement, x86_64 layout, each declared once with the C
// struct it mirrors quoted above it. layout.spec.ts compiles these against /usr/include/xen and
// compares every size and offset. The shared_info page and vcpu_info are in shared-info.ts.
//
// A guest handle (XEN_GUEST_HANDLE(T)) is `struct { T *p; }` on x86: one 64-bit guest-virtual
// pointer, declared here as u64 with its C path '<name>.p'.
import { defineStruct } from '../../ring-buffer/layout.ts';

// ---------------------------------------------------------------- version.h

// struct xen_feature_info {
//     unsigned int submap_idx;    /* IN: which 32-bit submap to return */
//     uint32_t     submap;        /* OUT: 32-bit submap */
// };
export const xen_feature_info = defineStruct('xen_feature_info', 8, {
  submap_idx: { offset: 0, type: 'u32' },
  submap: { offset: 4, type: 'u32' },
});

// struct xen_platform_parameters { xen_ulong_t virt_start; };
export const xen_platform_parameters = defineStruct('xen_platform_parameters', 8, {
  virt_start: { offset: 0, type: 'u64' },
});

// struct xen_compile_info {
//     char compiler[64]; char compile_by[16]; char compile_domain[32]; char compile_date[32];
// };
export const xen_compile_info = defineStruct('xen_compile_info', 144, {
  compiler: { offset: 0, type: { bytes: 64 } },
  compile_by: { offset: 64, type: { bytes: 16 } },
  compile_domain: { offset: 80, type: { bytes: 32 } },
  compile_date: { offset: 112, type: { bytes: 32 } },
});

// ---------------------------------------------------------------- memory.h

// struct xen_add_to_physmap {
//     domid_t domid;          /* which domain to change the mapping for */
//     uint16_t size;          /* number of pages for gmfn_range */
//     unsigned int space;     /* => enum phys_map_space */
//     xen_ulong_t idx;        /* index into space being mapped */
//     xen_pfn_t gpfn;         /* GPFN where the source mapping page should appear */
// };
export const xen_add_to_physmap = defineStruct('xen_add_to_physmap', 24, {
  domid: { offset: 0, type: 'u16' },
  size: { offset: 2, type: 'u16' },
  space: { offset: 4, type: 'u32' },
  idx: { offset: 8, type: 'u64' },
  gpfn: { offset: 16, type: 'u64' },
});

// struct xen_memory_domain { domid_t domid; };
export const xen_memory_domain = defineStruct('xen_memory_domain', 2, {
  domid: { offset: 0, type: 'u16' },
});

// struct xen_memory_map {
//     unsigned int nr_entries;          /* IN: room in buffer; OUT: entries stored */
//     XEN_GUEST_HANDLE(void) buffer;    /* e820 entries, as INT 15h/E820 returns them */
// };
export const xen_memory_map = defineStruct('xen_memory_map', 16, {
  nr_entries: { offset: 0, type: 'u32' },
  buffer: { offset: 8, type: 'u64', c: 'buffer.p' },
});

// The entries XENMEM_memory_map writes are BIOS E820 records, 20 bytes and packed (Linux:
// struct e820_entry __attribute__((packed))). Xen's public headers do not declare the struct;
// layout.spec.ts checks this layout against a packed C definition of its own.
//   struct e820entry { uint64_t addr; uint64_t size; uint32_t type; } __attribute__((packed));
export const e820entry = defineStruct('e820entry', 20, {
  addr: { offset: 0, type: 'u64' },
  size: { offset: 8, type: 'u64' },
  type: { offset: 16, type: 'u32' },
});

// ---------------------------------------------------------------- hvm/hvm_op.h

// struct xen_hvm_param {
//     domid_t  domid;    /* IN */
//     uint16_t pad;
//     uint32_t index;    /* IN */
//     uint64_t value;    /* IN/OUT */
// };
export const xen_hvm_param = defineStruct('xen_hvm_param', 16, {
  domid: { offset: 0, type: 'u16' },
  pad: { offset: 2, type: 'u16' },
  index: { offset: 4, type: 'u32' },
  value: { offset: 8, type: 'u64' },
});

// struct xen_hvm_evtchn_upcall_vector { uint32_t vcpu; uint8_t vector; };   /* 8 with padding */
export const xen_hvm_evtchn_upcall_vector = defineStruct('xen_hvm_evtchn_upcall_vector', 8, {
  vcpu: { offset: 0, type: 'u32' },
  vector: { offset: 4, type: 'u8' },
});

// ---------------------------------------------------------------- vcpu.h

// struct vcpu_register_vcpu_info {
//     uint64_t mfn;    /* mfn of page to place vcpu_info */
//     uint32_t offset; /* offset within page */
//     uint32_t rsvd;   /* unused */
// };
export const vcpu_register_vcpu_info = defineStruct('vcpu_register_vcpu_info', 16, {
  mfn: { offset: 0, type: 'u64' },
  offset: { offset: 8, type: 'u32' },
  rsvd: { offset: 12, type: 'u32' },
});

// ---------------------------------------------------------------- sched.h

// struct sched_shutdown { unsigned int reason; /* SHUTDOWN_* */ };
export const sched_shutdown = defineStruct('sched_shutdown', 4, {
  reason: { offset: 0, type: 'u32' },
});

// struct sched_poll {
//     XEN_GUEST_HANDLE(evtchn_port_t) ports;
//     unsigned int nr_ports;
//     uint64_t timeout;
// };
export const sched_poll = defineStruct('sched_poll', 24, {
  ports: { offset: 0, type: 'u64', c: 'ports.p' },
  nr_ports: { offset: 8, type: 'u32' },
  timeout: { offset: 16, type: 'u64' },
});

// ---------------------------------------------------------------- event_channel.h

// struct evtchn_alloc_unbound {
//     domid_t dom, remote_dom;   /* IN */
//     evtchn_port_t port;        /* OUT */
// };
export const evtchn_alloc_unbound = defineStruct('evtchn_alloc_unbound', 8, {
  dom: { offset: 0, type: 'u16' },
  remote_dom: { offset: 2, type: 'u16' },
  port: { offset: 4, type: 'u32' },
});

// struct evtchn_bind_interdomain {
//     domid_t remote_dom;           /* IN */
//     evtchn_port_t remote_port;    /* IN */
//     evtchn_port_t local_port;     /* OUT */
// };
export const evtchn_bind_interdomain = defineStruct('evtchn_bind_interdomain', 12, {
  remote_dom: { offset: 0, type: 'u16' },
  remote_port: { offset: 4, type: 'u32' },
  local_port: { offset: 8, type: 'u32' },
});

// struct evtchn_bind_virq {
//     uint32_t virq;        /* IN, enum virq */
//     uint32_t vcpu;        /* IN */
//     evtchn_port_t port;   /* OUT */
// };
export const evtchn_bind_virq = defineStruct('evtchn_bind_virq', 12, {
  virq: { offset: 0, type: 'u32' },
  vcpu: { offset: 4, type: 'u32' },
  port: { offset: 8, type: 'u32' },
});

// struct evtchn_bind_ipi {
//     uint32_t vcpu;        /* IN */
//     evtchn_port_t port;   /* OUT */
// };
export const evtchn_bind_ipi = defineStruct('evtchn_bind_ipi', 8, {
  vcpu: { offset: 0, type: 'u32' },
  port: { offset: 4, type: 'u32' },
});

// struct evtchn_close  { evtchn_port_t port; };
// struct evtchn_send   { evtchn_port_t port; };
// struct evtchn_unmask { evtchn_port_t port; };
export const evtchn_close = defineStruct('evtchn_close', 4, { port: { offset: 0, type: 'u32' } });
export const evtchn_send = defineStruct('evtchn_send', 4, { port: { offset: 0, type: 'u32' } });
export const evtchn_unmask = defineStruct('evtchn_unmask', 4, { port: { offset: 0, type: 'u32' } });

// struct evtchn_status {
//     domid_t  dom;                 /* IN */
//     evtchn_port_t port;           /* IN */
//     uint32_t status;              /* OUT, EVTCHNSTAT_* */
//     uint32_t vcpu;                /* OUT, vCPU the channel notifies */
//     union {
//         struct { domid_t dom; } unbound;                            /* EVTCHNSTAT_unbound */
//         struct { domid_t dom; evtchn_port_t port; } interdomain;    /* EVTCHNSTAT_interdomain */
//         uint32_t pirq;                                              /* EVTCHNSTAT_pirq */
//         uint32_t virq;                                              /* EVTCHNSTAT_virq */
//     } u;
// };
// The union is declared as its two 32-bit words: u_word0 holds u.virq / u.pirq, or (little-endian,
// low half) u.unbound.dom / u.interdomain.dom; u_word1 holds u.interdomain.port.
export const evtchn_status = defineStruct('evtchn_status', 24, {
  dom: { offset: 0, type: 'u16' },
  port: { offset: 4, type: 'u32' },
  status: { offset: 8, type: 'u32' },
  vcpu: { offset: 12, type: 'u32' },
  u_word0: { offset: 16, type: 'u32', c: 'u.virq' },
  u_word1: { offset: 20, type: 'u32', c: 'u.interdomain.port' },
});

// struct evtchn_bind_vcpu {
//     evtchn_port_t port;   /* IN */
//     uint32_t vcpu;        /* IN */
// };
export const evtchn_bind_vcpu = defineStruct('evtchn_bind_vcpu', 8, {
  port: { offset: 0, type: 'u32' },
  vcpu: { offset: 4, type: 'u32' },
});

// ---------------------------------------------------------------- grant_table.h

// struct gnttab_query_size {
//     domid_t  dom;                 /* IN */
//     uint32_t nr_frames;           /* OUT */
//     uint32_t max_nr_frames;       /* OUT */
//     int16_t  status;              /* OUT, GNTST_* */
// };
export const gnttab_query_size = defineStruct('gnttab_query_size', 16, {
  dom: { offset: 0, type: 'u16' },
  nr_frames: { offset: 4, type: 'u32' },
  max_nr_frames: { offset: 8, type: 'u32' },
  status: { offset: 12, type: 'i16' },
});

// struct gnttab_set_version { uint32_t version; /* IN/OUT */ };
export const gnttab_set_version = defineStruct('gnttab_set_version', 4, {
  version: { offset: 0, type: 'u32' },
});

// struct gnttab_get_version {
//     domid_t dom;          /* IN */
//     uint16_t pad;
//     uint32_t version;     /* OUT */
// };
export const gnttab_get_version = defineStruct('gnttab_get_version', 8, {
  dom: { offset: 0, type: 'u16' },
  pad: { offset: 2, type: 'u16' },
  version: { offset: 4, type: 'u32' },
});

/** Every layout above, for the header-comparison test. */
export const WIRE_LAYOUTS = [
  xen_feature_info,
  xen_platform_parameters,
  xen_compile_info,
  xen_add_to_physmap,
  xen_memory_domain,
  xen_memory_map,
  xen_hvm_param,
  xen_hvm_evtchn_upcall_vector,
  vcpu_register_vcpu_info,
  sched_shutdown,
  sched_poll,
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_virq,
  evtchn_bind_ipi,
  evtchn_close,
  evtchn_send,
  evtchn_unmask,
  evtchn_status,
  evtchn_bind_vcpu,
  gnttab_query_size,
  gnttab_set_version,
  gnttab_get_version,
] as const;

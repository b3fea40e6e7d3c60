// The KVM userspace structs xlts passes through ioctls or reads from the kvm_run page, x86_64, as
// in <linux/kvm.h> and <asm/kvm.h> (Linux 6.1 UAPI). Each is quoted from the header and declared
// once; test/kvm-structs.test.ts compiles the offsets and sizes against the installed headers.
import { defineStruct } from '../../ring-buffer/layout.ts';

// struct kvm_regs {
// 	__u64 rax, rbx, rcx, rdx;
// 	__u64 rsi, rdi, rsp, rbp;
// 	__u64 r8,  r9,  r10, r11;
// 	__u64 r12, r13, r14, r15;
// 	__u64 rip, rflags;
// };
export const KVM_REGS = defineStruct('kvm_regs', 144, {
  rax: { offset: 0, type: 'u64' },
  rbx: { offset: 8, type: 'u64' },
  rcx: { offset: 16, type: 'u64' },
  rdx: { offset: 24, type: 'u64' },
  rsi: { offset: 32, type: 'u64' },
  rdi: { offset: 40, type: 'u64' },
  rsp: { offset: 48, type: 'u64' },
  rbp: { offset: 56, type: 'u64' },
  r8: { offset: 64, type: 'u64' },
  r9: { offset: 72, type: 'u64' },
  r10: { offset: 80, type: 'u64' },
  r11: { offset: 88, type: 'u64' },
  r12: { offset: 96, type: 'u64' },
  r13: { offset: 104, type: 'u64' },
  r14: { offset: 112, type: 'u64' },
  r15: { offset: 120, type: 'u64' },
  rip: { offset: 128, type: 'u64' },
  rflags: { offset: 136, type: 'u64' },
});

// struct kvm_segment {
// 	__u64 base;
// 	__u32 limit;
// 	__u16 selector;
// 	__u8  type;
// 	__u8  present, dpl, db, s, l, g, avl;
// 	__u8  unusable;
// 	__u8  padding;
// };
export const KVM_SEGMENT = defineStruct('kvm_segment', 24, {
  base: { offset: 0, type: 'u64' },
  limit: { offset: 8, type: 'u32' },
  selector: { offset: 12, type: 'u16' },
  type: { offset: 14, type: 'u8' },
  present: { offset: 15, type: 'u8' },
  dpl: { offset: 16, type: 'u8' },
  db: { offset: 17, type: 'u8' },
  s: { offset: 18, type: 'u8' },
  l: { offset: 19, type: 'u8' },
  g: { offset: 20, type: 'u8' },
  avl: { offset: 21, type: 'u8' },
  unusable: { offset: 22, type: 'u8' },
});

// struct kvm_dtable {
// 	__u64 base;
// 	__u16 limit;
// 	__u16 padding[3];
// };
export const KVM_DTABLE = defineStruct('kvm_dtable', 16, {
  base: { offset: 0, type: 'u64' },
  limit: { offset: 8, type: 'u16' },
});

// struct kvm_sregs {
// 	struct kvm_segment cs, ds, es, fs, gs, ss;
// 	struct kvm_segment tr, ldt;
// 	struct kvm_dtable gdt, idt;
// 	__u64 cr0, cr2, cr3, cr4, cr8;
// 	__u64 efer;
// 	__u64 apic_base;
// 	__u64 interrupt_bitmap[(KVM_NR_INTERRUPTS + 63) / 64];
// };
export const KVM_SREGS = defineStruct('kvm_sregs', 312, {
  cs: { offset: 0, type: KVM_SEGMENT },
  ds: { offset: 24, type: KVM_SEGMENT },
  es: { offset: 48, type: KVM_SEGMENT },
  fs: { offset: 72, type: KVM_SEGMENT },
  gs: { offset: 96, type: KVM_SEGMENT },
  ss: { offset: 120, type: KVM_SEGMENT },
  tr: { offset: 144, type: KVM_SEGMENT },
  ldt: { offset: 168, type: KVM_SEGMENT },
  gdt: { offset: 192, type: KVM_DTABLE },
  idt: { offset: 208, type: KVM_DTABLE },
  cr0: { offset: 224, type: 'u64' },
  cr2: { offset: 232, type: 'u64' },
  cr3: { offset: 240, type: 'u64' },
  cr4: { offset: 248, type: 'u64' },
  cr8: { offset: 256, type: 'u64' },
  efer: { offset: 264, type: 'u64' },
  apic_base: { offset: 272, type: 'u64' },
  interrupt_bitmap: { offset: 280, type: 'u64', count: 4 },
});

// struct kvm_run {
// 	/* in */
// 	__u8 request_interrupt_window;
// 	__u8 immediate_exit;
// 	__u8 padding1[6];
// 	/* out */
// 	__u32 exit_reason;
// 	__u8 ready_for_interrupt_injection;
// 	__u8 if_flag;
// 	__u16 flags;
// 	/* in (pre_kvm_run), out (post_kvm_run) */
// 	__u64 cr8;
// 	__u64 apic_base;
// 	union { ... exit arms, padded to 256 bytes ... };
// 	__u64 kvm_valid_regs;
// 	__u64 kvm_dirty_regs;
// 	union { struct kvm_sync_regs regs; char padding[SYNC_REGS_SIZE_BYTES]; } s;
// };
export const KVM_RUN_HEADER = defineStruct('kvm_run', 2352, {
  request_interrupt_window: { offset: 0, type: 'u8' },
  immediate_exit: { offset: 1, type: 'u8' },
  exit_reason: { offset: 8, type: 'u32' },
  ready_for_interrupt_injection: { offset: 12, type: 'u8' },
  if_flag: { offset: 13, type: 'u8' },
  flags: { offset: 14, type: 'u16' },
  cr8: { offset: 16, type: 'u64' },
  apic_base: { offset: 24, type: 'u64' },
  kvm_valid_regs: { offset: 288, type: 'u64' },
  kvm_dirty_regs: { offset: 296, type: 'u64' },
});

/** Offset of kvm_run's anonymous exit union; each arm below is declared relative to it. */
export const KVM_RUN_EXIT_UNION_OFFSET = 32;

// /* KVM_EXIT_UNKNOWN */
// struct { __u64 hardware_exit_reason; } hw;
export const KVM_RUN_HW = defineStruct('kvm_run.hw', 8, {
  hardware_exit_reason: { offset: 0, type: 'u64' },
}, { type: 'struct kvm_run', member: 'hw' });

// /* KVM_EXIT_FAIL_ENTRY */
// struct { __u64 hardware_entry_failure_reason; __u32 cpu; } fail_entry;
export const KVM_RUN_FAIL_ENTRY = defineStruct('kvm_run.fail_entry', 16, {
  hardware_entry_failure_reason: { offset: 0, type: 'u64' },
  cpu: { offset: 8, type: 'u32' },
}, { type: 'struct kvm_run', member: 'fail_entry' });

// /* KVM_EXIT_IO */
// struct {
// 	__u8 direction;
// 	__u8 size; /* bytes */
// 	__u16 port;
// 	__u32 count;
// 	__u64 data_offset; /* relative to kvm_run start */
// } io;
export const KVM_RUN_IO = defineStruct('kvm_run.io', 16, {
  direction: { offset: 0, type: 'u8' },
  size: { offset: 1, type: 'u8' },
  port: { offset: 2, type: 'u16' },
  count: { offset: 4, type: 'u32' },
  data_offset: { offset: 8, type: 'u64' },
}, { type: 'struct kvm_run', member: 'io' });

// /* KVM_EXIT_MMIO */
// struct {
// 	__u64 phys_addr;
// 	__u8  data[8];
// 	__u32 len;
// 	__u8  is_write;
// } mmio;
export const KVM_RUN_MMIO = defineStruct('kvm_run.mmio', 24, {
  phys_addr: { offset: 0, type: 'u64' },
  data: { offset: 8, type: 'u8', count: 8 },
  len: { offset: 16, type: 'u32' },
  is_write: { offset: 20, type: 'u8' },
}, { type: 'struct kvm_run', member: 'mmio' });

// /* KVM_EXIT_HYPERCALL */
// struct {
// 	__u64 nr;
// 	__u64 args[6];
// 	__u64 ret;
// 	__u32 longmode;
// 	__u32 pad;
// } hypercall;
export const KVM_RUN_HYPERCALL = defineStruct('kvm_run.hypercall', 72, {
  nr: { offset: 0, type: 'u64' },
  args: { offset: 8, type: 'u64', count: 6 },
  ret: { offset: 56, type: 'u64' },
  longmode: { offset: 64, type: 'u32' },
}, { type: 'struct kvm_run', member: 'hypercall' });

// /* KVM_EXIT_INTERNAL_ERROR */
// struct {
// 	__u32 suberror;
// 	/* Available with KVM_CAP_INTERNAL_ERROR_DATA: */
// 	__u32 ndata;
// 	__u64 data[16];
// } internal;
export const KVM_RUN_INTERNAL = defineStruct('kvm_run.internal', 136, {
  suberror: { offset: 0, type: 'u32' },
  ndata: { offset: 4, type: 'u32' },
  data: { offset: 8, type: 'u64', count: 16 },
}, { type: 'struct kvm_run', member: 'internal' });

// /* KVM_EXIT_SYSTEM_EVENT */
// struct {
// 	__u32 type;
// 	__u32 ndata;
// 	union { __u64 flags; __u64 data[16]; };
// } system_event;
export const KVM_RUN_SYSTEM_EVENT = defineStruct('kvm_run.system_event', 136, {
  type: { offset: 0, type: 'u32' },
  ndata: { offset: 4, type: 'u32' },
  data: { offset: 8, type: 'u64', count: 16 },
}, { type: 'struct kvm_run', member: 'system_event' });

// /* KVM_EXIT_X86_RDMSR / KVM_EXIT_X86_WRMSR */
// struct {
// 	__u8 error; /* user -> kernel */
// 	__u8 pad[7];
// 	__u32 reason; /* kernel -> user */
// 	__u32 index; /* kernel -> user */
// 	__u64 data; /* kernel <-> user */
// } msr;
export const KVM_RUN_MSR = defineStruct('kvm_run.msr', 24, {
  error: { offset: 0, type: 'u8' },
  reason: { offset: 8, type: 'u32' },
  index: { offset: 12, type: 'u32' },
  data: { offset: 16, type: 'u64' },
}, { type: 'struct kvm_run', member: 'msr' });

// struct kvm_userspace_memory_region {
// 	__u32 slot;
// 	__u32 flags;
// 	__u64 guest_phys_addr;
// 	__u64 memory_size; /* bytes */
// 	__u64 userspace_addr; /* start of the userspace allocated memory */
// };
export const KVM_USERSPACE_MEMORY_REGION = defineStruct('kvm_userspace_memory_region', 32, {
  slot: { offset: 0, type: 'u32' },
  flags: { offset: 4, type: 'u32' },
  guest_phys_addr: { offset: 8, type: 'u64' },
  memory_size: { offset: 16, type: 'u64' },
  userspace_addr: { offset: 24, type: 'u64' },
});

// struct kvm_cpuid_entry2 {
// 	__u32 function;
// 	__u32 index;
// 	__u32 flags;
// 	__u32 eax;
// 	__u32 ebx;
// 	__u32 ecx;
// 	__u32 edx;
// 	__u32 padding[3];
// };
export const KVM_CPUID_ENTRY2 = defineStruct('kvm_cpuid_entry2', 40, {
  function: { offset: 0, type: 'u32' },
  index: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  eax: { offset: 12, type: 'u32' },
  ebx: { offset: 16, type: 'u32' },
  ecx: { offset: 20, type: 'u32' },
  edx: { offset: 24, type: 'u32' },
});

// struct kvm_cpuid2 {
// 	__u32 nent;
// 	__u32 padding;
// 	__DECLARE_FLEX_ARRAY(struct kvm_cpuid_entry2, entries);
// };
export const KVM_CPUID2 = defineStruct('kvm_cpuid2', 8, {
  nent: { offset: 0, type: 'u32' },
});

// struct kvm_msr_entry {
// 	__u32 index;
// 	__u32 reserved;
// 	__u64 data;
// };
export const KVM_MSR_ENTRY = defineStruct('kvm_msr_entry', 16, {
  index: { offset: 0, type: 'u32' },
  data: { offset: 8, type: 'u64' },
});

// struct kvm_msrs {
// 	__u32 nmsrs; /* number of msrs in entries */
// 	__u32 pad;
// 	__DECLARE_FLEX_ARRAY(struct kvm_msr_entry, entries);
// };
export const KVM_MSRS = defineStruct('kvm_msrs', 8, {
  nmsrs: { offset: 0, type: 'u32' },
});

// struct kvm_msr_list {
// 	__u32 nmsrs; /* number of msrs in entries */
// 	__DECLARE_FLEX_ARRAY(__u32, indices);
// };
export const KVM_MSR_LIST = defineStruct('kvm_msr_list', 4, {
  nmsrs: { offset: 0, type: 'u32' },
});

// struct kvm_msr_filter_range {
// 	__u32 flags;
// 	__u32 nmsrs; /* number of msrs in bitmap */
// 	__u32 base;  /* MSR index the bitmap starts at */
// 	__u8 *bitmap; /* a 1 bit allows the operations in flags, 0 denies */
// };
export const KVM_MSR_FILTER_RANGE = defineStruct('kvm_msr_filter_range', 24, {
  flags: { offset: 0, type: 'u32' },
  nmsrs: { offset: 4, type: 'u32' },
  base: { offset: 8, type: 'u32' },
  bitmap: { offset: 16, type: 'u64' },
});

// #define KVM_MSR_FILTER_MAX_RANGES 16
// struct kvm_msr_filter {
// 	__u32 flags;
// 	struct kvm_msr_filter_range ranges[KVM_MSR_FILTER_MAX_RANGES];
// };
export const KVM_MSR_FILTER = defineStruct('kvm_msr_filter', 392, {
  flags: { offset: 0, type: 'u32' },
  ranges: { offset: 8, type: KVM_MSR_FILTER_RANGE, count: 16 },
});

// struct kvm_msi {
// 	__u32 address_lo;
// 	__u32 address_hi;
// 	__u32 data;
// 	__u32 flags;
// 	__u32 devid;
// 	__u8  pad[12];
// };
export const KVM_MSI = defineStruct('kvm_msi', 32, {
  address_lo: { offset: 0, type: 'u32' },
  address_hi: { offset: 4, type: 'u32' },
  data: { offset: 8, type: 'u32' },
  flags: { offset: 12, type: 'u32' },
  devid: { offset: 16, type: 'u32' },
});

// struct kvm_irqfd {
// 	__u32 fd;
// 	__u32 gsi;
// 	__u32 flags;
// 	__u32 resamplefd;
// 	__u8  pad[16];
// };
export const KVM_IRQFD = defineStruct('kvm_irqfd', 32, {
  fd: { offset: 0, type: 'u32' },
  gsi: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  resamplefd: { offset: 12, type: 'u32' },
});

// struct kvm_ioeventfd {
// 	__u64 datamatch;
// 	__u64 addr;        /* legal pio/mmio address */
// 	__u32 len;         /* 1, 2, 4, or 8 bytes; or 0 to ignore length */
// 	__s32 fd;
// 	__u32 flags;
// 	__u8  pad[36];
// };
export const KVM_IOEVENTFD = defineStruct('kvm_ioeventfd', 64, {
  datamatch: { offset: 0, type: 'u64' },
  addr: { offset: 8, type: 'u64' },
  len: { offset: 16, type: 'u32' },
  fd: { offset: 20, type: 'i32' },
  flags: { offset: 24, type: 'u32' },
});

// struct kvm_pit_config {
// 	__u32 flags;
// 	__u32 pad[15];
// };
export const KVM_PIT_CONFIG = defineStruct('kvm_pit_config', 64, {
  flags: { offset: 0, type: 'u32' },
});

// struct kvm_enable_cap {
// 	/* in */
// 	__u32 cap;
// 	__u32 flags;
// 	__u64 args[4];
// 	__u8  pad[64];
// };
export const KVM_ENABLE_CAP = defineStruct('kvm_enable_cap', 104, {
  cap: { offset: 0, type: 'u32' },
  flags: { offset: 4, type: 'u32' },
  args: { offset: 8, type: 'u64', count: 4 },
});

// struct kvm_translation {
// 	/* in */
// 	__u64 linear_address;
// 	/* out */
// 	__u64 physical_address;
// 	__u8  valid;
// 	__u8  writeable;
// 	__u8  usermode;
// 	__u8  pad[5];
// };
export const KVM_TRANSLATION = defineStruct('kvm_translation', 24, {
  linear_address: { offset: 0, type: 'u64' },
  physical_address: { offset: 8, type: 'u64' },
  valid: { offset: 16, type: 'u8' },
  writeable: { offset: 17, type: 'u8' },
  usermode: { offset: 18, type: 'u8' },
});

// #define KVM_APIC_REG_SIZE 0x400
// struct kvm_lapic_state {
// 	char regs[KVM_APIC_REG_SIZE];
// };
// Kept as raw bytes: the register page is indexed by APIC register offset (APIC_SPIV = 0xF0, ...).
export const KVM_LAPIC_STATE_SIZE = 0x400;

// struct kvm_mp_state {
// 	__u32 mp_state;
// };
export const KVM_MP_STATE = defineStruct('kvm_mp_state', 4, {
  mp_state: { offset: 0, type: 'u32' },
});

// struct kvm_irq_level {
// 	union { __u32 irq; __s32 status; };
// 	__u32 level;
// };
export const KVM_IRQ_LEVEL = defineStruct('kvm_irq_level', 8, {
  irq: { offset: 0, type: 'u32' },
  level: { offset: 4, type: 'u32' },
});

// struct kvm_irq_routing_entry {
// 	__u32 gsi;
// 	__u32 type;
// 	__u32 flags;
// 	__u32 pad;
// 	union {
// 		struct kvm_irq_routing_irqchip irqchip;   /* __u32 irqchip; __u32 pin; */
// 		struct kvm_irq_routing_msi msi;           /* __u32 address_lo, address_hi, data; union { pad, devid }; */
// 		...
// 		__u32 pad[8];
// 	} u;
// };
// The union is declared as its two arms we use, at the union's offset (16).
export const KVM_IRQ_ROUTING_IRQCHIP_ENTRY = defineStruct('kvm_irq_routing_entry (irqchip)', 48, {
  gsi: { offset: 0, type: 'u32' },
  type: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  'u.irqchip.irqchip': { offset: 16, type: 'u32' },
  'u.irqchip.pin': { offset: 20, type: 'u32' },
}, { type: 'struct kvm_irq_routing_entry' });
export const KVM_IRQ_ROUTING_MSI_ENTRY = defineStruct('kvm_irq_routing_entry (msi)', 48, {
  gsi: { offset: 0, type: 'u32' },
  type: { offset: 4, type: 'u32' },
  flags: { offset: 8, type: 'u32' },
  'u.msi.address_lo': { offset: 16, type: 'u32' },
  'u.msi.address_hi': { offset: 20, type: 'u32' },
  'u.msi.data': { offset: 24, type: 'u32' },
  'u.msi.devid': { offset: 28, type: 'u32' },
}, { type: 'struct kvm_irq_routing_entry' });

// struct kvm_irq_routing {
// 	__u32 nr;
// 	__u32 flags;
// 	__DECLARE_FLEX_ARRAY(struct kvm_irq_routing_entry, entries);
// };
export const KVM_IRQ_ROUTING = defineStruct('kvm_irq_routing', 8, {
  nr: { offset: 0, type: 'u32' },
  flags: { offset: 4, type: 'u32' },
});

/** Every layout above, for the header check. */
export const ALL_KVM_LAYOUTS = [
  KVM_REGS,
  KVM_SEGMENT,
  KVM_DTABLE,
  KVM_SREGS,
  KVM_RUN_HEADER,
  KVM_RUN_HW,
  KVM_RUN_FAIL_ENTRY,
  KVM_RUN_IO,
  KVM_RUN_MMIO,
  KVM_RUN_HYPERCALL,
  KVM_RUN_INTERNAL,
  KVM_RUN_SYSTEM_EVENT,
  KVM_RUN_MSR,
  KVM_USERSPACE_MEMORY_REGION,
  KVM_CPUID_ENTRY2,
  KVM_CPUID2,
  KVM_MSR_ENTRY,
  KVM_MSRS,
  KVM_MSR_LIST,
  KVM_MSR_FILTER_RANGE,
  KVM_MSR_FILTER,
  KVM_MSI,
  KVM_IRQFD,
  KVM_IOEVENTFD,
  KVM_PIT_CONFIG,
  KVM_ENABLE_CAP,
  KVM_TRANSLATION,
  KVM_MP_STATE,
  KVM_IRQ_LEVEL,
  KVM_IRQ_ROUTING_IRQCHIP_ENTRY,
  KVM_IRQ_ROUTING_MSI_ENTRY,
  KVM_IRQ_ROUTING,
] as const;

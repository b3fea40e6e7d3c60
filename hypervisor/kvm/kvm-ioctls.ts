// Every KVM ioctl xlts issues, computed once from the _IO/_IOR/_IOW/_IOWR encoding of
// <asm-generic/ioctl.h> with the struct sizes from kvm-structs.ts, plus the capability numbers and
// the other <linux/kvm.h> constants the KVM layer uses. Nothing else in xlts spells an ioctl number;
// test/kvm-structs.test.ts compares each one with the header's macro.
import {
  KVM_CPUID2,
  KVM_ENABLE_CAP,
  KVM_IOEVENTFD,
  KVM_IRQFD,
  KVM_IRQ_LEVEL,
  KVM_IRQ_ROUTING,
  KVM_LAPIC_STATE_SIZE,
  KVM_MP_STATE,
  KVM_MSI,
  KVM_MSRS,
  KVM_MSR_FILTER,
  KVM_MSR_LIST,
  KVM_PIT_CONFIG,
  KVM_REGS,
  KVM_SREGS,
  KVM_TRANSLATION,
  KVM_USERSPACE_MEMORY_REGION,
} from './kvm-structs.ts';

/** #define KVMIO 0xAE */
export const KVMIO = 0xae;

// <asm-generic/ioctl.h>: nr bits 0-7, type bits 8-15, size bits 16-29, direction bits 30-31.
const IOC_NONE = 0;
const IOC_WRITE = 1;
const IOC_READ = 2;
const IOC_SIZEBITS = 14;

/** Which file descriptor an ioctl is issued on: /dev/kvm, a VM fd or a vCPU fd. */
export type KvmFdKind = 'system' | 'vm' | 'vcpu';

export interface KvmIoctl {
  readonly name: string;
  readonly fd: KvmFdKind;
  /** The request number passed to ioctl(2). */
  readonly request: number;
}

function ioc(dir: number, nr: number, size: number): number {
  if (size < 0 || size >= 1 << IOC_SIZEBITS) throw new RangeError(`ioctl size ${size} does not fit in ${IOC_SIZEBITS} bits`);
  // >>> 0: the direction bits make the top bit set; keep it an unsigned 32-bit number.
  return ((dir << 30) | (size << 16) | (KVMIO << 8) | nr) >>> 0;
}

function io(name: string, fd: KvmFdKind, nr: number): KvmIoctl {
  return { name, fd, request: ioc(IOC_NONE, nr, 0) };
}
function ior(name: string, fd: KvmFdKind, nr: number, size: number): KvmIoctl {
  return { name, fd, request: ioc(IOC_READ, nr, size) };
}
function iow(name: string, fd: KvmFdKind, nr: number, size: number): KvmIoctl {
  return { name, fd, request: ioc(IOC_WRITE, nr, size) };
}
function iowr(name: string, fd: KvmFdKind, nr: number, size: number): KvmIoctl {
  return { name, fd, request: ioc(IOC_READ | IOC_WRITE, nr, size) };
}

const U64_SIZE = 8;

export const KVM_IOCTLS = {
  // ioctls for /dev/kvm
  KVM_GET_API_VERSION: io('KVM_GET_API_VERSION', 'system', 0x00),
  KVM_CREATE_VM: io('KVM_CREATE_VM', 'system', 0x01),
  KVM_GET_MSR_INDEX_LIST: iowr('KVM_GET_MSR_INDEX_LIST', 'system', 0x02, KVM_MSR_LIST.size),
  KVM_CHECK_EXTENSION: io('KVM_CHECK_EXTENSION', 'system', 0x03),
  KVM_GET_VCPU_MMAP_SIZE: io('KVM_GET_VCPU_MMAP_SIZE', 'system', 0x04),
  KVM_GET_SUPPORTED_CPUID: iowr('KVM_GET_SUPPORTED_CPUID', 'system', 0x05, KVM_CPUID2.size),
  // ioctls for VM fds (KVM_CHECK_EXTENSION is also valid on a VM fd, with KVM_CAP_CHECK_EXTENSION_VM)
  KVM_CREATE_VCPU: io('KVM_CREATE_VCPU', 'vm', 0x41),
  KVM_SET_USER_MEMORY_REGION: iow('KVM_SET_USER_MEMORY_REGION', 'vm', 0x46, KVM_USERSPACE_MEMORY_REGION.size),
  KVM_SET_TSS_ADDR: io('KVM_SET_TSS_ADDR', 'vm', 0x47),
  KVM_SET_IDENTITY_MAP_ADDR: iow('KVM_SET_IDENTITY_MAP_ADDR', 'vm', 0x48, U64_SIZE),
  KVM_CREATE_IRQCHIP: io('KVM_CREATE_IRQCHIP', 'vm', 0x60),
  KVM_IRQ_LINE: iow('KVM_IRQ_LINE', 'vm', 0x61, KVM_IRQ_LEVEL.size),
  KVM_SET_GSI_ROUTING: iow('KVM_SET_GSI_ROUTING', 'vm', 0x6a, KVM_IRQ_ROUTING.size),
  KVM_IRQFD: iow('KVM_IRQFD', 'vm', 0x76, KVM_IRQFD.size),
  KVM_CREATE_PIT2: iow('KVM_CREATE_PIT2', 'vm', 0x77, KVM_PIT_CONFIG.size),
  KVM_IOEVENTFD: iow('KVM_IOEVENTFD', 'vm', 0x79, KVM_IOEVENTFD.size),
  KVM_SIGNAL_MSI: iow('KVM_SIGNAL_MSI', 'vm', 0xa5, KVM_MSI.size),
  KVM_X86_SET_MSR_FILTER: iow('KVM_X86_SET_MSR_FILTER', 'vm', 0xc6, KVM_MSR_FILTER.size),
  // KVM_ENABLE_CAP is issued on a VM fd for VM-wide capabilities (KVM_CAP_X86_USER_SPACE_MSR).
  KVM_ENABLE_CAP: iow('KVM_ENABLE_CAP', 'vm', 0xa3, KVM_ENABLE_CAP.size),
  // ioctls for vCPU fds
  KVM_RUN: io('KVM_RUN', 'vcpu', 0x80),
  KVM_GET_REGS: ior('KVM_GET_REGS', 'vcpu', 0x81, KVM_REGS.size),
  KVM_SET_REGS: iow('KVM_SET_REGS', 'vcpu', 0x82, KVM_REGS.size),
  KVM_GET_SREGS: ior('KVM_GET_SREGS', 'vcpu', 0x83, KVM_SREGS.size),
  KVM_SET_SREGS: iow('KVM_SET_SREGS', 'vcpu', 0x84, KVM_SREGS.size),
  KVM_TRANSLATE: iowr('KVM_TRANSLATE', 'vcpu', 0x85, KVM_TRANSLATION.size),
  KVM_GET_MSRS: iowr('KVM_GET_MSRS', 'vcpu', 0x88, KVM_MSRS.size),
  KVM_SET_MSRS: iow('KVM_SET_MSRS', 'vcpu', 0x89, KVM_MSRS.size),
  KVM_GET_LAPIC: ior('KVM_GET_LAPIC', 'vcpu', 0x8e, KVM_LAPIC_STATE_SIZE),
  KVM_SET_LAPIC: iow('KVM_SET_LAPIC', 'vcpu', 0x8f, KVM_LAPIC_STATE_SIZE),
  KVM_SET_CPUID2: iow('KVM_SET_CPUID2', 'vcpu', 0x90, KVM_CPUID2.size),
  KVM_GET_CPUID2: iowr('KVM_GET_CPUID2', 'vcpu', 0x91, KVM_CPUID2.size),
  KVM_GET_MP_STATE: ior('KVM_GET_MP_STATE', 'vcpu', 0x98, KVM_MP_STATE.size),
  KVM_SET_MP_STATE: iow('KVM_SET_MP_STATE', 'vcpu', 0x99, KVM_MP_STATE.size),
} as const satisfies Record<string, KvmIoctl>;

export type KvmIoctlName = keyof typeof KVM_IOCTLS;

/** #define KVM_API_VERSION 12: the only API version there has ever been since 2.6.22. */
export const KVM_API_VERSION = 12;

/** KVM_CAP_* numbers from <linux/kvm.h>, by the name the header gives them. */
export const KVM_CAPS = {
  KVM_CAP_IRQCHIP: 0,
  KVM_CAP_HLT: 1,
  KVM_CAP_USER_MEMORY: 3,
  KVM_CAP_SET_TSS_ADDR: 4,
  KVM_CAP_EXT_CPUID: 7,
  KVM_CAP_NR_VCPUS: 9,
  KVM_CAP_NR_MEMSLOTS: 10,
  KVM_CAP_MP_STATE: 14,
  KVM_CAP_IRQ_ROUTING: 25,
  KVM_CAP_IRQFD: 32,
  KVM_CAP_PIT2: 33,
  KVM_CAP_IOEVENTFD: 36,
  KVM_CAP_SET_IDENTITY_MAP_ADDR: 37,
  KVM_CAP_XEN_HVM: 38,
  KVM_CAP_HYPERV: 44,
  KVM_CAP_TSC_CONTROL: 60,
  KVM_CAP_MAX_VCPUS: 66,
  KVM_CAP_SIGNAL_MSI: 77,
  KVM_CAP_READONLY_MEM: 81,
  KVM_CAP_CHECK_EXTENSION_VM: 105,
  KVM_CAP_SPLIT_IRQCHIP: 121,
  KVM_CAP_IOEVENTFD_ANY_LENGTH: 122,
  KVM_CAP_X2APIC_API: 129,
  KVM_CAP_IMMEDIATE_EXIT: 136,
  KVM_CAP_X86_USER_SPACE_MSR: 188,
  KVM_CAP_X86_MSR_FILTER: 189,
  KVM_CAP_DIRTY_LOG_RING: 192,
  KVM_CAP_EXIT_HYPERCALL: 201,
} as const;

export type KvmCapName = keyof typeof KVM_CAPS;

/** KVM_EXIT_* reasons from <linux/kvm.h>. */
export const KVM_EXIT = {
  KVM_EXIT_UNKNOWN: 0,
  KVM_EXIT_EXCEPTION: 1,
  KVM_EXIT_IO: 2,
  KVM_EXIT_HYPERCALL: 3,
  KVM_EXIT_DEBUG: 4,
  KVM_EXIT_HLT: 5,
  KVM_EXIT_MMIO: 6,
  KVM_EXIT_IRQ_WINDOW_OPEN: 7,
  KVM_EXIT_SHUTDOWN: 8,
  KVM_EXIT_FAIL_ENTRY: 9,
  KVM_EXIT_INTR: 10,
  KVM_EXIT_SET_TPR: 11,
  KVM_EXIT_TPR_ACCESS: 12,
  KVM_EXIT_NMI: 16,
  KVM_EXIT_INTERNAL_ERROR: 17,
  KVM_EXIT_SYSTEM_EVENT: 24,
  KVM_EXIT_IOAPIC_EOI: 26,
  KVM_EXIT_X86_RDMSR: 29,
  KVM_EXIT_X86_WRMSR: 30,
  KVM_EXIT_DIRTY_RING_FULL: 31,
  KVM_EXIT_X86_BUS_LOCK: 33,
  KVM_EXIT_XEN: 34,
  KVM_EXIT_NOTIFY: 37,
} as const;

/** The header's name for an exit reason number, for logs and 'unknown' exits. */
export function exitReasonName(reason: number): string {
  for (const [name, value] of Object.entries(KVM_EXIT)) if (value === reason) return name;
  return `KVM_EXIT_${reason}`;
}

export const KVM_EXIT_IO_IN = 0;
export const KVM_EXIT_IO_OUT = 1;

/** KVM_SYSTEM_EVENT_* (kvm_run.system_event.type). */
export const KVM_SYSTEM_EVENT = {
  KVM_SYSTEM_EVENT_SHUTDOWN: 1,
  KVM_SYSTEM_EVENT_RESET: 2,
  KVM_SYSTEM_EVENT_CRASH: 3,
  KVM_SYSTEM_EVENT_WAKEUP: 4,
  KVM_SYSTEM_EVENT_SUSPEND: 5,
  KVM_SYSTEM_EVENT_SEV_TERM: 6,
} as const;

/** KVM_INTERNAL_ERROR_* (kvm_run.internal.suberror). */
export const KVM_INTERNAL_ERROR = {
  KVM_INTERNAL_ERROR_EMULATION: 1,
  KVM_INTERNAL_ERROR_SIMUL_EX: 2,
  KVM_INTERNAL_ERROR_DELIVERY_EV: 3,
  KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: 4,
} as const;

/** kvm_run.msr.reason, and the KVM_CAP_X86_USER_SPACE_MSR enable mask. */
export const KVM_MSR_EXIT_REASON_INVAL = 1 << 0;
export const KVM_MSR_EXIT_REASON_UNKNOWN = 1 << 1;
export const KVM_MSR_EXIT_REASON_FILTER = 1 << 2;

/** kvm_msr_filter.flags and kvm_msr_filter_range.flags. */
export const KVM_MSR_FILTER_DEFAULT_ALLOW = 0;
export const KVM_MSR_FILTER_DEFAULT_DENY = 1 << 0;
export const KVM_MSR_FILTER_READ = 1 << 0;
export const KVM_MSR_FILTER_WRITE = 1 << 1;
export const KVM_MSR_FILTER_MAX_RANGES = 16;
/** Maximum size of one range's bitmap in bytes (KVM_MSR_FILTER_MAX_BITMAP_SIZE). */
export const KVM_MSR_FILTER_MAX_BITMAP_SIZE = 0x600;

/** kvm_userspace_memory_region.flags */
export const KVM_MEM_LOG_DIRTY_PAGES = 1 << 0;
export const KVM_MEM_READONLY = 1 << 1;

/** kvm_ioeventfd.flags */
export const KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0;
export const KVM_IOEVENTFD_FLAG_PIO = 1 << 1;
export const KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2;

/** kvm_irqfd.flags */
export const KVM_IRQFD_FLAG_DEASSIGN = 1 << 0;

/** kvm_irq_routing_entry.type */
export const KVM_IRQ_ROUTING_IRQCHIP = 1;
export const KVM_IRQ_ROUTING_MSI = 2;

/** kvm_irq_routing_irqchip.irqchip (<asm/kvm.h>) */
export const KVM_IRQCHIP_PIC_MASTER = 0;
export const KVM_IRQCHIP_PIC_SLAVE = 1;
export const KVM_IRQCHIP_IOAPIC = 2;

/** kvm_pit_config.flags */
export const KVM_PIT_SPEAKER_DUMMY = 1;

/** kvm_msi.flags */
export const KVM_MSI_VALID_DEVID = 1 << 0;

/** kvm_cpuid_entry2.flags */
export const KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 << 0;

/** KVM_MP_STATE_* (kvm_mp_state.mp_state) for x86. */
export const KVM_MP_STATES = {
  KVM_MP_STATE_RUNNABLE: 0,
  KVM_MP_STATE_UNINITIALIZED: 1,
  KVM_MP_STATE_INIT_RECEIVED: 2,
  KVM_MP_STATE_HALTED: 3,
  KVM_MP_STATE_SIPI_RECEIVED: 4,
} as const;

/** <asm/kvm.h>: kvm_run is at offset 0 of the vCPU mapping; PIO data at page 1 of it. */
export const KVM_PIO_PAGE_OFFSET = 1;

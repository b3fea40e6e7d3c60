/*
 * The test-guest runtime: what a test (tests/<name>.c) can call. A test defines
 *
 *     const char xtf_test_title[] = "...";
 *     void test_main(void);
 *
 * and reports with xtf_check()/xtf_pass()/xtf_fail(). The runtime brings the vCPU from the PVH
 * entry to 64-bit C, finds Xen's CPUID leaves, installs the hypercall page, runs test_main, prints
 * "RESULT: N passed, M failed" and shuts the domain down (SCHEDOP_shutdown, xtf_exit_reason).
 * Plain integer code only: the host's software KVM emulates guest kernel code instruction by
 * instruction and knows no SSE, x87 or newer instructions.
 */
#ifndef XTF_H
#define XTF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include "xen.h"

#define PAGE_SHIFT 12
#define PAGE_SIZE  4096ul
#define __aligned(n) __attribute__((aligned(n)))
#define __page_aligned_bss __attribute__((section(".bss.page_aligned"), aligned(PAGE_SIZE)))
#define __noreturn __attribute__((noreturn))
#define __printf(a, b) __attribute__((format(printf, a, b)))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ACCESS_ONCE(x) (*(volatile __typeof__(x) *)&(x))

/* ---- provided by the test ---- */
extern const char xtf_test_title[];
void test_main(void);

/* ---- results ---- */
void xtf_pass(const char *fmt, ...) __printf(1, 2);
void xtf_fail(const char *fmt, ...) __printf(1, 2);
/* PASS or FAIL depending on cond; returns cond. */
int xtf_check(int cond, const char *fmt, ...) __printf(2, 3);
/* PASS when rc == expected, else FAIL naming both; returns the comparison. */
int xtf_check_rc(long rc, long expected, const char *what);
/* The SCHEDOP_shutdown reason used after the summary line (SHUTDOWN_poweroff by default). */
extern unsigned int xtf_exit_reason;

/* ---- console ---- */
void xtf_printf(const char *fmt, ...) __printf(1, 2);
void xtf_vprintf(const char *fmt, va_list ap);
int xtf_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
int xtf_snprintf(char *buf, size_t size, const char *fmt, ...) __printf(3, 4);

/* ---- boot information ---- */
extern const struct hvm_start_info *xtf_start_info;
/* Value of "key=value" on the start_info command line, copied into buf; NULL when absent. */
const char *xtf_cmdline_get(const char *key, char *buf, size_t size);
/* The memory map entry type covering [addr, addr+size), or 0 when no single entry covers it. */
uint32_t xtf_memmap_type(uint64_t addr, uint64_t size);

/* ---- Xen detection (done by the runtime before test_main) ---- */
extern uint32_t xtf_cpuid_base;
extern uint8_t hypercall_page[PAGE_SIZE];

/* ---- CPU helpers ---- */
struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};
static inline struct cpuid_regs cpuid_count(uint32_t leaf, uint32_t subleaf)
{
    struct cpuid_regs r;
    __asm__ volatile("cpuid" : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx) : "a"(leaf), "c"(subleaf));
    return r;
}
static inline struct cpuid_regs cpuid(uint32_t leaf) { return cpuid_count(leaf, 0); }

/*
 * Index of the lowest set bit of a non-zero value. A plain loop on purpose: the compiler's ctz
 * builtin becomes TZCNT (REP BSF), which the host's instruction emulator does not know.
 */
static inline unsigned int lowest_bit(uint64_t v)
{
    unsigned int i = 0;
    while (!(v & 1)) {
        v >>= 1;
        i++;
    }
    return i;
}

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void sti(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* Vector of the last exception a *_safe helper recovered from, or XTF_NO_FAULT. */
#define XTF_NO_FAULT 0xffffffffu
extern volatile uint32_t xtf_fault_vector;
/* WRMSR that reports a fault (#GP) instead of dying: returns XTF_NO_FAULT or the vector. */
uint32_t wrmsr_safe(uint32_t idx, uint64_t value);

/* ---- interrupts ---- */
/* The per-vCPU event-channel upcall vector (the one Linux uses). */
#define XTF_UPCALL_VECTOR 0xf3
typedef void (*xtf_irq_handler_t)(void);
/* Installs a handler for an external-interrupt vector; the runtime sends the LAPIC EOI after it. */
void xtf_set_irq_handler(uint8_t vector, xtf_irq_handler_t handler);
/* Software-enables the local APIC (spurious vector 0xff) so fixed interrupts are accepted. */
void xtf_lapic_enable(void);
void xtf_lapic_eoi(void);

/* ---- hypercalls ---- */
/*
 * A hypercall is `call hypercall_page + nr * 32` with arguments in rdi, rsi, rdx, r10, r8 and the
 * result in rax; the hypervisor may clobber the argument registers.
 */
#define _hypercall(nr, a1, a2, a3, a4, a5)                                                          \
    ({                                                                                              \
        long __res;                                                                                 \
        register unsigned long __a1 __asm__("rdi") = (unsigned long)(a1);                            \
        register unsigned long __a2 __asm__("rsi") = (unsigned long)(a2);                            \
        register unsigned long __a3 __asm__("rdx") = (unsigned long)(a3);                            \
        register unsigned long __a4 __asm__("r10") = (unsigned long)(a4);                            \
        register unsigned long __a5 __asm__("r8") = (unsigned long)(a5);                             \
        __asm__ volatile("call hypercall_page + %c[offset]"                                          \
                         : "=a"(__res), "+r"(__a1), "+r"(__a2), "+r"(__a3), "+r"(__a4), "+r"(__a5)  \
                         : [offset] "i"((nr) * HYPERCALL_STUB_SIZE)                                  \
                         : "memory", "rcx", "r11");                                                  \
        __res;                                                                                      \
    })
#define hypercall0(nr) _hypercall(nr, 0, 0, 0, 0, 0)
#define hypercall2(nr, a1, a2) _hypercall(nr, a1, a2, 0, 0, 0)
#define hypercall3(nr, a1, a2, a3) _hypercall(nr, a1, a2, a3, 0, 0)

static inline long HYPERVISOR_xen_version(int cmd, void *arg) { return hypercall2(__HYPERVISOR_xen_version, cmd, arg); }
static inline long HYPERVISOR_console_io(int cmd, int count, const char *buf)
{
    return hypercall3(__HYPERVISOR_console_io, cmd, count, buf);
}
static inline long HYPERVISOR_memory_op(unsigned int cmd, void *arg) { return hypercall2(__HYPERVISOR_memory_op, cmd, arg); }
static inline long HYPERVISOR_sched_op(int cmd, void *arg) { return hypercall2(__HYPERVISOR_sched_op, cmd, arg); }
static inline long HYPERVISOR_vcpu_op(int cmd, unsigned int vcpu, void *arg)
{
    return hypercall3(__HYPERVISOR_vcpu_op, cmd, vcpu, arg);
}
static inline long HYPERVISOR_event_channel_op(int cmd, void *arg) { return hypercall2(__HYPERVISOR_event_channel_op, cmd, arg); }
static inline long HYPERVISOR_hvm_op(int cmd, void *arg) { return hypercall2(__HYPERVISOR_hvm_op, cmd, arg); }

long hvm_get_param(uint32_t index, uint64_t *value);
long hvm_set_param(uint32_t index, uint64_t value);
long evtchn_send(evtchn_port_t port);
long evtchn_close(evtchn_port_t port);
long evtchn_unmask(evtchn_port_t port);

/* ---- shared_info and vcpu_info ---- */
/* Maps shared_info over a page of the guest's own (XENMEM_add_to_physmap); returns the hypercall result. */
long xtf_map_shared_info(void);
extern struct shared_info *xtf_shared_info;
/* Registers vcpu_info for vCPU 0 at a page offset in the guest's own page (VCPUOP_register_vcpu_info). */
long xtf_register_vcpu_info(uint32_t offset);
/* vCPU 0's vcpu_info: the registered copy when there is one, else the one in shared_info. */
extern struct vcpu_info *xtf_vcpu_info;

/* ---- misc ---- */
void __noreturn xtf_shutdown(unsigned int reason);
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif /* XTF_H */

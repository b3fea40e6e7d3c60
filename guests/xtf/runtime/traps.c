/*
 * IDT, exception reporting and external interrupts. An unexpected exception is a test failure:
 * it is reported on the console and the domain shuts down as crashed. An exception raised by an
 * instruction listed in the .xtf_extable section (a *_safe helper) is recovered instead: execution
 * continues at the listed fixup address and xtf_fault_vector records the vector.
 */
#include "xtf.h"

struct xtf_regs {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

struct idt_gate {
    uint16_t offset_low;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_high;
    uint32_t reserved;
};
_Static_assert(sizeof(struct idt_gate) == 16, "64-bit IDT gate");

struct extable_entry {
    uint64_t insn, fixup;
};

#define GDT_CS64 0x08
#define GATE_INTERRUPT_PRESENT 0x8e /* present, DPL 0, 64-bit interrupt gate (clears IF) */
#define TRAP_STUB_SIZE 16
#define MSR_IA32_APIC_BASE 0x1b
#define APIC_BASE_MASK 0xfffff000ull
#define APIC_TPR 0x80
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_SVR_ENABLE 0x100
#define SPURIOUS_VECTOR 0xff

extern const uint8_t xtf_trap_stubs[];
extern const struct extable_entry __start_xtf_extable[], __stop_xtf_extable[];

static struct idt_gate idt[256] __aligned(16);
static xtf_irq_handler_t irq_handlers[256];
static volatile uint32_t *lapic;
volatile uint32_t xtf_fault_vector = XTF_NO_FAULT;

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "coprocessor overrun", "#TS", "#NP", "#SS", "#GP", "#PF", "vector 15",
    "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",  "vector 22", "vector 23", "vector 24", "vector 25", "vector 26", "vector 27", "#HV", "#VC", "#SX", "vector 31",
};

void xtf_init_idt(void)
{
    for (unsigned int v = 0; v < ARRAY_SIZE(idt); v++) {
        uint64_t addr = (uint64_t)(uintptr_t)&xtf_trap_stubs[v * TRAP_STUB_SIZE];
        idt[v] = (struct idt_gate){
            .offset_low = (uint16_t)addr,
            .selector = GDT_CS64,
            .ist = 0,
            .type_attr = GATE_INTERRUPT_PRESENT,
            .offset_mid = (uint16_t)(addr >> 16),
            .offset_high = (uint32_t)(addr >> 32),
        };
    }
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {sizeof(idt) - 1, (uint64_t)(uintptr_t)idt};
    __asm__ volatile("lidt %0" ::"m"(idtr));
}

static uint64_t read_cr2(void)
{
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static const struct extable_entry *find_fixup(uint64_t rip)
{
    for (const struct extable_entry *e = __start_xtf_extable; e < __stop_xtf_extable; e++)
        if (e->insn == rip)
            return e;
    return NULL;
}

void xtf_trap(struct xtf_regs *regs)
{
    if (regs->vector < 32) {
        const struct extable_entry *fix = find_fixup(regs->rip);
        if (fix) {
            xtf_fault_vector = (uint32_t)regs->vector;
            regs->rip = fix->fixup;
            return;
        }
        xtf_fail("unexpected exception %s (vector %lu) at rip 0x%lx, error 0x%lx, cr2 0x%lx, rsp 0x%lx",
                 exception_names[regs->vector], (unsigned long)regs->vector, (unsigned long)regs->rip, (unsigned long)regs->error,
                 (unsigned long)read_cr2(), (unsigned long)regs->rsp);
        xtf_shutdown(SHUTDOWN_crash);
    }
    if (regs->vector == SPURIOUS_VECTOR)
        return; /* a spurious interrupt is not acknowledged */
    xtf_irq_handler_t h = irq_handlers[regs->vector];
    if (h)
        h();
    else
        xtf_fail("unexpected interrupt on vector 0x%lx", (unsigned long)regs->vector);
    xtf_lapic_eoi();
}

void xtf_set_irq_handler(uint8_t vector, xtf_irq_handler_t handler)
{
    irq_handlers[vector] = handler;
}

static uint64_t rdmsr(uint32_t idx)
{
    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(idx));
    return ((uint64_t)hi << 32) | lo;
}

void xtf_lapic_enable(void)
{
    /* The xAPIC page lies in the uncached part of our identity map (below 4 GiB). */
    lapic = (volatile uint32_t *)(uintptr_t)(rdmsr(MSR_IA32_APIC_BASE) & APIC_BASE_MASK);
    lapic[APIC_TPR / 4] = 0;
    lapic[APIC_SVR / 4] = APIC_SVR_ENABLE | SPURIOUS_VECTOR;
}

void xtf_lapic_eoi(void)
{
    if (lapic)
        lapic[APIC_EOI / 4] = 0;
}

uint32_t wrmsr_safe(uint32_t idx, uint64_t value)
{
    xtf_fault_vector = XTF_NO_FAULT;
    __asm__ volatile("1: wrmsr\n"
                     "2:\n"
                     ".pushsection .xtf_extable, \"a\"\n"
                     ".balign 8\n"
                     ".quad 1b, 2b\n"
                     ".popsection\n" ::"c"(idx),
                     "a"((uint32_t)value), "d"((uint32_t)(value >> 32))
                     : "memory");
    return xtf_fault_vector;
}

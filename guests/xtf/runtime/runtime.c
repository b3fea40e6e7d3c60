/*
 * The runtime's main line: from xtf_start (called by head.S in 64-bit mode) to the final
 * SCHEDOP_shutdown. Output goes through CONSOLEIO_write once the hypercall page is installed;
 * before that (no Xen CPUID leaves, or the page was not written) the only channel left is the
 * debug port 0xe9, after which the vCPU stops with a triple fault: there is no hypercall to shut
 * down with.
 */
#include "xtf.h"

#define DEBUG_PORT 0xe9
#define LINE_MAX 256

void xtf_init_idt(void);

const struct hvm_start_info *xtf_start_info;
uint32_t xtf_cpuid_base;
uint8_t hypercall_page[PAGE_SIZE] __page_aligned_bss;
unsigned int xtf_exit_reason = SHUTDOWN_poweroff;

static int console_ready;
static unsigned int passed, failed;
static char line[LINE_MAX];
static size_t line_len;

/* ---- console ---- */

static void flush_line(void)
{
    if (line_len == 0)
        return;
    if (console_ready) {
        HYPERVISOR_console_io(CONSOLEIO_write, (int)line_len, line);
    } else {
        for (size_t i = 0; i < line_len; i++)
            outb(DEBUG_PORT, (uint8_t)line[i]);
    }
    line_len = 0;
}

static void put_char(char c)
{
    line[line_len++] = c;
    if (c == '\n' || line_len == sizeof(line))
        flush_line();
}

void xtf_vprintf(const char *fmt, va_list ap)
{
    char buf[LINE_MAX];
    int n = xtf_vsnprintf(buf, sizeof(buf), fmt, ap);
    if (n > (int)sizeof(buf) - 1)
        n = sizeof(buf) - 1;
    for (int i = 0; i < n; i++)
        put_char(buf[i]);
}

void xtf_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    xtf_vprintf(fmt, ap);
    va_end(ap);
}

/* ---- results ---- */

static void report(int ok, const char *fmt, va_list ap)
{
    if (ok)
        passed++;
    else
        failed++;
    xtf_printf("%s: ", ok ? "PASS" : "FAIL");
    xtf_vprintf(fmt, ap);
    put_char('\n');
}

void xtf_pass(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(1, fmt, ap);
    va_end(ap);
}

void xtf_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(0, fmt, ap);
    va_end(ap);
}

int xtf_check(int cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(cond, fmt, ap);
    va_end(ap);
    return cond;
}

int xtf_check_rc(long rc, long expected, const char *what)
{
    if (rc == expected) {
        xtf_pass("%s returns %ld", what, expected);
        return 1;
    }
    xtf_fail("%s returns %ld, expected %ld", what, rc, expected);
    return 0;
}

/* ---- boot information ---- */

const char *xtf_cmdline_get(const char *key, char *buf, size_t size)
{
    if (!xtf_start_info->cmdline_paddr || size == 0)
        return NULL;
    const char *p = (const char *)(uintptr_t)xtf_start_info->cmdline_paddr;
    size_t klen = strlen(key);
    while (*p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        if ((size_t)(p - tok) > klen && strncmp(tok, key, klen) == 0 && tok[klen] == '=') {
            size_t n = 0;
            for (const char *v = tok + klen + 1; v < p && n + 1 < size; v++)
                buf[n++] = *v;
            buf[n] = '\0';
            return buf;
        }
    }
    return NULL;
}

uint32_t xtf_memmap_type(uint64_t addr, uint64_t size)
{
    const struct hvm_memmap_table_entry *e = (const void *)(uintptr_t)xtf_start_info->memmap_paddr;
    for (uint32_t i = 0; i < xtf_start_info->memmap_entries; i++)
        if (addr >= e[i].addr && addr + size <= e[i].addr + e[i].size)
            return e[i].type;
    return 0;
}

/* ---- Xen detection and the hypercall page ---- */

/*
 * The way out when SCHEDOP_shutdown is unavailable or did not work: a triple fault (#UD with an
 * empty IDT). Every engine sees that as the vCPU stopping (KVM_EXIT_SHUTDOWN, QEMU -no-reboot
 * exits), where `cli; hlt` would leave an in-kernel-irqchip vCPU blocked forever.
 */
static void __noreturn triple_fault(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } empty = {0, 0};
    __asm__ volatile("cli; lidt %0; ud2" ::"m"(empty));
    for (;;)
        ;
}

static void __noreturn early_fail(const char *msg)
{
    xtf_printf("FAIL: %s\nRESULT: %u passed, %u failed\n", msg, passed, failed + 1);
    triple_fault();
}

static uint32_t find_xen_cpuid_base(void)
{
    for (uint32_t base = XEN_CPUID_FIRST_LEAF; base < XEN_CPUID_FIRST_LEAF + 0x10000; base += XEN_CPUID_LEAF_STRIDE) {
        struct cpuid_regs r = cpuid(base);
        if (r.ebx == XEN_CPUID_SIGNATURE_EBX && r.ecx == XEN_CPUID_SIGNATURE_ECX && r.edx == XEN_CPUID_SIGNATURE_EDX &&
            r.eax >= base + 2)
            return base;
    }
    return 0;
}

static int page_is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void install_hypercall_page(void)
{
    xtf_cpuid_base = find_xen_cpuid_base();
    if (!xtf_cpuid_base)
        early_fail("no Xen CPUID leaves (XenVMMXenVMM) at 0x40000000 + k*0x100");
    uint32_t msr = cpuid(xtf_cpuid_base + 2).ebx;
    if (wrmsr_safe(msr, (uint64_t)(uintptr_t)hypercall_page) != XTF_NO_FAULT)
        early_fail("WRMSR of the hypercall page address faulted");
    if (page_is_zero(&hypercall_page[__HYPERVISOR_console_io * HYPERCALL_STUB_SIZE], HYPERCALL_STUB_SIZE))
        early_fail("hypercall page not written after WRMSR");
    console_ready = 1;
}

/* ---- shutdown ---- */

void __noreturn xtf_shutdown(unsigned int reason)
{
    struct sched_shutdown s = {.reason = reason};
    flush_line();
    long rc = HYPERVISOR_sched_op(SCHEDOP_shutdown, &s);
    /* Reaching here is itself a failure the runner sees: the domain did not stop. */
    xtf_printf("FAIL: SCHEDOP_shutdown(%u) returned %ld\n", reason, rc);
    flush_line();
    triple_fault();
}

void __noreturn xtf_start(uint32_t start_info_pa)
{
    xtf_init_idt();
    xtf_start_info = (const struct hvm_start_info *)(uintptr_t)start_info_pa;
    if (xtf_start_info->magic != XEN_HVM_START_MAGIC_VALUE)
        early_fail("start_info magic is not XEN_HVM_START_MAGIC_VALUE");
    install_hypercall_page();

    const char *cmdline = xtf_start_info->cmdline_paddr ? (const char *)(uintptr_t)xtf_start_info->cmdline_paddr : "";
    xtf_printf("xtf: %s (cmdline \"%s\")\n", xtf_test_title, cmdline);
    test_main();
    xtf_printf("RESULT: %u passed, %u failed\n", passed, failed);
    xtf_shutdown(xtf_exit_reason);
}

/* ---- hypercall helpers ---- */

long hvm_get_param(uint32_t index, uint64_t *value)
{
    struct xen_hvm_param p = {.domid = DOMID_SELF, .index = index};
    long rc = HYPERVISOR_hvm_op(HVMOP_get_param, &p);
    if (rc == 0)
        *value = p.value;
    return rc;
}

long hvm_set_param(uint32_t index, uint64_t value)
{
    struct xen_hvm_param p = {.domid = DOMID_SELF, .index = index, .value = value};
    return HYPERVISOR_hvm_op(HVMOP_set_param, &p);
}

long evtchn_send(evtchn_port_t port)
{
    struct evtchn_send s = {.port = port};
    return HYPERVISOR_event_channel_op(EVTCHNOP_send, &s);
}

long evtchn_close(evtchn_port_t port)
{
    struct evtchn_close c = {.port = port};
    return HYPERVISOR_event_channel_op(EVTCHNOP_close, &c);
}

long evtchn_unmask(evtchn_port_t port)
{
    struct evtchn_unmask u = {.port = port};
    return HYPERVISOR_event_channel_op(EVTCHNOP_unmask, &u);
}

/* ---- shared_info and vcpu_info ---- */

static uint8_t shared_info_page[PAGE_SIZE] __page_aligned_bss;
static uint8_t vcpu_info_page[PAGE_SIZE] __page_aligned_bss;
struct shared_info *xtf_shared_info;
struct vcpu_info *xtf_vcpu_info;

long xtf_map_shared_info(void)
{
    struct xen_add_to_physmap xatp = {
        .domid = DOMID_SELF,
        .space = XENMAPSPACE_shared_info,
        .idx = 0,
        .gpfn = (uintptr_t)shared_info_page >> PAGE_SHIFT,
    };
    long rc = HYPERVISOR_memory_op(XENMEM_add_to_physmap, &xatp);
    if (rc == 0) {
        xtf_shared_info = (struct shared_info *)shared_info_page;
        if (!xtf_vcpu_info)
            xtf_vcpu_info = &xtf_shared_info->vcpu_info[0];
    }
    return rc;
}

long xtf_register_vcpu_info(uint32_t offset)
{
    struct vcpu_register_vcpu_info info = {
        .mfn = (uintptr_t)vcpu_info_page >> PAGE_SHIFT,
        .offset = offset,
    };
    long rc = HYPERVISOR_vcpu_op(VCPUOP_register_vcpu_info, 0, &info);
    if (rc == 0)
        xtf_vcpu_info = (struct vcpu_info *)(vcpu_info_page + offset);
    return rc;
}

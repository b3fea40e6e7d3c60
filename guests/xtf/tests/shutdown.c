/*
 * SCHEDOP_shutdown with the reason given on the command line (reason=poweroff|reboot|suspend|
 * crash|watchdog|soft_reset, default poweroff). The runtime issues it after the summary line;
 * the runner checks the shim reports that reason. Before that, a shutdown request through a bad
 * pointer must fail without shutting anything down.
 */
#include "xtf.h"

const char xtf_test_title[] = "SCHEDOP_shutdown";

static const char *const reasons[] = {
    [SHUTDOWN_poweroff] = "poweroff", [SHUTDOWN_reboot] = "reboot",     [SHUTDOWN_suspend] = "suspend",
    [SHUTDOWN_crash] = "crash",       [SHUTDOWN_watchdog] = "watchdog", [SHUTDOWN_soft_reset] = "soft_reset",
};

void test_main(void)
{
    char buf[16];
    const char *want = xtf_cmdline_get("reason", buf, sizeof(buf));
    unsigned int reason = SHUTDOWN_poweroff;
    if (want) {
        unsigned int i;
        for (i = 0; i < ARRAY_SIZE(reasons); i++)
            if (strcmp(want, reasons[i]) == 0)
                break;
        if (!xtf_check(i < ARRAY_SIZE(reasons), "shutdown reason \"%s\" is known", want))
            return;
        reason = i;
    }

    /* Unmapped in our page tables (beyond the 4 GiB identity map): the copy-in must fail. */
    xtf_check_rc(HYPERVISOR_sched_op(SCHEDOP_shutdown, (void *)0x8000000000ul), -XEN_EFAULT, "SCHEDOP_shutdown(unmapped pointer)");

    xtf_printf("xtf: requesting shutdown reason %u (%s)\n", reason, reasons[reason]);
    xtf_exit_reason = reason;
}

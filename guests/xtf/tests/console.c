/*
 * CONSOLEIO_write: the early console of a PVH guest. Every line of every test goes through it;
 * here also the edge cases: empty writes, a write longer than one line of output, a write
 * without a newline, and an unknown sub-op.
 */
#include "xtf.h"

const char xtf_test_title[] = "console_io";

void test_main(void)
{
    static const char hello[] = "console: hello from xtf\n";
    long rc = HYPERVISOR_console_io(CONSOLEIO_write, (int)strlen(hello), hello);
    xtf_check(rc >= 0, "CONSOLEIO_write of one line (rc %ld)", rc);

    xtf_check_rc(HYPERVISOR_console_io(CONSOLEIO_write, 0, hello), 0, "CONSOLEIO_write of 0 bytes");

    static char longline[600];
    for (unsigned int i = 0; i < sizeof(longline) - 1; i++)
        longline[i] = (char)('a' + i % 26);
    longline[sizeof(longline) - 2] = '\n';
    rc = HYPERVISOR_console_io(CONSOLEIO_write, (int)strlen(longline), longline);
    xtf_check(rc >= 0, "CONSOLEIO_write of %u bytes (rc %ld)", (unsigned int)strlen(longline), rc);

    static const char part1[] = "console: split ";
    static const char part2[] = "line\n";
    rc = HYPERVISOR_console_io(CONSOLEIO_write, (int)strlen(part1), part1);
    long rc2 = HYPERVISOR_console_io(CONSOLEIO_write, (int)strlen(part2), part2);
    xtf_check(rc >= 0 && rc2 >= 0, "CONSOLEIO_write in two pieces (rc %ld, %ld)", rc, rc2);

    xtf_check_rc(HYPERVISOR_console_io(77, 1, "x"), -XEN_ENOSYS, "console_io(unknown sub-op)");
}

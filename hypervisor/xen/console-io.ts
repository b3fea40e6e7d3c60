// __HYPERVISOR_console_io(cmd, count, buffer): Xen's emergency console. Linux uses it for
// earlyprintk=xen and xen_raw_printk before the PV console ring is up, and falls back to port 0xE9
// only on -ENOSYS, which is what a domain without a console sink gets.
//
// Output bytes go to the sink as the guest wrote them; the sink (xltsd's console log) decides how
// to show untrusted bytes. Xen filters non-printable characters for unprivileged domains; we keep
// them so the log is byte-exact with the hvc0 ring, which carries raw bytes too.
import { CONSOLEIO_read, CONSOLEIO_write, __HYPERVISOR_console_io } from './abi.ts';
import { NotImplementedError } from './errors.ts';
import { u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import type { RateLimitedLog } from './log.ts';

export interface ConsoleIoSink {
  /** Bytes the guest wrote with CONSOLEIO_write. */
  write(bytes: Uint8Array): void;
  /** Up to `max` bytes of input for CONSOLEIO_read, or an empty array when there is none. */
  read?(max: number): Uint8Array;
}

/**
 * Most bytes one CONSOLEIO_write passes on. Xen writes any count, preempting itself; we do not
 * preempt, so one call is bounded and the rest of an oversized write is dropped (and logged).
 */
export const CONSOLEIO_MAX_WRITE = 64 * 1024;
/** Most bytes one CONSOLEIO_read returns. */
export const CONSOLEIO_MAX_READ = 4096;

export function consoleIo(sink: ConsoleIoSink | undefined, log: RateLimitedLog): HypercallFamily {
  return {
    nr: __HYPERVISOR_console_io,
    name: 'console_io',
    handle({ guest, args }: HypercallCall): number {
      const cmd = u32Arg(args[0]);
      const count = u32Arg(args[1]);
      const buffer = args[2];
      if (!sink) throw new NotImplementedError('console_io without a console', true);
      switch (cmd) {
        case CONSOLEIO_write: {
          const n = Math.min(count, CONSOLEIO_MAX_WRITE);
          if (n < count) log.warn('console_io-trunc', `CONSOLEIO_write of ${count} bytes truncated to ${n}`);
          if (n > 0) sink.write(guest.copyIn(buffer, n));
          return 0;
        }
        case CONSOLEIO_read: {
          const input = sink.read?.(Math.min(count, CONSOLEIO_MAX_READ)) ?? new Uint8Array(0);
          const n = Math.min(input.length, count);
          if (n > 0) guest.copyOut(buffer, input.subarray(0, n));
          return n;
        }
        default:
          return unknownSubOp('console_io', cmd);
      }
    },
  };
}

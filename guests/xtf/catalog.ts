// What each test guest is for and how a run of it must end, so a runner (a KVM-backed test, the
// lab, a CI job) can boot every guest the same way and judge it from its console and its shutdown
// reason alone. Guest names are the file names in tests/.
import { SHUTDOWN_CODES } from '../../hypervisor/xen/domain-events.ts';

export const SHUTDOWN_REASONS = SHUTDOWN_CODES;
export type ShutdownReasonName = keyof typeof SHUTDOWN_REASONS;

export interface XtfRun {
  /** Unique name of this run, e.g. "shutdown-reboot". */
  readonly id: string;
  /** The guest ELF to boot (a BuiltGuest name). */
  readonly guest: string;
  readonly cmdline: string;
  /** The SCHEDOP_shutdown reason the run must end with. */
  readonly expectShutdown: ShutdownReasonName;
  /** At least this many PASS lines (guards against a guest that stops checking things). */
  readonly minPasses: number;
  /** What the run exercises, in one line. */
  readonly covers: string;
}

const plain = (guest: string, minPasses: number, covers: string): XtfRun => ({ id: guest, guest, cmdline: '', expectShutdown: 'poweroff', minPasses, covers });

export const XTF_RUNS: readonly XtfRun[] = [
  plain('cpuid', 10, 'CPUID signature, version, hypercall MSR leaf, HVM feature leaf, no higher hypervisor base'),
  plain('cpuid-elf32', 10, 'the same, loaded from an ELF32 container'),
  plain('hypercall-page', 5, 'hypercall page stubs, re-writing the MSR, #GP for a bad page index'),
  plain('xen-version', 5, 'XENVER_version/extraversion/get_features, -EINVAL and -ENOSYS sub-ops'),
  plain('console', 5, 'CONSOLEIO_write edge cases and an unknown sub-op'),
  plain('shared-info', 5, 'XENMEM_add_to_physmap(shared_info), VCPUOP_register_vcpu_info'),
  plain('evtchn', 20, '2-level event channels: bind_ipi/send/upcall vector, mask/unmask, unbound, virq, close'),
  plain('hvm-params', 8, 'console/xenstore params, CALLBACK_IRQ, bad index and domain'),
  plain('bad-args', 19, '-EFAULT for unmapped or non-RAM pointers, -EINVAL/-ENOENT, -ENOSYS'),
  ...(['poweroff', 'reboot', 'suspend', 'crash', 'watchdog', 'soft_reset'] as const).map(
    (reason): XtfRun => ({
      id: `shutdown-${reason}`,
      guest: 'shutdown',
      cmdline: `reason=${reason}`,
      expectShutdown: reason,
      minPasses: 2,
      covers: `SCHEDOP_shutdown(${reason}) after an -EFAULT request`,
    }),
  ),
];

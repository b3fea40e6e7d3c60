// How a guest ended, and the exit status `xlts run` gives each ending. One table, so the CLI's
// help text, the tests and scripts that call `xlts run` read the same numbers.
//
// 1 is left to Node/commander for its own failures (an uncaught exception in the CLI itself)
// and 124/125 to `xlts lab`, so a status from the shim is never mistaken for either.
import type { ShutdownReason } from '../xen/index.ts';

export const XLTS_RUN_EXIT = {
  /** The guest powered off: SCHEDOP_shutdown(poweroff) or an ACPI S5 write to PM1a_CNT. */
  poweroff: 0,
  /** Bad input, found before any VM exists: kernel file, PVH note, sizes, no usable /dev/kvm. */
  badInput: 2,
  /** The shim itself failed (a bug or a KVM error it cannot recover from); the message says which. */
  shimError: 3,
  /** The guest asked to reboot: SCHEDOP_shutdown(reboot), the ACPI reset register, or the 8042 reset. */
  reboot: 4,
  /** The guest crashed: SCHEDOP_shutdown(crash), a triple fault, or a KVM internal/entry error. */
  crash: 5,
  /** Any other SCHEDOP_shutdown reason (suspend, watchdog, soft_reset): named on stderr. */
  otherShutdown: 6,
  /** --timeout passed before the guest ended. */
  timeout: 7,
} as const;

export type XltsRunExitName = keyof typeof XLTS_RUN_EXIT;

/** Why a guest stopped running, as the shim saw it. `how` is one line for a human. */
export type GuestFate =
  | { readonly kind: 'shutdown'; readonly reason: ShutdownReason; readonly how: string }
  /** The guest died without asking to (triple fault, an instruction KVM cannot run). */
  | { readonly kind: 'crashed'; readonly how: string }
  | { readonly kind: 'shim-error'; readonly error: Error }
  | { readonly kind: 'timeout'; readonly seconds: number };

export function exitStatusForFate(fate: GuestFate): number {
  switch (fate.kind) {
    case 'shutdown':
      switch (fate.reason) {
        case 'poweroff':
          return XLTS_RUN_EXIT.poweroff;
        case 'reboot':
          return XLTS_RUN_EXIT.reboot;
        case 'crash':
          return XLTS_RUN_EXIT.crash;
        case 'suspend':
        case 'watchdog':
        case 'soft_reset':
          return XLTS_RUN_EXIT.otherShutdown;
      }
      break;
    case 'crashed':
      return XLTS_RUN_EXIT.crash;
    case 'shim-error':
      return XLTS_RUN_EXIT.shimError;
    case 'timeout':
      return XLTS_RUN_EXIT.timeout;
  }
  return XLTS_RUN_EXIT.shimError;
}

/** One line for stderr saying how the guest ended. */
export function describeFate(fate: GuestFate): string {
  switch (fate.kind) {
    case 'shutdown':
      return `guest shut down: ${fate.reason} (${fate.how})`;
    case 'crashed':
      return `guest crashed: ${fate.how}`;
    case 'shim-error':
      return `shim error: ${fate.error.message}`;
    case 'timeout':
      return `timeout: the guest was still running after ${fate.seconds} s`;
  }
}

/** The status table as `xlts run --help` shows it. */
export function exitStatusHelp(): string {
  return [
    'Exit status:',
    `  ${XLTS_RUN_EXIT.poweroff}  the guest powered off`,
    `  ${XLTS_RUN_EXIT.badInput}  bad input (kernel, initrd, sizes, /dev/kvm); no VM was created`,
    `  ${XLTS_RUN_EXIT.shimError}  shim error`,
    `  ${XLTS_RUN_EXIT.reboot}  the guest asked to reboot`,
    `  ${XLTS_RUN_EXIT.crash}  the guest crashed (SCHEDOP_shutdown(crash), triple fault, KVM internal error)`,
    `  ${XLTS_RUN_EXIT.otherShutdown}  another shutdown reason (suspend, watchdog, soft_reset)`,
    `  ${XLTS_RUN_EXIT.timeout}  --timeout expired`,
  ].join('\n');
}

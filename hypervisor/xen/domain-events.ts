// What a domain tells the outside world about itself through the hypercall ABI: today, that it is
// shutting down and why. The shim forwards these to xltsd, whose on_poweroff/on_reboot/on_crash
// policy decides what happens next.
import { SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_soft_reset, SHUTDOWN_suspend, SHUTDOWN_watchdog } from './abi.ts';

/** sched.h's SHUTDOWN_* reasons by name. */
export type ShutdownReason = 'poweroff' | 'reboot' | 'suspend' | 'crash' | 'watchdog' | 'soft_reset';

/** The SHUTDOWN_* code of each reason, for guests that ask (process guests, test runners). */
export const SHUTDOWN_CODES: Readonly<Record<ShutdownReason, number>> = {
  poweroff: SHUTDOWN_poweroff,
  reboot: SHUTDOWN_reboot,
  suspend: SHUTDOWN_suspend,
  crash: SHUTDOWN_crash,
  watchdog: SHUTDOWN_watchdog,
  soft_reset: SHUTDOWN_soft_reset,
};

export const SHUTDOWN_REASONS: ReadonlyMap<number, ShutdownReason> = new Map([
  [SHUTDOWN_poweroff, 'poweroff'],
  [SHUTDOWN_reboot, 'reboot'],
  [SHUTDOWN_suspend, 'suspend'],
  [SHUTDOWN_crash, 'crash'],
  [SHUTDOWN_watchdog, 'watchdog'],
  [SHUTDOWN_soft_reset, 'soft_reset'],
]);

export type DomainEvent = {
  readonly kind: 'shutdown';
  readonly reason: ShutdownReason;
  /** The vCPU that asked. */
  readonly vcpuId: number;
};

export interface DomainEventSink {
  domainEvent(event: DomainEvent): void;
}

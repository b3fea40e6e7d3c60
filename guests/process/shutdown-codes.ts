// sched.h's SHUTDOWN_* codes by the names the domain events use.
import { SHUTDOWN_crash, SHUTDOWN_poweroff, SHUTDOWN_reboot, SHUTDOWN_soft_reset, SHUTDOWN_suspend, SHUTDOWN_watchdog, type ShutdownReason } from '../../hypervisor/xen/index.ts';

export type { ShutdownReason };

export const SHUTDOWN_REASON_CODES: Readonly<Record<ShutdownReason, number>> = {
  poweroff: SHUTDOWN_poweroff,
  reboot: SHUTDOWN_reboot,
  suspend: SHUTDOWN_suspend,
  crash: SHUTDOWN_crash,
  watchdog: SHUTDOWN_watchdog,
  soft_reset: SHUTDOWN_soft_reset,
};

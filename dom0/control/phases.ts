// The lifecycle of a domain as the control plane sees it: a closed set of phases and the table of
// moves between them. The domain registry (elsewhere in dom0/) owns the state and calls
// checkPhaseTransition() before every write, so an impossible move is a loud error rather than a
// quiet corruption; the control API says, per command, in which phases it is legal (commands.ts).
//
// The phases (PHASE_TRANSITIONS below is the whole graph):
// - creating: the shim is starting, memory and xenstore entries are being set up.
// - paused: built (Xen builds every domain paused) or paused by `pause`; no vCPU runs.
// - running: vCPUs run.
// - shutting-down: we asked the guest to shut down (control/shutdown in xenstore) and wait for it.
// - shutdown: the guest shut itself down (SCHEDOP_shutdown: poweroff, reboot, ...); the on_*
//   policy now decides: destroy, restart (dying, then a new domain) or preserve (stay here).
// - crashed: the guest reported a crash, or its shim died; on_crash decides, as above.
// - dying: being torn down (destroy, or the first half of restart); nothing leaves it.
import type { ShutdownReason } from '../../hypervisor/xen/domain-events.ts';
import type { ShutdownPolicyKey } from '../domain-config.ts';

export const DOMAIN_PHASES = ['creating', 'paused', 'running', 'shutting-down', 'shutdown', 'crashed', 'dying'] as const;
export type DomainPhase = (typeof DOMAIN_PHASES)[number];

/** Every legal move; a phase to itself is a no-op, never a transition. */
export const PHASE_TRANSITIONS: Readonly<Record<DomainPhase, readonly DomainPhase[]>> = {
  creating: ['paused', 'dying'],
  // A paused domain runs no guest code, so it can neither shut itself down nor crash -- except
  // that its shim process can die, which is reported as a crash.
  paused: ['running', 'crashed', 'dying'],
  running: ['paused', 'shutting-down', 'shutdown', 'crashed', 'dying'],
  'shutting-down': ['shutdown', 'crashed', 'dying'],
  shutdown: ['dying'],
  crashed: ['dying'],
  dying: [],
};

/** The registry tried a move the table does not have. A bug in dom0, not a user error. */
export class IllegalPhaseTransitionError extends Error {
  override readonly name = 'IllegalPhaseTransitionError';
  constructor(
    readonly from: DomainPhase,
    readonly to: DomainPhase,
  ) {
    super(`domain phase ${from} -> ${to} is not a legal transition (from ${from}: ${PHASE_TRANSITIONS[from].join(', ') || 'none'})`);
  }
}

/**
 * Decides a phase write: 'noop' when `to` is the current phase (the write is skipped and not
 * traced), 'transition' when the table allows it; throws IllegalPhaseTransitionError otherwise.
 */
export function checkPhaseTransition(from: DomainPhase, to: DomainPhase): 'noop' | 'transition' {
  if (from === to) return 'noop';
  if (!PHASE_TRANSITIONS[from].includes(to)) throw new IllegalPhaseTransitionError(from, to);
  return 'transition';
}

export function isDomainPhase(value: unknown): value is DomainPhase {
  return typeof value === 'string' && (DOMAIN_PHASES as readonly string[]).includes(value);
}

/**
 * Where a guest's SCHEDOP_shutdown leaves it. What shutdownPolicyKey() hands to on_crash lands in
 * 'crashed', so the phase and the policy applied to it always agree.
 */
export function phaseAfterShutdown(reason: ShutdownReason): 'shutdown' | 'crashed' {
  return shutdownPolicyKey(reason) === 'on_crash' ? 'crashed' : 'shutdown';
}

/**
 * Which on_* key of the domain's config decides what follows a shutdown with this reason, or
 * undefined for suspend, which precedes a save (not a policy decision) and which xlts does not
 * carry out yet. xl has on_watchdog and on_soft_reset too; xlts's configs do not (the mapper warns
 * about them), so a watchdog expiry or a soft reset is handled as a crash.
 */
export function shutdownPolicyKey(reason: ShutdownReason): ShutdownPolicyKey | undefined {
  switch (reason) {
    case 'poweroff':
      return 'on_poweroff';
    case 'reboot':
      return 'on_reboot';
    case 'crash':
    case 'watchdog':
    case 'soft_reset':
      return 'on_crash';
    case 'suspend':
      return undefined;
  }
}

import { describe, expect, it } from 'vitest';
import {
  DOMAIN_PHASES,
  IllegalPhaseTransitionError,
  PHASE_TRANSITIONS,
  checkPhaseTransition,
  isDomainPhase,
  phaseAfterShutdown,
  shutdownPolicyKey,
  type DomainPhase,
} from './phases.ts';

/** Phases reachable from `from` through the table. */
function reachable(from: DomainPhase): Set<DomainPhase> {
  const seen = new Set<DomainPhase>([from]);
  const todo = [from];
  while (todo.length > 0) for (const next of PHASE_TRANSITIONS[todo.pop()!]) if (!seen.has(next)) seen.add(next), todo.push(next);
  return seen;
}

describe('PHASE_TRANSITIONS', () => {
  it('has a row for every phase and names only phases', () => {
    expect(Object.keys(PHASE_TRANSITIONS).sort()).toEqual([...DOMAIN_PHASES].sort());
    for (const targets of Object.values(PHASE_TRANSITIONS)) for (const t of targets) expect(isDomainPhase(t)).toBe(true);
  });

  it('lets every phase reach dying, and nothing leave it', () => {
    for (const p of DOMAIN_PHASES) expect(reachable(p).has('dying'), p).toBe(true);
    expect(PHASE_TRANSITIONS.dying).toEqual([]);
  });

  it('makes every phase reachable from creating', () => {
    expect([...reachable('creating')].sort()).toEqual([...DOMAIN_PHASES].sort());
  });

  it('builds domains paused, as Xen does: creating never runs directly', () => {
    expect(PHASE_TRANSITIONS.creating).not.toContain('running');
  });
});

describe('checkPhaseTransition', () => {
  it('tells no-ops from transitions', () => {
    expect(checkPhaseTransition('running', 'running')).toBe('noop');
    expect(checkPhaseTransition('running', 'paused')).toBe('transition');
    expect(checkPhaseTransition('paused', 'running')).toBe('transition');
  });

  it('throws on moves not in the table', () => {
    expect(() => checkPhaseTransition('dying', 'running')).toThrow(IllegalPhaseTransitionError);
    expect(() => checkPhaseTransition('shutdown', 'running')).toThrow('domain phase shutdown -> running is not a legal transition (from shutdown: dying)');
    expect(() => checkPhaseTransition('paused', 'shutdown')).toThrow(IllegalPhaseTransitionError);
    expect(() => checkPhaseTransition('dying', 'creating')).toThrow('(from dying: none)');
  });
});

describe('shutdown reasons', () => {
  it('map to the on_* key that decides, and to a phase that agrees with it', () => {
    expect(shutdownPolicyKey('poweroff')).toBe('on_poweroff');
    expect(shutdownPolicyKey('reboot')).toBe('on_reboot');
    expect(shutdownPolicyKey('crash')).toBe('on_crash');
    expect(shutdownPolicyKey('watchdog')).toBe('on_crash');
    expect(shutdownPolicyKey('suspend')).toBeUndefined();
    expect(phaseAfterShutdown('poweroff')).toBe('shutdown');
    expect(phaseAfterShutdown('reboot')).toBe('shutdown');
    expect(phaseAfterShutdown('crash')).toBe('crashed');
    expect(phaseAfterShutdown('soft_reset')).toBe('crashed');
    expect(phaseAfterShutdown('suspend')).toBe('shutdown');
  });
});

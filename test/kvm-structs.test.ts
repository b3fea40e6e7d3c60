// Differential check of the KVM layer's declarations against the installed UAPI headers: a C
// program generated from our tables (ring-buffer/testing/c-layout-check.ts) prints the compiler's
// sizeof/offsetof/signedness for every declared struct member and the value of every ioctl,
// capability and constant we name, and each must match what we compute. Also checks glibc's
// struct sigaction layout used by the vCPU kick.
import { describe, expect, it } from 'vitest';
import * as ioctls from '../hypervisor/kvm/kvm-ioctls.ts';
import { ALL_KVM_LAYOUTS, KVM_LAPIC_STATE_SIZE, KVM_RUN_EXIT_UNION_OFFSET } from '../hypervisor/kvm/kvm-structs.ts';
import { SIGACTION_LAYOUT } from '../hypervisor/native/thread-kick.ts';
import type { AnyStructLayout } from '../ring-buffer/layout.ts';
import { type Probe, compare, layoutProbes, runProbes } from '../ring-buffer/testing/c-layout-check.ts';

/** Every (C expression, value we declared) pair to check. */
function checks(): Probe[] {
  const layouts: readonly AnyStructLayout[] = ALL_KVM_LAYOUTS;
  const out: Probe[] = layouts.flatMap((l) => layoutProbes(l));
  const add = (key: string, num: string, expected: number): void => {
    out.push({ key, num, expected });
  };
  add('kvm_run union offset', 'offsetof(struct kvm_run, hw)', KVM_RUN_EXIT_UNION_OFFSET);
  add('kvm_lapic_state sizeof', 'sizeof(struct kvm_lapic_state)', KVM_LAPIC_STATE_SIZE);
  for (const [name, ioctl] of Object.entries(ioctls.KVM_IOCTLS)) add(`ioctl ${name}`, name, ioctl.request);
  const groups = [ioctls.KVM_CAPS, ioctls.KVM_EXIT, ioctls.KVM_SYSTEM_EVENT, ioctls.KVM_INTERNAL_ERROR, ioctls.KVM_MP_STATES];
  for (const group of groups) for (const [name, value] of Object.entries(group)) add(name, name, value);
  for (const [name, value] of Object.entries(ioctls)) {
    if (typeof value === 'number' && /^KVM/.test(name)) add(name, name, value);
  }
  add('sigaction sizeof', 'sizeof(struct sigaction)', SIGACTION_LAYOUT.size);
  add('sigaction.sa_handler', 'offsetof(struct sigaction, sa_handler)', SIGACTION_LAYOUT.sa_handler);
  add('sigaction.sa_mask', 'offsetof(struct sigaction, sa_mask)', SIGACTION_LAYOUT.sa_mask);
  add('sigaction.sa_flags', 'offsetof(struct sigaction, sa_flags)', SIGACTION_LAYOUT.sa_flags);
  add('sigaction.sa_restorer', 'offsetof(struct sigaction, sa_restorer)', SIGACTION_LAYOUT.sa_restorer);
  return out;
}

const PRELUDE = ['#define _GNU_SOURCE', '#include <signal.h>', '#include <linux/kvm.h>'];

describe('KVM declarations match <linux/kvm.h>', () => {
  it('agrees with gcc on every struct size, member offset, width and signedness, ioctl number and constant', () => {
    const list = checks();
    const fromC = runProbes(PRELUDE, list);
    expect(Object.keys(fromC)).toHaveLength(new Set(list.map((p) => p.key)).size);
    const { c, ours } = compare(list, fromC);
    expect(ours).toEqual(c);
    expect(list.length).toBeGreaterThan(300);
  });
});

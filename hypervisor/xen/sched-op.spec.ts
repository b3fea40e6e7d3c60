import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import {
  SCHEDOP_block,
  SCHEDOP_poll,
  SCHEDOP_remote_shutdown,
  SCHEDOP_shutdown,
  SCHEDOP_shutdown_code,
  SCHEDOP_watchdog,
  SCHEDOP_yield,
  SHUTDOWN_crash,
  SHUTDOWN_poweroff,
  SHUTDOWN_reboot,
  SHUTDOWN_soft_reset,
  SHUTDOWN_suspend,
  SHUTDOWN_watchdog,
  __HYPERVISOR_sched_op,
} from './abi.ts';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM } from './errors.ts';
import { testDomain } from './test-support.ts';
import { sched_poll, sched_shutdown } from './wire.ts';

const ARG = 0x3000;
const PORTS = 0x3100;

function writePorts(t: ReturnType<typeof testDomain>, ports: number[]): void {
  const dv = new DataView(t.memory.buffer);
  ports.forEach((p, i) => dv.setUint32(PORTS + i * 4, p, true));
}

describe('sched_op', () => {
  it('yields and blocks through directives, without blocking the dispatcher', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_yield, 0)).toEqual({ result: 0, directive: { kind: 'yield' } });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_block, 0)).toEqual({ result: 0, directive: { kind: 'block' } });
  });

  it.each([
    [SHUTDOWN_poweroff, 'poweroff'],
    [SHUTDOWN_reboot, 'reboot'],
    [SHUTDOWN_suspend, 'suspend'],
    [SHUTDOWN_crash, 'crash'],
    [SHUTDOWN_watchdog, 'watchdog'],
  ] as const)('reports SCHEDOP_shutdown(%i) as a %s domain event and stops the vCPU', (code, reason) => {
    const t = testDomain();
    t.put(sched_shutdown, ARG, { reason: code });
    expect(t.domain.dispatch(t.cpu(1), __HYPERVISOR_sched_op, [BigInt(SCHEDOP_shutdown), BigInt(ARG), 0n, 0n, 0n])).toEqual({
      result: 0,
      directive: { kind: 'shutdown', reason },
    });
    expect(t.engine.events).toEqual([{ kind: 'shutdown', reason, vcpuId: 1 }]);
  });

  it('refuses unknown reasons and bad pointers without an event', () => {
    const t = testDomain();
    t.put(sched_shutdown, ARG, { reason: 6 });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, ARG).result).toBe(-XEN_EINVAL);
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, 1n << 40n).result).toBe(-XEN_EFAULT);
    expect(t.engine.events).toEqual([]);
  });

  it('accepts a soft reset as Xen does: the toolstack decides what it means', () => {
    const t = testDomain();
    t.put(sched_shutdown, ARG, { reason: SHUTDOWN_soft_reset });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, ARG).result).toBe(0);
    expect(t.engine.events).toEqual([{ kind: 'shutdown', reason: 'soft_reset', vcpuId: 0 }]);
  });

  it('reports a latched SCHEDOP_shutdown_code instead of the reason given later', () => {
    const t = testDomain();
    t.put(sched_shutdown, ARG, { reason: SHUTDOWN_crash });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown_code, ARG).result).toBe(0);
    t.put(sched_shutdown, ARG, { reason: SHUTDOWN_reboot });
    t.call(__HYPERVISOR_sched_op, SCHEDOP_shutdown, ARG);
    expect(t.engine.events.map((e) => e.reason)).toEqual(['crash']);
  });

  it('polls: returns at once when a port is pending, else parks the vCPU on the ports', () => {
    const t = testDomain();
    const a = t.domain.evtchn.bindIpi(0);
    const b = t.domain.evtchn.bindIpi(0);
    writePorts(t, [a, b]);
    t.put(sched_poll, ARG, { ports: BigInt(PORTS), nr_ports: 2, timeout: 5_000_000n });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_poll, ARG)).toEqual({ result: 0, directive: { kind: 'poll', ports: [a, b], timeoutNs: 5_000_000n } });
    t.domain.evtchn.send(b);
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_poll, ARG)).toEqual({ result: 0 });
  });

  it('validates poll arguments: port range, count and pointers', () => {
    const t = testDomain();
    writePorts(t, [1, 1024]);
    t.put(sched_poll, ARG, { ports: BigInt(PORTS), nr_ports: 2, timeout: 0n });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_poll, ARG).result).toBe(-XEN_EINVAL);
    t.put(sched_poll, ARG, { ports: BigInt(PORTS), nr_ports: 129, timeout: 0n });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_poll, ARG).result).toBe(-XEN_EINVAL);
    t.put(sched_poll, ARG, { ports: 64n * 4096n - 4n, nr_ports: 2, timeout: 0n });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_poll, ARG).result).toBe(-XEN_EFAULT);
    t.put(sched_poll, ARG, { ports: 0n, nr_ports: 0, timeout: 0n });
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_poll, ARG)).toEqual({ result: 0, directive: { kind: 'poll', ports: [], timeoutNs: 0n } });
    expect(t.memory.view(gpa(0), 4).every((x) => x === 0)).toBe(true);
  });

  it('refuses remote shutdown and does not offer a watchdog yet', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_remote_shutdown, ARG).result).toBe(-XEN_EPERM);
    expect(t.call(__HYPERVISOR_sched_op, SCHEDOP_watchdog, ARG).result).toBe(-XEN_ENOSYS);
  });
});

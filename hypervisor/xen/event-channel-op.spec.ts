import { describe, expect, it } from 'vitest';
import {
  DOMID_SELF,
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_bind_ipi,
  EVTCHNOP_bind_pirq,
  EVTCHNOP_bind_vcpu,
  EVTCHNOP_bind_virq,
  EVTCHNOP_close,
  EVTCHNOP_expand_array,
  EVTCHNOP_init_control,
  EVTCHNOP_send,
  EVTCHNOP_status,
  EVTCHNOP_unmask,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  VIRQ_DEBUG,
  __HYPERVISOR_event_channel_op,
} from './abi.ts';
import { XEN_EEXIST, XEN_EFAULT, XEN_EINVAL, XEN_ENOENT, XEN_ENOSYS, XEN_EPERM, XEN_ESRCH } from './errors.ts';
import { testDomain } from './test-support.ts';
import {
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_ipi,
  evtchn_bind_vcpu,
  evtchn_bind_virq,
  evtchn_close,
  evtchn_send,
  evtchn_status,
  evtchn_unmask,
} from './wire.ts';

const ARG = 0x3000;
const op = (t: ReturnType<typeof testDomain>, cmd: number) => t.call(__HYPERVISOR_event_channel_op, cmd, ARG).result;

describe('event_channel_op', () => {
  it('returns allocated ports through the OUT fields', () => {
    const t = testDomain();
    t.put(evtchn_alloc_unbound, ARG, { dom: DOMID_SELF, remote_dom: 0, port: 0 });
    expect(op(t, EVTCHNOP_alloc_unbound)).toBe(0);
    expect(t.get(evtchn_alloc_unbound, ARG)).toEqual({ dom: DOMID_SELF, remote_dom: 0, port: 1 });
    t.put(evtchn_bind_virq, ARG, { virq: VIRQ_DEBUG, vcpu: 1, port: 0 });
    expect(op(t, EVTCHNOP_bind_virq)).toBe(0);
    expect(t.get(evtchn_bind_virq, ARG).port).toBe(2);
    expect(op(t, EVTCHNOP_bind_virq)).toBe(-XEN_EEXIST);
    t.put(evtchn_bind_ipi, ARG, { vcpu: 0, port: 0 });
    expect(op(t, EVTCHNOP_bind_ipi)).toBe(0);
    expect(t.get(evtchn_bind_ipi, ARG).port).toBe(3);
    t.put(evtchn_bind_ipi, ARG, { vcpu: 7, port: 0 });
    expect(op(t, EVTCHNOP_bind_ipi)).toBe(-XEN_ENOENT);
  });

  it('allocates only in its own domain and binds interdomain only to itself', () => {
    const t = testDomain();
    t.put(evtchn_alloc_unbound, ARG, { dom: 0, remote_dom: 5, port: 0 });
    expect(op(t, EVTCHNOP_alloc_unbound)).toBe(-XEN_EPERM);
    t.put(evtchn_alloc_unbound, ARG, { dom: 5, remote_dom: DOMID_SELF, port: 0 });
    expect(op(t, EVTCHNOP_alloc_unbound)).toBe(0);
    const remote = t.get(evtchn_alloc_unbound, ARG).port;
    t.put(evtchn_bind_interdomain, ARG, { remote_dom: DOMID_SELF, remote_port: remote, local_port: 0 });
    expect(op(t, EVTCHNOP_bind_interdomain)).toBe(0);
    const local = t.get(evtchn_bind_interdomain, ARG).local_port;
    t.put(evtchn_status, ARG, { dom: DOMID_SELF, port: local, status: 0, vcpu: 0, u_word0: 0, u_word1: 0 });
    expect(op(t, EVTCHNOP_status)).toBe(0);
    expect(t.get(evtchn_status, ARG)).toEqual({ dom: DOMID_SELF, port: local, status: EVTCHNSTAT_interdomain, vcpu: 0, u_word0: 5, u_word1: remote });
    t.put(evtchn_bind_interdomain, ARG, { remote_dom: 0, remote_port: 1, local_port: 0 });
    expect(op(t, EVTCHNOP_bind_interdomain)).toBe(-XEN_ESRCH);
  });

  it('reports status with the union filled per state', () => {
    const t = testDomain();
    const unbound = t.domain.evtchn.allocUnbound(0);
    const virq = t.domain.evtchn.bindVirq(VIRQ_DEBUG, 1);
    const status = (port: number, dom = DOMID_SELF) => {
      t.put(evtchn_status, ARG, { dom, port, status: 0xff, vcpu: 0xff, u_word0: 0xffff_ffff, u_word1: 0xffff_ffff });
      const r = op(t, EVTCHNOP_status);
      return r === 0 ? t.get(evtchn_status, ARG) : r;
    };
    expect(status(unbound)).toMatchObject({ status: EVTCHNSTAT_unbound, vcpu: 0, u_word0: 0, u_word1: 0 });
    expect(status(virq)).toMatchObject({ status: EVTCHNSTAT_virq, vcpu: 1, u_word0: VIRQ_DEBUG, u_word1: 0 });
    expect(status(unbound, 0)).toBe(-XEN_EPERM);
    expect(status(5000)).toBe(-XEN_EINVAL);
  });

  it('sends, unmasks, rebinds and closes through the guest structs', () => {
    const t = testDomain();
    t.domain.delivery.setUpcallVector(0, 0xf3);
    t.domain.delivery.setUpcallVector(1, 0xf3);
    const port = t.domain.evtchn.allocUnbound(DOMID_SELF);
    const peer = t.domain.evtchn.bindInterdomain(DOMID_SELF, port);
    t.put(evtchn_bind_vcpu, ARG, { port, vcpu: 1 });
    expect(op(t, EVTCHNOP_bind_vcpu)).toBe(0);
    t.domain.delivery.sharedInfo.setMask(port);
    t.put(evtchn_send, ARG, { port: peer });
    expect(op(t, EVTCHNOP_send)).toBe(0);
    expect(t.engine.injected.filter(([v]) => v === 1)).toEqual([]);
    t.put(evtchn_unmask, ARG, { port });
    expect(op(t, EVTCHNOP_unmask)).toBe(0);
    expect(t.engine.injected.filter(([v]) => v === 1)).toEqual([[1, 0xf3]]);
    t.put(evtchn_close, ARG, { port });
    expect(op(t, EVTCHNOP_close)).toBe(0);
    expect(op(t, EVTCHNOP_close)).toBe(-XEN_EINVAL);
    t.put(evtchn_send, ARG, { port: 4096 });
    expect(op(t, EVTCHNOP_send)).toBe(-XEN_EINVAL);
  });

  it('refuses FIFO quietly so Linux falls back to 2-level; logs the unknown rest', () => {
    const t = testDomain();
    expect(op(t, EVTCHNOP_init_control)).toBe(-XEN_ENOSYS);
    expect(op(t, EVTCHNOP_expand_array)).toBe(-XEN_ENOSYS);
    expect(t.log.lines).toEqual([]);
    expect(op(t, EVTCHNOP_bind_pirq)).toBe(-XEN_ENOSYS);
    expect(op(t, 200)).toBe(-XEN_ENOSYS);
    expect(t.log.lines.length).toBe(2);
  });

  it('faults on bad argument pointers without changing state', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, 1n << 40n).result).toBe(-XEN_EFAULT);
    expect(t.call(__HYPERVISOR_event_channel_op, EVTCHNOP_send, 64 * 4096 - 2).result).toBe(-XEN_EFAULT);
    expect(t.domain.evtchn.bindIpi(0)).toBe(1);
  });
});

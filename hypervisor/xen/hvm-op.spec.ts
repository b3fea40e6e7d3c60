import { describe, expect, it } from 'vitest';
import {
  DOMID_SELF,
  HVMOP_get_param,
  HVMOP_get_time,
  HVMOP_pagetable_dying,
  HVMOP_set_evtchn_upcall_vector,
  HVMOP_set_param,
  HVM_NR_PARAMS,
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_CONSOLE_EVTCHN,
  HVM_PARAM_CONSOLE_PFN,
  HVM_PARAM_STORE_EVTCHN,
  HVM_PARAM_STORE_PFN,
  HVM_PARAM_TIMER_MODE,
  __HYPERVISOR_hvm_op,
} from './abi.ts';
import { XEN_EINVAL, XEN_ENOENT, XEN_ENOSYS, XEN_EPERM, XEN_ESRCH } from './errors.ts';
import { decodeCallbackVia } from './hvm-params.ts';
import { testDomain } from './test-support.ts';
import { xen_hvm_evtchn_upcall_vector, xen_hvm_param } from './wire.ts';

const ARG = 0x3000;

describe('hvm_op', () => {
  it('lets the guest read the store and console parameters the toolstack set', () => {
    const t = testDomain();
    t.domain.hvmParams.set(HVM_PARAM_STORE_PFN, 0xfeff9n);
    t.domain.hvmParams.set(HVM_PARAM_STORE_EVTCHN, 2n);
    t.domain.hvmParams.set(HVM_PARAM_CONSOLE_PFN, 0xfeff8n);
    t.domain.hvmParams.set(HVM_PARAM_CONSOLE_EVTCHN, 1n);
    const get = (index: number) => {
      t.put(xen_hvm_param, ARG, { domid: DOMID_SELF, pad: 0, index, value: 0n });
      const r = t.call(__HYPERVISOR_hvm_op, HVMOP_get_param, ARG).result;
      return r === 0 ? t.get(xen_hvm_param, ARG).value : r;
    };
    expect(get(HVM_PARAM_STORE_PFN)).toBe(0xfeff9n);
    expect(get(HVM_PARAM_STORE_EVTCHN)).toBe(2n);
    expect(get(HVM_PARAM_CONSOLE_PFN)).toBe(0xfeff8n);
    expect(get(HVM_PARAM_CONSOLE_EVTCHN)).toBe(1n);
    expect(get(HVM_PARAM_TIMER_MODE)).toBe(-XEN_EPERM);
    expect(get(HVM_NR_PARAMS)).toBe(-XEN_EINVAL);
  });

  it('lets the guest set only CALLBACK_IRQ, and only for itself', () => {
    const t = testDomain();
    const set = (index: number, value: bigint, domid = DOMID_SELF) => {
      t.put(xen_hvm_param, ARG, { domid, pad: 0, index, value });
      return t.call(__HYPERVISOR_hvm_op, HVMOP_set_param, ARG).result;
    };
    expect(set(HVM_PARAM_CALLBACK_IRQ, 1n)).toBe(0); // Linux's fake GSI 1
    expect(t.domain.hvmParams.callbackVia).toEqual({ kind: 'gsi', gsi: 1 });
    expect(set(HVM_PARAM_STORE_PFN, 0x1234n)).toBe(-XEN_EPERM);
    expect(t.domain.hvmParams.get(HVM_PARAM_STORE_PFN)).toBe(0n);
    expect(set(HVM_PARAM_CALLBACK_IRQ, 1n, 3)).toBe(-XEN_ESRCH);
    expect(t.log.lines).toEqual([]);
    expect(set(HVM_PARAM_CALLBACK_IRQ, (2n << 56n) | 0xf3n)).toBe(0);
    expect(t.log.lines.length).toBe(1); // a global vector we will not deliver through
  });

  it('decodes the callback types', () => {
    expect(decodeCallbackVia(0n)).toEqual({ kind: 'none' });
    expect(decodeCallbackVia((2n << 56n) | 0xf3n)).toEqual({ kind: 'vector', vector: 0xf3 });
    expect(decodeCallbackVia(1n << 56n).kind).toBe('pci-intx');
    expect(decodeCallbackVia(7n << 56n).kind).toBe('unknown');
  });

  it('registers per-vCPU upcall vectors: vector >= 0x10 first, then the vCPU', () => {
    const t = testDomain();
    const setVector = (vcpu: number, vector: number) => {
      t.put(xen_hvm_evtchn_upcall_vector, ARG, { vcpu, vector });
      return t.call(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, ARG).result;
    };
    expect(setVector(1, 0xf3)).toBe(0);
    expect(t.domain.delivery.upcallVector(1)).toBe(0xf3);
    expect(setVector(0, 0x0f)).toBe(-XEN_EINVAL);
    expect(setVector(9, 0x0f)).toBe(-XEN_EINVAL);
    expect(setVector(9, 0xf3)).toBe(-XEN_ENOENT);
  });

  it('refuses pagetable_dying quietly and logs ops it does not know', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_hvm_op, HVMOP_pagetable_dying, ARG).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines).toEqual([]);
    expect(t.call(__HYPERVISOR_hvm_op, HVMOP_get_time, ARG).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines.length).toBe(1);
  });
});

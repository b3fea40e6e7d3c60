import { describe, expect, it } from 'vitest';
import { VCPUOP_is_up, VCPUOP_register_vcpu_info, VCPUOP_stop_periodic_timer, __HYPERVISOR_vcpu_op } from './abi.ts';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOENT, XEN_ENOSYS } from './errors.ts';
import { testDomain } from './test-support.ts';
import { vcpu_register_vcpu_info } from './wire.ts';

const ARG = 0x3000;

describe('vcpu_op', () => {
  it('registers a vcpu_info for any vCPU of the domain', () => {
    const t = testDomain();
    t.put(vcpu_register_vcpu_info, ARG, { mfn: 0x20n, offset: 0x80, rsvd: 0 });
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 1, ARG).result).toBe(0);
    expect(t.domain.delivery.registeredVcpuInfo(1)).toBe(0x20080);
  });

  it('refuses unknown vCPUs before anything else, and bad placements', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 2, ARG).result).toBe(-XEN_ENOENT);
    expect(t.call(__HYPERVISOR_vcpu_op, 999, 2, ARG).result).toBe(-XEN_ENOENT);
    t.put(vcpu_register_vcpu_info, ARG, { mfn: 0x20n, offset: 0x81, rsvd: 0 });
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, ARG).result).toBe(-XEN_EINVAL);
    t.put(vcpu_register_vcpu_info, ARG, { mfn: 0x100000n, offset: 0, rsvd: 0 });
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, ARG).result).toBe(-XEN_EINVAL);
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, 1n << 52n).result).toBe(-XEN_EFAULT);
  });

  it('answers -ENOSYS, logged by name, for the PV and pvclock-only ops', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_is_up, 0).result).toBe(-XEN_ENOSYS);
    expect(t.call(__HYPERVISOR_vcpu_op, VCPUOP_stop_periodic_timer, 0).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines).toEqual([
      'dom5 vcpu0: vcpu_op(VCPUOP_is_up) is not implemented, returning -ENOSYS',
      'dom5 vcpu0: vcpu_op(VCPUOP_stop_periodic_timer) is not implemented, returning -ENOSYS',
    ]);
  });
});

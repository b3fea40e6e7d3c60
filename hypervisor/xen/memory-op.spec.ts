import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import {
  DOMID_SELF,
  XENMAPSPACE_dev_mmio,
  XENMAPSPACE_gmfn,
  XENMAPSPACE_grant_table,
  XENMAPSPACE_shared_info,
  XENMEM_add_to_physmap,
  XENMEM_current_reservation,
  XENMEM_decrease_reservation,
  XENMEM_maximum_gpfn,
  XENMEM_maximum_reservation,
  XENMEM_memory_map,
  __HYPERVISOR_memory_op,
} from './abi.ts';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EOPNOTSUPP, XEN_EPERM, XEN_ESRCH } from './errors.ts';
import { testDomain } from './test-support.ts';
import { e820entry, xen_add_to_physmap, xen_memory_domain, xen_memory_map } from './wire.ts';

const ARG = 0x3000;
const MAP = [
  { addr: 0n, size: 0x9fc00n, type: 1 },
  { addr: 0x9fc00n, size: 0x400n, type: 2 },
  { addr: 0x100000n, size: 0x3f00000n, type: 1 },
];

describe('memory_op', () => {
  it('XENMAPSPACE_shared_info makes the named RAM page shared_info', () => {
    const t = testDomain();
    t.memory.view(gpa(0x10000), 4096).fill(0x55);
    t.put(xen_add_to_physmap, ARG, { domid: DOMID_SELF, size: 0, space: XENMAPSPACE_shared_info, idx: 0n, gpfn: 0x10n });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, ARG).result).toBe(0);
    expect(t.domain.delivery.sharedInfoGfn).toBe(0x10);
    expect(t.memory.view(gpa(0x10000), 4096).every((b) => b === 0)).toBe(true);
    // Our own domid works as well as DOMID_SELF.
    t.put(xen_add_to_physmap, ARG, { domid: 5, size: 0, space: XENMAPSPACE_shared_info, idx: 0n, gpfn: 0x11n });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, ARG).result).toBe(0);
    expect(t.domain.delivery.sharedInfoGfn).toBe(0x11);
  });

  it('refuses other domains, other frames, holes and unknown spaces', () => {
    const t = testDomain();
    const atp = (space: number, over: Partial<{ domid: number; idx: bigint; gpfn: bigint }> = {}) => {
      t.put(xen_add_to_physmap, ARG, { domid: DOMID_SELF, size: 0, space, idx: 0n, gpfn: 0x10n, ...over });
      return t.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, ARG).result;
    };
    expect(atp(XENMAPSPACE_shared_info, { domid: 0 })).toBe(-XEN_ESRCH);
    expect(atp(XENMAPSPACE_shared_info, { idx: 1n })).toBe(-XEN_EINVAL);
    expect(atp(XENMAPSPACE_shared_info, { gpfn: 0xfeff8n })).toBe(-XEN_EINVAL);
    expect(atp(XENMAPSPACE_shared_info, { gpfn: 0xffff_ffff_ffff_ffffn })).toBe(-XEN_EINVAL);
    expect(atp(XENMAPSPACE_grant_table)).toBe(-XEN_EINVAL); // this test domain has no grant frames
    expect(atp(XENMAPSPACE_gmfn)).toBe(-XEN_EOPNOTSUPP);
    expect(atp(XENMAPSPACE_dev_mmio)).toBe(-XEN_EPERM);
    expect(atp(99)).toBe(-XEN_EINVAL);
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, 1n << 50n).result).toBe(-XEN_EFAULT);
  });

  it('reports reservations and the highest frame', () => {
    const t = testDomain({ maxPages: 128 });
    t.put(xen_memory_domain, ARG, { domid: DOMID_SELF });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_current_reservation, ARG).result).toBe(64);
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_maximum_reservation, ARG).result).toBe(128);
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_maximum_gpfn, ARG).result).toBe(63);
    t.put(xen_memory_domain, ARG, { domid: 3 });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_current_reservation, ARG).result).toBe(-XEN_ESRCH);
  });

  it('returns the configured E820 map, truncated to the room the guest gives', () => {
    const t = testDomain({ memoryMap: MAP });
    const BUF = 0x4000;
    t.put(xen_memory_map, ARG, { nr_entries: 2, buffer: BigInt(BUF) });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_memory_map, ARG).result).toBe(0);
    expect(t.get(xen_memory_map, ARG).nr_entries).toBe(2);
    expect(t.get(e820entry, BUF)).toEqual(MAP[0]);
    expect(t.get(e820entry, BUF + 20)).toEqual(MAP[1]);
    expect(t.memory.view(gpa(BUF + 40), 20).every((b) => b === 0)).toBe(true);
    t.put(xen_memory_map, ARG, { nr_entries: 128, buffer: BigInt(BUF) });
    t.call(__HYPERVISOR_memory_op, XENMEM_memory_map, ARG);
    expect(t.get(xen_memory_map, ARG).nr_entries).toBe(3);
    t.put(xen_memory_map, ARG, { nr_entries: 3, buffer: 64n * 4096n - 30n });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_memory_map, ARG).result).toBe(-XEN_EFAULT);
  });

  it('answers -ENOSYS without a map and for ops it does not offer', () => {
    const t = testDomain();
    t.put(xen_memory_map, ARG, { nr_entries: 2, buffer: 0x4000n });
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_memory_map, ARG).result).toBe(-XEN_ENOSYS);
    expect(t.call(__HYPERVISOR_memory_op, XENMEM_decrease_reservation, ARG).result).toBe(-XEN_ENOSYS);
  });
});

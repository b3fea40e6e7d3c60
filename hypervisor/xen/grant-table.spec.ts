import { describe, expect, it } from 'vitest';
import { DOMID_SELF, GNTTABOP_query_size, XENMAPSPACE_grant_table, XENMEM_add_to_physmap, __HYPERVISOR_grant_table_op, __HYPERVISOR_memory_op } from './abi.ts';
import { XEN_EINVAL } from './errors.ts';
import { GrantFramePlacementError, XENMAPIDX_grant_table_status, type GrantFrameBacking } from './grant-table.ts';
import { testDomain } from './test-support.ts';
import { gnttab_query_size, xen_add_to_physmap } from './wire.ts';

const ARG = 0x3000;

/** A backing that records placements and refuses one address, as a KVM slot overlap would. */
function fakeBacking(maxFrames: number, refuse = -1) {
  const calls: Array<[number, number]> = [];
  const backing: GrantFrameBacking = {
    maxFrames,
    place(idx, gpfn) {
      if (gpfn === refuse) throw new GrantFramePlacementError(`gpfn 0x${gpfn.toString(16)} is taken`);
      calls.push([idx, gpfn]);
    },
  };
  return { backing, calls };
}

describe('grant table frames (XENMEM_add_to_physmap, XENMAPSPACE_grant_table)', () => {
  it('places frames where the guest asks and grows nr_frames as it goes', () => {
    const { backing, calls } = fakeBacking(4);
    const t = testDomain({ grantFrames: backing });
    const add = (idx: bigint, gpfn: bigint): number => {
      t.put(xen_add_to_physmap, ARG, { domid: DOMID_SELF, size: 0, space: XENMAPSPACE_grant_table, idx, gpfn });
      return t.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, ARG).result;
    };
    const querySize = () => {
      t.put(gnttab_query_size, ARG, { dom: DOMID_SELF, nr_frames: 0, max_nr_frames: 0, status: 0 });
      t.call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, ARG, 1);
      return t.get(gnttab_query_size, ARG);
    };
    expect(querySize()).toMatchObject({ nr_frames: 1, max_nr_frames: 4 });
    expect(add(0n, 0x10000n)).toBe(0);
    expect(add(2n, 0x10002n)).toBe(0);
    expect(querySize()).toMatchObject({ nr_frames: 3, max_nr_frames: 4 });
    expect(t.domain.grantTable.gpfnOf(2)).toBe(0x10002);
    // The same placement again is a no-op; moving a frame asks the backing again.
    expect(add(0n, 0x10000n)).toBe(0);
    expect(add(0n, 0x20000n)).toBe(0);
    expect(calls).toEqual([
      [0, 0x10000],
      [2, 0x10002],
      [0, 0x20000],
    ]);
  });

  it('refuses frames past the maximum, v2 status frames, taken addresses and two frames on one gpfn', () => {
    const { backing, calls } = fakeBacking(2, 0x666);
    const t = testDomain({ grantFrames: backing });
    const add = (idx: bigint, gpfn: bigint): number => {
      t.put(xen_add_to_physmap, ARG, { domid: DOMID_SELF, size: 0, space: XENMAPSPACE_grant_table, idx, gpfn });
      return t.call(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, ARG).result;
    };
    expect(add(2n, 0x100n)).toBe(-XEN_EINVAL);
    expect(add(BigInt(XENMAPIDX_grant_table_status), 0x100n)).toBe(-XEN_EINVAL);
    expect(add(1n << 40n, 0x100n)).toBe(-XEN_EINVAL);
    expect(add(0n, 0x666n)).toBe(-XEN_EINVAL);
    expect(add(0n, 0x100n)).toBe(0);
    expect(add(1n, 0x100n)).toBe(-XEN_EINVAL);
    expect(calls).toEqual([[0, 0x100]]);
  });

  it('a domain without a backing has no grant frames: query_size says 0 of 0', () => {
    const t = testDomain();
    t.put(gnttab_query_size, ARG, { dom: DOMID_SELF, nr_frames: 9, max_nr_frames: 9, status: 0 });
    t.call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, ARG, 1);
    expect(t.get(gnttab_query_size, ARG)).toMatchObject({ nr_frames: 0, max_nr_frames: 0 });
  });
});

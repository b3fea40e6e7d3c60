import { describe, expect, it } from 'vitest';
import { DOMID_SELF, GNTST_bad_domain, GNTST_okay, GNTTABOP_get_version, GNTTABOP_map_grant_ref, GNTTABOP_query_size, GNTTABOP_set_version, GNTTABOP_setup_table, __HYPERVISOR_grant_table_op } from './abi.ts';
import { XEN_EINVAL, XEN_ENOSYS, XEN_EOPNOTSUPP, XEN_ESRCH } from './errors.ts';
import { testDomain } from './test-support.ts';
import { gnttab_get_version, gnttab_query_size, gnttab_set_version } from './wire.ts';

const ARG = 0x3000;

describe('grant_table_op', () => {
  it('reports the frame counts for ourselves and bad_domain in status for others', () => {
    const t = testDomain({ grantFrames: { maxFrames: 4, place: () => undefined } });
    t.put(gnttab_query_size, ARG, { dom: DOMID_SELF, nr_frames: 0, max_nr_frames: 0, status: 0 });
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, ARG, 1).result).toBe(0);
    expect(t.get(gnttab_query_size, ARG)).toEqual({ dom: DOMID_SELF, nr_frames: 1, max_nr_frames: 4, status: GNTST_okay });
    t.put(gnttab_query_size, ARG, { dom: 0, nr_frames: 0, max_nr_frames: 0, status: 0 });
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, ARG, 1).result).toBe(0);
    expect(t.get(gnttab_query_size, ARG).status).toBe(GNTST_bad_domain);
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_query_size, ARG, 2).result).toBe(-XEN_EINVAL);
  });

  it('accepts version 1 only and always writes back the version in force', () => {
    const t = testDomain();
    t.put(gnttab_set_version, ARG, { version: 1 });
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_set_version, ARG, 1).result).toBe(0);
    t.put(gnttab_set_version, ARG, { version: 2 });
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_set_version, ARG, 1).result).toBe(-XEN_EOPNOTSUPP);
    expect(t.get(gnttab_set_version, ARG).version).toBe(1);
    t.put(gnttab_get_version, ARG, { dom: DOMID_SELF, pad: 0, version: 0 });
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_get_version, ARG, 1).result).toBe(0);
    expect(t.get(gnttab_get_version, ARG).version).toBe(1);
    t.put(gnttab_get_version, ARG, { dom: 0, pad: 0, version: 0 });
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_get_version, ARG, 1).result).toBe(-XEN_ESRCH);
  });

  it('answers -ENOSYS, logged, for the operations that need real grant tables', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_setup_table, ARG, 1).result).toBe(-XEN_ENOSYS);
    expect(t.call(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref, ARG, 1).result).toBe(-XEN_ENOSYS);
    expect(t.log.lines).toEqual([
      'dom5 vcpu0: grant_table_op(GNTTABOP_setup_table) is not implemented, returning -ENOSYS',
      'dom5 vcpu0: grant_table_op(GNTTABOP_map_grant_ref) is not implemented, returning -ENOSYS',
    ]);
  });
});

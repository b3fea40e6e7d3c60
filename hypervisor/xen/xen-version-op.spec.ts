import { describe, expect, it } from 'vitest';
import { gpa } from '../memory/guest-memory.ts';
import {
  XENFEAT_auto_translated_physmap,
  XENFEAT_hvm_callback_vector,
  XENFEAT_hvm_pirqs,
  XENFEAT_hvm_safe_pvclock,
  XENVER_build_id,
  XENVER_capabilities,
  XENVER_changeset,
  XENVER_commandline,
  XENVER_compile_info,
  XENVER_extraversion,
  XENVER_get_features,
  XENVER_guest_handle,
  XENVER_pagesize,
  XENVER_platform_parameters,
  XENVER_version,
  __HYPERVISOR_xen_version,
} from './abi.ts';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS, XEN_EPERM } from './errors.ts';
import { featureSubmap } from './identity.ts';
import { testDomain } from './test-support.ts';
import { xen_compile_info, xen_feature_info, xen_platform_parameters } from './wire.ts';

const ARG = 0x3000;

function cstr(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? bytes.length : end));
}

describe('xen_version', () => {
  it('returns major:minor in 16:16', () => {
    expect(testDomain().call(__HYPERVISOR_xen_version, XENVER_version, 0).result).toBe(0x00040011);
    expect(testDomain({ identity: { major: 4, minor: 19 } }).call(__HYPERVISOR_xen_version, XENVER_version).result).toBe(0x00040013);
  });

  it('fills the string queries with NUL-terminated text', () => {
    const t = testDomain({ identity: { extraversion: '.0-a-very-long-extraversion' } });
    expect(t.call(__HYPERVISOR_xen_version, XENVER_extraversion, ARG).result).toBe(0);
    const extra = t.memory.view(gpa(ARG), 16);
    expect(cstr(extra)).toBe('.0-a-very-long-');
    expect(extra[15]).toBe(0);
    expect(t.call(__HYPERVISOR_xen_version, XENVER_capabilities, ARG).result).toBe(0);
    expect(cstr(t.memory.view(gpa(ARG), 1024))).toBe('hvm-3.0-x86_64');
    expect(t.call(__HYPERVISOR_xen_version, XENVER_changeset, ARG).result).toBe(0);
    expect(cstr(t.memory.view(gpa(ARG), 64))).toBe('xlts');
    expect(t.call(__HYPERVISOR_xen_version, XENVER_compile_info, ARG).result).toBe(0);
    expect(cstr(t.get(xen_compile_info, ARG).compiler)).toBe('xlts (TypeScript)');
  });

  it('reports the features a PVH guest needs, and no pvclock or pirqs', () => {
    const t = testDomain();
    t.put(xen_feature_info, ARG, { submap_idx: 0, submap: 0xdead });
    expect(t.call(__HYPERVISOR_xen_version, XENVER_get_features, ARG).result).toBe(0);
    const { submap } = t.get(xen_feature_info, ARG);
    expect(submap).toBe(featureSubmap({ pvclock: false }));
    expect(submap & (1 << XENFEAT_auto_translated_physmap)).not.toBe(0);
    expect(submap & (1 << XENFEAT_hvm_callback_vector)).not.toBe(0);
    expect(submap & (1 << XENFEAT_hvm_safe_pvclock)).toBe(0);
    expect(submap & (1 << XENFEAT_hvm_pirqs)).toBe(0);
    t.put(xen_feature_info, ARG, { submap_idx: 1, submap: 0 });
    expect(t.call(__HYPERVISOR_xen_version, XENVER_get_features, ARG).result).toBe(-XEN_EINVAL);
  });

  it('answers pagesize, platform parameters and the guest handle', () => {
    const handle = Uint8Array.from({ length: 16 }, (_, i) => i);
    const t = testDomain({ identity: { handle } });
    expect(t.call(__HYPERVISOR_xen_version, XENVER_pagesize).result).toBe(4096);
    expect(t.call(__HYPERVISOR_xen_version, XENVER_platform_parameters, ARG).result).toBe(0);
    expect(t.get(xen_platform_parameters, ARG).virt_start).toBe(0xffff_8000_0000_0000n);
    expect(t.call(__HYPERVISOR_xen_version, XENVER_guest_handle, ARG).result).toBe(0);
    expect(t.memory.view(gpa(ARG), 16)).toEqual(handle);
  });

  it('refuses privileged queries, unknown ones and bad pointers', () => {
    const t = testDomain();
    expect(t.call(__HYPERVISOR_xen_version, XENVER_commandline, ARG).result).toBe(-XEN_EPERM);
    expect(t.call(__HYPERVISOR_xen_version, XENVER_build_id, ARG).result).toBe(-XEN_EPERM);
    expect(t.call(__HYPERVISOR_xen_version, 42, ARG).result).toBe(-XEN_ENOSYS);
    expect(t.call(__HYPERVISOR_xen_version, XENVER_get_features, 64 * 4096).result).toBe(-XEN_EFAULT);
    expect(t.call(__HYPERVISOR_xen_version, XENVER_extraversion, 64 * 4096 - 8).result).toBe(-XEN_EFAULT);
  });
});

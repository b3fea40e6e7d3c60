// __HYPERVISOR_xen_version(cmd, arg): version numbers, build strings and feature bits.
// Linux PVH calls XENVER_get_features early (drivers/xen/features.c), then XENVER_version and
// XENVER_extraversion for its boot banner.
import {
  XENFEAT_NR_SUBMAPS,
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
  XEN_CAPABILITIES_INFO_LEN,
  XEN_CHANGESET_INFO_LEN,
  XEN_EXTRAVERSION_LEN,
  XEN_PAGE_SIZE,
  __HYPERVISOR_xen_version,
} from './abi.ts';
import { InvalidArgumentError, NotPermittedError } from './errors.ts';
import { u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import { cString, type XenIdentity } from './identity.ts';
import { xen_compile_info, xen_feature_info, xen_platform_parameters } from './wire.ts';

/** x86_64 HYPERVISOR_VIRT_START (arch-x86/xen-x86_64.h), which Xen reports to 64-bit HVM guests. */
const HYPERVISOR_VIRT_START = 0xffff_8000_0000_0000n;

export function xenVersionOp(identity: XenIdentity): HypercallFamily {
  return {
    nr: __HYPERVISOR_xen_version,
    name: 'xen_version',
    handle({ guest, args }: HypercallCall): number {
      const cmd = u32Arg(args[0]);
      const arg = args[1];
      switch (cmd) {
        case XENVER_version:
          return ((identity.major << 16) | identity.minor) >>> 0;
        case XENVER_extraversion:
          guest.copyOut(arg, cString(identity.extraversion, XEN_EXTRAVERSION_LEN));
          return 0;
        case XENVER_compile_info:
          guest.write(xen_compile_info, arg, {
            compiler: cString(identity.compiler, 64),
            compile_by: cString(identity.compileBy, 16),
            compile_domain: cString(identity.compileDomain, 32),
            compile_date: cString(identity.compileDate, 32),
          });
          return 0;
        case XENVER_capabilities:
          guest.copyOut(arg, cString(identity.capabilities, XEN_CAPABILITIES_INFO_LEN));
          return 0;
        case XENVER_changeset:
          guest.copyOut(arg, cString(identity.changeset, XEN_CHANGESET_INFO_LEN));
          return 0;
        case XENVER_platform_parameters:
          guest.write(xen_platform_parameters, arg, { virt_start: HYPERVISOR_VIRT_START });
          return 0;
        case XENVER_get_features: {
          const fi = guest.read(xen_feature_info, arg);
          if (fi.submap_idx >= XENFEAT_NR_SUBMAPS) throw new InvalidArgumentError(`no feature submap ${fi.submap_idx}`);
          guest.write(xen_feature_info, arg, { submap_idx: fi.submap_idx, submap: identity.features });
          return 0;
        }
        case XENVER_pagesize:
          return XEN_PAGE_SIZE;
        case XENVER_guest_handle:
          guest.copyOut(arg, identity.handle);
          return 0;
        case XENVER_commandline:
        case XENVER_build_id:
          // Privileged in Xen (XSM denies them to unprivileged domains): nothing for a DomU.
          throw new NotPermittedError(`XENVER ${cmd} is for privileged domains`);
        default:
          return unknownSubOp('xen_version', cmd);
      }
    },
  };
}

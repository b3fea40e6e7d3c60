// Who we say we are to the guest: the Xen version, build strings and feature bits. One config,
// read by XENVER_* (xen-version-op.ts) and the CPUID leaves (cpuid.ts), so they cannot disagree.
import {
  XENFEAT_auto_translated_physmap,
  XENFEAT_hvm_callback_vector,
  XENFEAT_hvm_safe_pvclock,
  XENFEAT_supervisor_mode_kernel,
  XENFEAT_writable_descriptor_tables,
  XENFEAT_writable_page_tables,
  XEN_DOMAIN_HANDLE_LEN,
} from './abi.ts';

export interface XenIdentity {
  /** Reported by XENVER_version and CPUID base+1. Linux suppresses XS_RESET_WATCHES below 4. */
  readonly major: number;
  readonly minor: number;
  /** XENVER_extraversion, at most 15 characters (char[16], NUL-terminated). */
  readonly extraversion: string;
  readonly compiler: string;
  readonly compileBy: string;
  readonly compileDomain: string;
  readonly compileDate: string;
  /** XENVER_capabilities: space-separated guest ABIs. */
  readonly capabilities: string;
  readonly changeset: string;
  /** XENVER_guest_handle: the domain's UUID, 16 bytes. */
  readonly handle: Uint8Array;
  /** XENVER_get_features submap 0. */
  readonly features: number;
}

export interface FeatureChoices {
  /**
   * Advertise XENFEAT_hvm_safe_pvclock. Only with a Xen clock implemented (vcpu_time_info kept
   * current, VIRQ_TIMER and the VCPUOP timers); without it Linux runs its native timers.
   */
  readonly pvclock: boolean;
}

/**
 * Feature submap 0 for a PVH guest. QEMU's Xen emulation advertises bits 0-3 and 8-10; we leave out
 * hvm_pirqs (10: no physical IRQs to route) and, unless implemented, hvm_safe_pvclock (9).
 * auto_translated_physmap (2) is what makes Linux use the PVH (not PV) paths for grants and the p2m.
 * hvm_callback_vector (8) tells it vector-based event delivery works; with CPUID base+4's
 * UPCALL_VECTOR flag it then uses the per-vCPU vector.
 */
export function featureSubmap(choices: FeatureChoices): number {
  let bits =
    (1 << XENFEAT_writable_page_tables) |
    (1 << XENFEAT_writable_descriptor_tables) |
    (1 << XENFEAT_auto_translated_physmap) |
    (1 << XENFEAT_supervisor_mode_kernel) |
    (1 << XENFEAT_hvm_callback_vector);
  if (choices.pvclock) bits |= 1 << XENFEAT_hvm_safe_pvclock;
  return bits >>> 0;
}

export function defaultXenIdentity(overrides: Partial<XenIdentity> = {}): XenIdentity {
  const identity: XenIdentity = {
    major: 4,
    minor: 17,
    extraversion: '.0-xlts',
    compiler: 'xlts (TypeScript)',
    compileBy: 'xlts',
    compileDomain: 'localdomain',
    compileDate: 'n/a',
    capabilities: 'hvm-3.0-x86_64',
    changeset: 'xlts',
    handle: new Uint8Array(XEN_DOMAIN_HANDLE_LEN),
    features: featureSubmap({ pvclock: false }),
    ...overrides,
  };
  if (!Number.isInteger(identity.major) || identity.major < 0 || identity.major > 0xffff) throw new RangeError(`bad major ${identity.major}`);
  if (!Number.isInteger(identity.minor) || identity.minor < 0 || identity.minor > 0xffff) throw new RangeError(`bad minor ${identity.minor}`);
  if (identity.handle.length !== XEN_DOMAIN_HANDLE_LEN) throw new RangeError(`domain handle must be ${XEN_DOMAIN_HANDLE_LEN} bytes`);
  return identity;
}

/** A fixed-size C char array holding `text`, NUL-terminated (truncated to size - 1 bytes). */
export function cString(text: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const bytes = new TextEncoder().encode(text);
  out.set(bytes.subarray(0, size - 1));
  return out;
}

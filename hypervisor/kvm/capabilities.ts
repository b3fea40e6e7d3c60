// What this host's KVM offers, by capability name, and which of those the shim cannot do without.
// Backs `xlts kvm-info`, and lets the shim refuse to start with one clear error instead of failing
// on the first ioctl that needs a missing feature.
import { KvmCapabilityError } from './errors.ts';
import { KVM_API_VERSION, KVM_CAPS, type KvmCapName } from './kvm-ioctls.ts';
import type { Kvm } from './kvm.ts';

/** Capabilities the hypervisor shim needs, and what for. */
export const SHIM_REQUIRED_CAPABILITIES: readonly { readonly cap: KvmCapName; readonly why: string }[] = [
  { cap: 'KVM_CAP_USER_MEMORY', why: 'guest RAM from a shared-memory file' },
  { cap: 'KVM_CAP_IRQCHIP', why: 'in-kernel LAPIC/IOAPIC/PIC for native timers and interrupts' },
  { cap: 'KVM_CAP_PIT2', why: 'in-kernel i8254 timer' },
  { cap: 'KVM_CAP_IRQFD', why: 'event channels from Dom0 injected without a userspace hop' },
  { cap: 'KVM_CAP_IOEVENTFD', why: 'guest notifications to Dom0 without a userspace hop' },
  { cap: 'KVM_CAP_SIGNAL_MSI', why: 'per-vCPU upcall vector injection' },
  { cap: 'KVM_CAP_X86_USER_SPACE_MSR', why: 'the Xen hypercall-page MSR handled in userspace' },
  { cap: 'KVM_CAP_X86_MSR_FILTER', why: 'routing the hypercall-page MSR to userspace' },
  { cap: 'KVM_CAP_IMMEDIATE_EXIT', why: 'pausing and stopping vCPUs without races' },
];

export interface KvmCapabilityReport {
  readonly path: string;
  readonly apiVersion: number;
  readonly vcpuMmapSize: number;
  /** KVM_CHECK_EXTENSION for every capability xlts names: 0 = absent. */
  readonly capabilities: Readonly<Record<KvmCapName, number>>;
  /** Required capabilities this KVM lacks (empty when the shim can run here). */
  readonly missing: readonly KvmCapName[];
}

export function kvmCapabilityReport(kvm: Kvm): KvmCapabilityReport {
  const capabilities = Object.fromEntries(
    (Object.keys(KVM_CAPS) as KvmCapName[]).map((cap) => [cap, kvm.checkExtension(cap)] as const),
  ) as Record<KvmCapName, number>;
  return {
    path: kvm.path,
    apiVersion: KVM_API_VERSION,
    vcpuMmapSize: kvm.vcpuMmapSize(),
    capabilities,
    missing: SHIM_REQUIRED_CAPABILITIES.filter((r) => capabilities[r.cap] === 0).map((r) => r.cap),
  };
}

/** Throws KvmCapabilityError for the first required capability this KVM lacks. */
export function assertShimCapabilities(kvm: Kvm): void {
  for (const r of SHIM_REQUIRED_CAPABILITIES) {
    if (!kvm.hasCapability(r.cap)) throw new KvmCapabilityError(r.cap, `the hypervisor shim (${r.why})`);
  }
}

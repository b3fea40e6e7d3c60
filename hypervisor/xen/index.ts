// Public surface of the Xen hypercall ABI core. What a CPU engine does with it:
//
// Build the domain (once per domain, on the thread that will own its Xen state):
//   const domain = new XenDomain({ domid, vcpus, memory, injector, events, console, memoryMap });
//   - injector: UpcallInjector. KVM: inject(vcpu, vector) sends KVM_SIGNAL_MSI with address
//     0xFEE00000 | apicId << 12 and data = vector | 1 << 14 (fixed, edge, as QEMU sends it);
//     wake(vcpu) unparks a vCPU the engine parked on a poll/block directive. Process guests:
//     ProcessGuest does this itself.
//   - events: DomainEventSink; receives { kind: 'shutdown', reason } from SCHEDOP_shutdown.
//   - console: ConsoleIoSink for CONSOLEIO_write/read (early boot output).
//   Toolstack setup: domain.hvmParams.set(HVM_PARAM_STORE_PFN, ...), new PvConsole(domain, {...}),
//   domain.evtchn.allocUnbound(0) + connectHost(...) for other host-served channels.
//
// Per vCPU, before it runs: domain.cpuid(vcpuId) -> entries for KVM_SET_CPUID2 (leaves
// 0x40000000..4; flag significantIndex -> KVM_CPUID_FLAG_SIGNIFCANT_INDEX). Expose no KVM
// signature above them.
//
// On a user-space MSR exit for XEN_HYPERCALL_MSR (0x40000200) write: installHypercallPage(memory,
// value); on HypercallMsrError inject #GP (KVM_MSR_EXIT error = 1).
//
// On KVM_EXIT_IO, direction out, port XEN_HYPERCALL_PORT (0x5e), size 4: read regs, then
//   const out = domain.dispatch(cpu, regs.rax, [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8]);
//   regs.rax = resultToRax(out.result); set regs; act on out.directive (yield / park until
//   wake or timeout / stop the vCPU on shutdown); re-enter. `cpu` is a CpuContext: vcpuId, cpl
//   (from SS.DPL), translate(gva, access) with KVM_TRANSLATE (null unless valid, and writeable
//   for 'write').
//
// Lost edges: call domain.reinjectIfPending(vcpuId) after the guest software-enables its LAPIC
// and, cheaply, after every exit of that vCPU; an injection while the LAPIC is off is dropped.
export * from './abi.ts';
export * from './errors.ts';
export type { CpuContext, AccessKind } from './guest-access.ts';
export { GuestAccess, identityTranslate } from './guest-access.ts';
export type { HypercallArgs, HypercallOutcome, VcpuDirective, HypercallFamily, HypercallCall } from './hypercall.ts';
export { HypercallDispatcher, resultToRax } from './dispatcher.ts';
export type { DomainEvent, DomainEventSink, ShutdownReason } from './domain-events.ts';
export { XenDomain, type XenDomainConfig } from './domain.ts';
export { EventDelivery, type UpcallInjector } from './event-delivery.ts';
export { EventChannelTable, type HostEndpoint, type HostEndpointListener, type PortBinding, type PortStatus } from './event-channels.ts';
export { HvmParams, decodeCallbackVia, type CallbackVia } from './hvm-params.ts';
export { defaultXenIdentity, featureSubmap, type XenIdentity } from './identity.ts';
export { XEN_HYPERCALL_MSR, XEN_HVM_CPUID_FLAGS, xenCpuidLeaves, type CpuidEntry } from './cpuid.ts';
export { XEN_HYPERCALL_PORT, HypercallMsrError, buildHypercallPage, installHypercallPage } from './hypercall-page.ts';
export type { ConsoleIoSink } from './console-io.ts';
export type { E820Entry } from './memory-op.ts';
export { PvConsole, type PvConsoleOptions, type PvConsoleState } from './pv-console.ts';
export { ProcessGuest, ProcessVcpu, ProcessVcpuError, type ProcessGuestConfig } from './process-guest.ts';
export { RateLimitedLog, consoleLog, type HypervisorLog } from './log.ts';
export { SharedInfoView, VcpuInfoView, shared_info, vcpu_info, vcpu_time_info } from './shared-info.ts';

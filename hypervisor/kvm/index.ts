// The KVM layer's public surface: Kvm -> Vm -> Vcpu (one wrapper per fd), the exit union, the
// per-vCPU worker thread with its exit-handler seam, capability reporting and typed errors.
// Struct layouts and the ioctl table stay importable from their own modules for tests and tools.
export { Kvm, DEFAULT_KVM_PATH } from './kvm.ts';
export { Vm, defaultIrqchipRoutes, type GsiRoute, type UserMemoryRegion, type IoeventfdSpec, type MsiMessage, type MsrFilter, type MsrFilterRange, type UserSpaceMsrExits } from './vm.ts';
export {
  Vcpu,
  type CpuidEntry,
  type KvmRegs,
  type KvmSregs,
  type KvmSegment,
  type MsrValue,
  type Translation,
  type VcpuStateAccess,
} from './vcpu.ts';
export type {
  VcpuExit,
  VcpuExitKind,
  IoExit,
  MmioExit,
  RdmsrExit,
  WrmsrExit,
  HypercallExit,
  HltExit,
  ShutdownExit,
  SystemEventExit,
  InternalErrorExit,
  FailEntryExit,
  IntrExit,
  UnknownExit,
  MsrExitReason,
  SystemEventType,
} from './vcpu-exit.ts';
export { KvmRunCorruptError } from './vcpu-exit.ts';
export {
  VcpuThread,
  type VcpuExitAction,
  type VcpuExitHandler,
  type VcpuStopReason,
  type VcpuThreadOptions,
  type VcpuThreadState,
  type VcpuThreadTransition,
} from './vcpu-thread.ts';
export type { WorkerPortIoHandler, WorkerPortIoSpec, WorkerPortIoFactory } from './worker-port-io.ts';
export { kvmCapabilityReport, assertShimCapabilities, SHIM_REQUIRED_CAPABILITIES, type KvmCapabilityReport } from './capabilities.ts';
export { KVM_CAPS, type KvmCapName } from './kvm-ioctls.ts';
export {
  KvmError,
  KvmUnavailableError,
  KvmApiVersionError,
  KvmIoctlError,
  KvmCapabilityError,
  KvmMsrAccessError,
  KvmArgumentError,
  KvmClosedError,
  VcpuStateError,
  VcpuThreadError,
  VcpuExitHandlerError,
} from './errors.ts';

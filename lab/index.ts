// The KVM lab's public surface, for the CLI and for test suites that need real KVM semantics on
// a host whose /dev/kvm cannot run Linux. See lab/README.md.
export { checkLab, formatLabCheck, type LabCheckReport } from './check.ts';
export {
  LabAbortedError,
  LabError,
  LabImageError,
  LabQemuMissingError,
  LabRequestError,
  LabTimeoutError,
  LabToolMissingError,
  LabVmDiedError,
} from './errors.ts';
export { labEnvironment } from './job.ts';
export {
  detectKvmHost,
  inKvmLab,
  KvmUnsuitableError,
  requireKvmForLinux,
  type KvmHostInfo,
  type KvmProvider,
} from './kvm-host.ts';
export {
  ensureLabImage,
  ensureLabKernel,
  kernelModuleSource,
  labCacheDir,
  type KernelModuleSource,
  type LabImage,
  type LabKernel,
} from './lab-image.ts';
export { LAB_DEFAULT_CPUS, LAB_DEFAULT_MEMORY_MIB } from './lab-vm.ts';
export {
  QEMU_BINARY,
  requireQemu,
  runInLab,
  type LabRunResult,
  type LabTimings,
  type RunInLabOptions,
} from './run-in-lab.ts';

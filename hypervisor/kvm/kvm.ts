// The /dev/kvm file descriptor (rust-vmm's `Kvm`): API version check, capability queries,
// supported CPUID, the vCPU mmap size, and VM creation.
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { KvmApiVersionError, KvmArgumentError, KvmClosedError, KvmIoctlError, KvmUnavailableError } from './errors.ts';
import { kvmIoctl, kvmIoctlValue } from './ioctl.ts';
import { KVM_API_VERSION, KVM_CAPS, KVM_IOCTLS, type KvmCapName } from './kvm-ioctls.ts';
import { KVM_CPUID2, KVM_CPUID_ENTRY2, KVM_MSR_LIST } from './kvm-structs.ts';
import type { CpuidEntry } from './vcpu.ts';
import { Vm } from './vm.ts';

export const DEFAULT_KVM_PATH = '/dev/kvm';

export class Kvm {
  private closed = false;
  private mmapSize: number | null = null;

  private constructor(
    readonly fd: number,
    readonly path: string,
  ) {}

  /**
   * Opens /dev/kvm and checks the API version. Throws KvmUnavailableError (pointing at the KVM
   * lab) when the device is missing, not permitted, or speaks another API.
   */
  static open(path: string = DEFAULT_KVM_PATH): Kvm {
    let fd: number;
    try {
      // Node opens with O_CLOEXEC, so the fd does not leak into spawned helpers.
      fd = fs.openSync(path, fs.constants.O_RDWR);
    } catch (err) {
      const code = err instanceof Error && 'code' in err ? String(err.code) : 'unknown error';
      const reason =
        code === 'ENOENT'
          ? `${path} does not exist (no KVM module, or a container without the device)`
          : code === 'EACCES' || code === 'EPERM'
            ? `no permission to open ${path} (join the kvm group or run as root)`
            : `cannot open ${path}: ${code}`;
      throw new KvmUnavailableError(reason, { cause: err });
    }
    const kvm = new Kvm(fd, path);
    try {
      let version: number;
      try {
        version = kvmIoctlValue(fd, KVM_IOCTLS.KVM_GET_API_VERSION, 0);
      } catch (err) {
        const detail = err instanceof KvmIoctlError ? err.errnoName : String(err);
        throw new KvmUnavailableError(`${path} does not answer KVM_GET_API_VERSION (${detail}): not a KVM device`, { cause: err });
      }
      if (version !== KVM_API_VERSION) throw new KvmApiVersionError(version, KVM_API_VERSION);
      return kvm;
    } catch (err) {
      kvm.close();
      throw err;
    }
  }

  private liveFd(): number {
    if (this.closed) throw new KvmClosedError(this.path);
    return this.fd;
  }

  /** KVM_CHECK_EXTENSION: 0 when absent, otherwise 1 or a capability-specific number. */
  checkExtension(cap: KvmCapName): number {
    return kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_CHECK_EXTENSION, KVM_CAPS[cap], cap);
  }

  hasCapability(cap: KvmCapName): boolean {
    return this.checkExtension(cap) > 0;
  }

  /** KVM_GET_VCPU_MMAP_SIZE: bytes to map from each vCPU fd (kvm_run plus the PIO/MMIO pages). */
  vcpuMmapSize(): number {
    if (this.mmapSize === null) this.mmapSize = kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_GET_VCPU_MMAP_SIZE, 0);
    return this.mmapSize;
  }

  /**
   * KVM_GET_SUPPORTED_CPUID: the CPUID leaves KVM can present to a guest. The kernel wants the
   * array size up front and says E2BIG when it is too small, so grow until it fits.
   */
  getSupportedCpuid(): CpuidEntry[] {
    for (let capacity = 64; capacity <= 4096; capacity *= 2) {
      const buf = new Uint8Array(KVM_CPUID2.size + capacity * KVM_CPUID_ENTRY2.size);
      KVM_CPUID2.encode({ nent: capacity }, buf);
      try {
        kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_SUPPORTED_CPUID, buf);
      } catch (err) {
        if (err instanceof KvmIoctlError && err.errnoName === 'E2BIG') continue;
        throw err;
      }
      const { nent } = KVM_CPUID2.decode(buf);
      if (nent > capacity) throw new KvmArgumentError(`KVM_GET_SUPPORTED_CPUID reported ${nent} entries for ${capacity} slots`);
      return Array.from({ length: nent }, (_, i) => KVM_CPUID_ENTRY2.decode(buf, KVM_CPUID2.size + i * KVM_CPUID_ENTRY2.size));
    }
    throw new KvmIoctlError('KVM_GET_SUPPORTED_CPUID', osConstants.errno.E2BIG, 'more than 4096 entries');
  }

  /** KVM_GET_MSR_INDEX_LIST: the MSRs KVM_GET_MSRS/KVM_SET_MSRS can save and restore. */
  getMsrIndexList(): number[] {
    for (let capacity = 256; capacity <= 16384; capacity *= 2) {
      const buf = new Uint8Array(KVM_MSR_LIST.size + capacity * 4);
      KVM_MSR_LIST.encode({ nmsrs: capacity }, buf);
      try {
        kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_MSR_INDEX_LIST, buf);
      } catch (err) {
        if (err instanceof KvmIoctlError && err.errnoName === 'E2BIG') continue;
        throw err;
      }
      const view = new DataView(buf.buffer);
      const n = KVM_MSR_LIST.decode(buf).nmsrs;
      return Array.from({ length: Math.min(n, capacity) }, (_, i) => view.getUint32(KVM_MSR_LIST.size + 4 * i, true));
    }
    throw new KvmIoctlError('KVM_GET_MSR_INDEX_LIST', osConstants.errno.E2BIG, 'more than 16384 MSRs');
  }

  /**
   * KVM_CREATE_VM. A /dev/kvm that opens but cannot create a VM (no hardware virtualization
   * underneath) is unusable, so that failure is a KvmUnavailableError too.
   */
  createVm(): Vm {
    const mmapSize = this.vcpuMmapSize();
    let vmFd: number;
    try {
      vmFd = kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_CREATE_VM, 0);
    } catch (err) {
      const detail = err instanceof KvmIoctlError ? err.errnoName : String(err);
      throw new KvmUnavailableError(`KVM_CREATE_VM failed (${detail})`, { cause: err });
    }
    return new Vm(vmFd, mmapSize);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

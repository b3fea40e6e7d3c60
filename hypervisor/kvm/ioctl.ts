// Issuing a KVM ioctl: the request number comes from the table, a failure becomes KvmIoctlError
// naming the ioctl and errno. The wrappers (Kvm, Vm, Vcpu) never call libc's ioctl directly.
import { errno, ioctlInt, ioctlPtr } from '../native/libc.ts';
import { KvmIoctlError } from './errors.ts';
import type { KvmIoctl } from './kvm-ioctls.ts';

/** An ioctl whose argument is a struct in `arg` (read and/or written by the kernel). */
export function kvmIoctl(fd: number, ioctl: KvmIoctl, arg: Uint8Array | null, detail?: string): number {
  const ret = ioctlPtr(fd, ioctl.request, arg);
  if (ret < 0) throw new KvmIoctlError(ioctl.name, errno(), detail);
  return ret;
}

/** An _IO ioctl whose argument is a plain integer (KVM_CHECK_EXTENSION, KVM_CREATE_VCPU, ...). */
export function kvmIoctlValue(fd: number, ioctl: KvmIoctl, value: number, detail?: string): number {
  const ret = ioctlInt(fd, ioctl.request, value);
  if (ret < 0) throw new KvmIoctlError(ioctl.name, errno(), detail);
  return ret;
}

/** An ioctl whose failure the caller interprets itself (KVM_RUN's EINTR): returns -errno on failure. */
export function kvmIoctlRaw(fd: number, ioctl: KvmIoctl, value: number): number {
  const ret = ioctlInt(fd, ioctl.request, value);
  return ret < 0 ? -errno() : ret;
}

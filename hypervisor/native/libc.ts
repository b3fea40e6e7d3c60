// The one place where xlts calls libc through koffi. Every raw pointer in the project comes from a
// function declared here and is turned into a bounded ArrayBuffer view before it leaves this folder.
//
// Invariants:
// - Pointers are koffi bigints; they are never dereferenced outside `viewOf`.
// - A view must not outlive the mapping it came from: the owner (SharedMemoryFile, Vm) unmaps only
//   in close(), after which its views are dropped by contract.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MFD_CLOEXEC = 0x1;
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

export const memfd_create = libc.func('int memfd_create(const char *name, unsigned int flags)');
export const ftruncate = libc.func('int ftruncate(int fd, int64_t length)');
export const close = libc.func('int close(int fd)');
export const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
export const munmap = libc.func('int munmap(void *addr, size_t length)');
const errnoLocation = libc.func('int *__errno_location()');

/** The calling thread's errno, read right after a failed call. */
export function errno(): number {
  return koffi.decode(errnoLocation(), 'int') as number;
}

export class NativeCallError extends Error {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: errno ${errno}`);
    this.name = 'NativeCallError';
  }
}

/** Throws NativeCallError when a libc call returned -1. */
export function check(call: string, ret: number): number {
  if (ret < 0) throw new NativeCallError(call, errno());
  return ret;
}

/** A byte view of `length` bytes at `ptr`; the caller owns the mapping's lifetime. */
export function viewOf(ptr: bigint, length: number): ArrayBuffer {
  return koffi.view(ptr, length);
}

export function isMapFailed(ptr: unknown): boolean {
  return ptr === null || (typeof ptr === 'bigint' && ptr === MAP_FAILED);
}

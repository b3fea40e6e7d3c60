// The one place where xlts calls libc through koffi. Every raw pointer in the project comes from a
// function declared here and is turned into a bounded ArrayBuffer view before it leaves this folder.
//
// Invariants:
// - Pointers are koffi bigints; they are never dereferenced outside `viewOf`.
// - A view must not outlive the mapping it came from: the owner (SharedMemoryFile, Vm) unmaps only
//   in close(), after which its views are dropped by contract.
// - Memory from `withNativeBuffer` lives only for the duration of its callback; its address may be
//   written into a struct handed to the kernel (e.g. an MSR filter bitmap) and nowhere else.
// - This module is loaded once per JavaScript thread (each worker has its own module graph), so
//   every function here is safe to call from a vCPU worker: each call runs on the calling thread.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');

export const PROT_READ = 0x1;
export const PROT_WRITE = 0x2;
export const MAP_SHARED = 0x01;
export const MFD_CLOEXEC = 0x1;
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export const memfd_create = libc.func('int memfd_create(const char *name, unsigned int flags)');
export const ftruncate = libc.func('int ftruncate(int fd, int64_t length)');
export const close = libc.func('int close(int fd)');
export const mmap = libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, int64_t offset)');
export const munmap = libc.func('int munmap(void *addr, size_t length)');
export const eventfd = libc.func('int eventfd(unsigned int initval, int flags)');
/** fallocate(2) mode bits: punch a hole without changing the file's size (discard of a raw image). */
export const FALLOC_FL_KEEP_SIZE = 0x01;
export const FALLOC_FL_PUNCH_HOLE = 0x02;
export const fallocate = libc.func('int fallocate(int fd, int mode, int64_t offset, int64_t len)');
export const gettid = libc.func('int gettid()');
export const getpid = libc.func('int getpid()');
/** Sends `sig` to one thread of a thread group: how a vCPU thread is kicked out of KVM_RUN. */
export const tgkill = libc.func('int tgkill(int tgid, int tid, int sig)');
/** Raw sigaction(2) with a caller-built `struct sigaction` (thread-kick.ts owns its layout). */
export const sigactionRaw = libc.func('int sigaction(int signum, void *act, void *oldact)');
export const currentSigrtmin = libc.func('int __libc_current_sigrtmin()');
/** dlsym(RTLD_DEFAULT = NULL, name): the address of a libc symbol, for the kick signal handler. */
export const dlsym = libc.func('void *dlsym(void *handle, const char *symbol)');

// ioctl(2) is variadic in C. glibc's x86_64 wrapper reads exactly one pointer-sized argument from
// %rdx and never looks at %al, so declaring it with fixed prototypes is sound and keeps koffi on
// its fast non-variadic path (KVM_RUN goes through here once per guest exit).
/** ioctl whose third argument is a buffer (Uint8Array/ArrayBuffer) or a native pointer (bigint). */
export const ioctlPtr: (fd: number, request: number, arg: Uint8Array | ArrayBuffer | bigint | null) => number =
  libc.func('int ioctl(int fd, unsigned long request, void *arg)');
/** ioctl whose third argument is passed by value (_IO requests such as KVM_CHECK_EXTENSION). */
export const ioctlInt: (fd: number, request: number, arg: number) => number = libc.func(
  'int ioctl(int fd, unsigned long request, unsigned long arg)',
);

/** The calling thread's errno, read right after a failed call. */
export function errno(): number {
  // koffi keeps errno of the calling thread intact across its own bookkeeping.
  return koffi.errno();
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

/**
 * Maps `length` bytes of `fd` at `offset` shared and read-write; returns the pointer and a view.
 * Used for the kvm_run page of a vCPU fd. The caller unmaps with `munmap(ptr, length)`.
 */
export function mapShared(call: string, fd: number, length: number, offset = 0): { ptr: bigint; buffer: ArrayBuffer } {
  const ptr: unknown = mmap(null, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, offset);
  if (isMapFailed(ptr) || typeof ptr !== 'bigint') throw new NativeCallError(call, errno());
  return { ptr, buffer: viewOf(ptr, length) };
}

/**
 * Runs `fn` with `size` bytes of zeroed native memory whose address stays fixed for the call, then
 * frees it. For structs that carry pointers to other user memory (kvm_msr_filter_range.bitmap):
 * a JavaScript buffer has no stable address to write into a struct, native memory does.
 */
export function withNativeBuffer<T>(size: number, fn: (ptr: bigint, bytes: Uint8Array) => T): T {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError(`native buffer size must be positive, got ${size}`);
  const ptr: unknown = koffi.alloc('uint8_t', size);
  if (typeof ptr !== 'bigint') throw new NativeCallError('koffi.alloc', 0);
  try {
    const bytes = new Uint8Array(viewOf(ptr, size));
    bytes.fill(0);
    return fn(ptr, bytes);
  } finally {
    koffi.free(ptr);
  }
}

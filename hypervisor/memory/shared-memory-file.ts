// Guest RAM and ring pages live in a shared-memory file: the shim registers it with KVM, Dom0 maps
// it (later, only the granted pages), and tests map it from a second process. The file is a memfd
// (anonymous, sealed to this process tree) or a named /dev/shm file when another process must open
// it by path.
import * as fs from 'node:fs';
import {
  MAP_SHARED,
  MFD_CLOEXEC,
  PROT_READ,
  PROT_WRITE,
  check,
  close,
  ftruncate,
  isMapFailed,
  memfd_create,
  mmap,
  munmap,
  errno,
  NativeCallError,
  viewOf,
} from '../native/libc.ts';

export class SharedMemoryFile {
  private mapped: bigint | null;

  private constructor(
    readonly fd: number,
    readonly size: number,
    readonly path: string | null,
    ptr: bigint,
    readonly buffer: ArrayBuffer,
  ) {
    this.mapped = ptr;
  }

  /** An anonymous memfd of `size` bytes, zero-filled, mapped read-write. */
  static anonymous(name: string, size: number): SharedMemoryFile {
    assertSize(size);
    const fd = check('memfd_create', memfd_create(name, MFD_CLOEXEC));
    return SharedMemoryFile.mapFd(fd, size, null, true);
  }

  /** Creates (or truncates) a named file, typically under /dev/shm, and maps it. */
  static create(path: string, size: number): SharedMemoryFile {
    assertSize(size);
    const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
    return SharedMemoryFile.mapFd(fd, size, path, true);
  }

  /** Maps an existing named file created by another process. */
  static open(path: string): SharedMemoryFile {
    const fd = fs.openSync(path, fs.constants.O_RDWR);
    const size = fs.fstatSync(fd).size;
    assertSize(size);
    return SharedMemoryFile.mapFd(fd, size, path, false);
  }

  private static mapFd(fd: number, size: number, path: string | null, resize: boolean): SharedMemoryFile {
    try {
      if (resize) check('ftruncate', ftruncate(fd, size));
      const ptr: unknown = mmap(null, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      if (isMapFailed(ptr)) throw new NativeCallError('mmap', errno());
      const p = ptr as bigint;
      return new SharedMemoryFile(fd, size, path, p, viewOf(p, size));
    } catch (err) {
      close(fd);
      throw err;
    }
  }

  /** Host virtual address of the mapping, for KVM_SET_USER_MEMORY_REGION. */
  get hostAddress(): bigint {
    if (this.mapped === null) throw new Error('shared memory file is closed');
    return this.mapped;
  }

  bytes(offset = 0, length = this.size - offset): Uint8Array {
    return new Uint8Array(this.buffer, offset, length);
  }

  close(): void {
    if (this.mapped === null) return;
    munmap(this.mapped, this.size);
    this.mapped = null;
    close(this.fd);
  }
}

function assertSize(size: number): void {
  if (!Number.isSafeInteger(size) || size <= 0 || size % 4096 !== 0) {
    throw new RangeError(`shared memory size must be a positive multiple of 4096, got ${size}`);
  }
}

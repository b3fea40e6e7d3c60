// A raw disk image file as BlockStorage. Opened read-only when the disk is; a writable image is
// locked against a second writable attach in this process (xltsd is one process per host).
import * as fs from 'node:fs';
import { FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocate } from '../../hypervisor/native/libc.ts';
import type { BlockStorage } from './interfaces.ts';

const SECTOR = 512;
const writableImages = new Set<string>();

/** The image cannot be used as asked: missing, not a multiple of 512 bytes, already attached writable. */
export class ImageError extends Error {
  override readonly name = 'ImageError';
}

export class RawImage implements BlockStorage {
  readonly size: number;
  private fd: number | null;
  private readonly key: string;

  constructor(
    path: string,
    readonly readOnly: boolean,
  ) {
    let real: string;
    try {
      real = fs.realpathSync(path);
    } catch {
      throw new ImageError(`${path}: no such file`);
    }
    if (!readOnly && writableImages.has(real)) throw new ImageError(`${path} is already attached writable to a domain`);
    const st = fs.statSync(real);
    if (!st.isFile()) throw new ImageError(`${path}: not a regular file`);
    if (st.size === 0 || st.size % SECTOR !== 0) throw new ImageError(`${path}: ${st.size} bytes is not a whole number of 512-byte sectors`);
    this.fd = fs.openSync(real, readOnly ? 'r' : 'r+');
    this.size = st.size;
    this.key = real;
    if (!readOnly) writableImages.add(real);
  }

  private live(): number {
    if (this.fd === null) throw new ImageError('image is closed');
    return this.fd;
  }

  read(offset: number, dest: Uint8Array): void {
    let done = 0;
    while (done < dest.length) {
      const n = fs.readSync(this.live(), dest, done, dest.length - done, offset + done);
      if (n === 0) throw new ImageError(`short read at ${offset + done}`);
      done += n;
    }
  }

  write(offset: number, src: Uint8Array): void {
    if (this.readOnly) throw new ImageError('write to a read-only image');
    let done = 0;
    while (done < src.length) done += fs.writeSync(this.live(), src, done, src.length - done, offset + done);
  }

  /** One preadv for a request's segments; a short transfer (rare) finishes buffer by buffer. */
  readv(offset: number, dests: readonly Uint8Array[]): void {
    const n = fs.readvSync(this.live(), dests as Uint8Array[], offset);
    this.finish(offset, dests, n, (at, b) => this.read(at, b));
  }

  writev(offset: number, srcs: readonly Uint8Array[]): void {
    if (this.readOnly) throw new ImageError('write to a read-only image');
    const n = fs.writevSync(this.live(), srcs as Uint8Array[], offset);
    this.finish(offset, srcs, n, (at, b) => this.write(at, b));
  }

  private finish(offset: number, bufs: readonly Uint8Array[], done: number, one: (at: number, b: Uint8Array) => void): void {
    let at = offset;
    for (const b of bufs) {
      const covered = Math.min(b.length, Math.max(0, done - (at - offset)));
      if (covered < b.length) one(at + covered, b.subarray(covered));
      at += b.length;
    }
  }

  flush(): void {
    fs.fdatasyncSync(this.live());
  }

  /** Punches a hole: the blocks go back to the host's filesystem and read as zeros. */
  discard(offset: number, length: number): boolean {
    if (this.readOnly) throw new ImageError('discard on a read-only image');
    return fallocate(this.live(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length) === 0;
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
    if (!this.readOnly) writableImages.delete(this.key);
  }
}

// Writer for the "newc" cpio format the kernel unpacks as an initramfs
// (Documentation/driver-api/early-userspace/buffer-format.rst). Written here rather than run
// through cpio(1) from a staging directory because the lab's initramfs needs a /dev/console
// character device (the kernel opens it for init's stdio before any devtmpfs is mounted), and
// making one in a directory takes mknod, which needs root; an archive entry needs nothing.
//
// Each entry: the 6-byte magic "070701", thirteen 8-digit hexadecimal fields (ino, mode, uid,
// gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check), the
// NUL-terminated name, padding to a multiple of 4, the data, padding to a multiple of 4. The
// archive ends with an entry named "TRAILER!!!".

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

export type CpioEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode?: number }
  | { readonly kind: 'file'; readonly path: string; readonly data: Uint8Array; readonly mode?: number }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string }
  | {
      readonly kind: 'chardev';
      readonly path: string;
      readonly major: number;
      readonly minor: number;
      readonly mode?: number;
    };

function hex8(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`cpio header field out of range: ${value}`);
  }
  return value.toString(16).padStart(8, '0');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

/**
 * The archive for `entries`, in the order given (parents before children: the kernel creates
 * each path as it reads it). Owner root, mtime 0, so equal inputs make equal archives.
 */
export function buildCpio(entries: readonly CpioEntry[]): Buffer {
  const chunks: Buffer[] = [];
  let ino = 1;
  const emit = (
    path: string,
    mode: number,
    data: Uint8Array,
    rdev: { major: number; minor: number } = { major: 0, minor: 0 },
    nlink = 1,
  ): void => {
    const name = Buffer.from(`${path}\0`, 'utf8');
    const header =
      '070701' +
      [ino++, mode, 0, 0, nlink, 0, data.length, 0, 0, rdev.major, rdev.minor, name.length, 0]
        .map(hex8)
        .join('');
    chunks.push(Buffer.from(header, 'ascii'), name, pad4(header.length + name.length));
    chunks.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength), pad4(data.length));
  };
  for (const entry of entries) {
    const path = entry.path.replace(/^\/+/, '');
    if (path === '' || path.split('/').includes('..')) {
      throw new RangeError(`bad cpio path: ${entry.path}`);
    }
    switch (entry.kind) {
      case 'dir':
        emit(path, S_IFDIR | (entry.mode ?? 0o755), new Uint8Array(0), undefined, 2);
        break;
      case 'file':
        emit(path, S_IFREG | (entry.mode ?? 0o644), entry.data);
        break;
      case 'symlink':
        emit(path, S_IFLNK | 0o777, Buffer.from(entry.target, 'utf8'));
        break;
      case 'chardev':
        emit(path, S_IFCHR | (entry.mode ?? 0o600), new Uint8Array(0), entry);
        break;
    }
  }
  emit('TRAILER!!!', 0, new Uint8Array(0), undefined, 1);
  return Buffer.concat(chunks);
}

// Locating the compressed kernel inside a bzImage, so the lab can boot the ELF vmlinux through
// QEMU's PVH entry (~2 s to /init under TCG) instead of the bzImage through SeaBIOS (~6 s).
//
// The x86 boot protocol (Documentation/arch/x86/boot.rst) puts a setup header at 0x1f1 of the
// image. From protocol 2.08 on, it says where the compressed payload is:
//   0x1f1  u8   setup_sects     real-mode setup size in 512-byte sectors (0 means 4)
//   0x202  u32  header          "HdrS"
//   0x206  u16  version         boot protocol version, e.g. 0x020f
//   0x248  u32  payload_offset  payload start, relative to the protected-mode code
//   0x24c  u32  payload_length  payload length in bytes
// The protected-mode code starts right after the setup sectors: (setup_sects + 1) * 512.
// Debian builds with CONFIG_KERNEL_XZ, so the payload is an xz stream (with the x86 BCJ filter),
// followed by the 4-byte little-endian uncompressed size that the kernel's build appends.
//
// Not hypervisor/pvh/bzimage.ts's parseBzImage, though both read the same setup header: the lab
// hands the whole payload (size trailer included) to an external decompressor and only needs
// where it is and which tool to run; an unknown compressor is reported by the caller with the
// formats the lab supports, and every failure is a LabImageError. parseBzImage cuts the stream
// for an in-process decompressor, strips the trailer, requires boot_flag 0xaa55 and throws its
// own errors on an unknown magic.

import { LabImageError } from './errors.ts';

const SETUP_SECTS = 0x1f1;
const HEADER_MAGIC = 0x202;
const PROTOCOL_VERSION = 0x206;
const PAYLOAD_OFFSET = 0x248;
const PAYLOAD_LENGTH = 0x24c;
const HDRS = 0x53726448; // "HdrS" read as a little-endian u32
const MIN_PROTOCOL_WITH_PAYLOAD = 0x0208;

/** The compression formats a bzImage payload can use, recognised by their magic bytes. */
export type PayloadFormat = 'xz' | 'gzip' | 'zstd' | 'lzma' | 'lz4' | 'bzip2' | 'lzo' | 'unknown';

const MAGICS: ReadonlyArray<readonly [PayloadFormat, readonly number[]]> = [
  ['xz', [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
  ['gzip', [0x1f, 0x8b]],
  ['zstd', [0x28, 0xb5, 0x2f, 0xfd]],
  ['bzip2', [0x42, 0x5a, 0x68]],
  ['lz4', [0x02, 0x21, 0x4c, 0x18]],
  ['lzo', [0x89, 0x4c, 0x5a, 0x4f]],
  ['lzma', [0x5d, 0x00, 0x00]],
];

export interface BzImagePayload {
  /** Byte offset of the compressed payload in the bzImage file. */
  readonly offset: number;
  /** Length of the payload in bytes, as the setup header states it. */
  readonly length: number;
  readonly format: PayloadFormat;
  /** Boot protocol version from the setup header (e.g. 0x020f). */
  readonly protocol: number;
}

/** Reads the setup header of a bzImage and says where its compressed kernel is. */
export function locateBzImagePayload(image: Uint8Array): BzImagePayload {
  if (image.length < PAYLOAD_LENGTH + 4) {
    throw new LabImageError(`not a bzImage: ${image.length} bytes is shorter than a setup header`);
  }
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  if (view.getUint32(HEADER_MAGIC, true) !== HDRS) {
    throw new LabImageError('not a bzImage: no "HdrS" magic at 0x202');
  }
  const protocol = view.getUint16(PROTOCOL_VERSION, true);
  if (protocol < MIN_PROTOCOL_WITH_PAYLOAD) {
    throw new LabImageError(
      `bzImage boot protocol 0x${protocol.toString(16)} predates payload_offset (2.08)`,
    );
  }
  const setupSects = view.getUint8(SETUP_SECTS) || 4;
  const offset = (setupSects + 1) * 512 + view.getUint32(PAYLOAD_OFFSET, true);
  const length = view.getUint32(PAYLOAD_LENGTH, true);
  if (length === 0 || offset + length > image.length) {
    throw new LabImageError(
      `bzImage payload ${offset}+${length} lies outside the ${image.length}-byte file`,
    );
  }
  return { offset, length, format: payloadFormat(image.subarray(offset, offset + 8)), protocol };
}

function payloadFormat(head: Uint8Array): PayloadFormat {
  for (const [format, magic] of MAGICS) {
    if (magic.every((byte, i) => head[i] === byte)) return format;
  }
  return 'unknown';
}

// bzImage support: a distribution kernel (Debian's vmlinuz) is a bzImage, i.e. real-mode setup
// code plus a compressed payload that is the ELF vmlinux (stripped, notes kept). PVH boots that
// ELF directly, so we cut the payload out using the boot protocol's setup header and decompress it.
//
// Setup header fields used (x86 boot protocol, Documentation/x86/boot.rst in Linux):
//   0x1f1 u8   setup_sects     512-byte sectors of setup code after the boot sector (0 means 4)
//   0x1fe u16  boot_flag       0xAA55
//   0x202 u32  header          "HdrS"
//   0x206 u16  version         boot protocol version; payload_* exist from 2.08
//   0x248 u32  payload_offset  payload start, relative to the protected-mode code
//   0x24c u32  payload_length
// The protected-mode code starts at (setup_sects + 1) * 512 in the file.
//
// The payload of every compressor except gzip is followed by the uncompressed size as a le32
// (Linux's size_append); gzip carries its own size trailer. We feed the decompressor the stream
// without those 4 bytes and check the output has exactly that size.
import { BzImageError, UnsupportedCompressionError } from './errors.ts';

export const SETUP_SECTS_OFFSET = 0x1f1;
export const BOOT_FLAG_OFFSET = 0x1fe;
export const HEADER_OFFSET = 0x202;
export const VERSION_OFFSET = 0x206;
export const PAYLOAD_OFFSET_OFFSET = 0x248;
export const PAYLOAD_LENGTH_OFFSET = 0x24c;
/** Bytes of the file needed to read every field above. */
export const SETUP_HEADER_END = 0x250;

export const BOOT_FLAG = 0xaa55;
/** "HdrS" read as a little-endian u32. */
export const SETUP_HEADER_MAGIC = 0x53726448;
/** First boot protocol version with payload_offset/payload_length. */
export const MIN_PAYLOAD_PROTOCOL = 0x0208;
/** setup_sects = 0 is an old convention for 4. */
const DEFAULT_SETUP_SECTS = 4;

export type Compression = 'gzip' | 'xz' | 'lzma' | 'bzip2' | 'zstd' | 'lzo' | 'lz4' | 'none';

/** The magic numbers by which Linux's decompressors (and Xen's bzImage loader) recognise a payload. */
const COMPRESSION_MAGIC: readonly { readonly kind: Compression; readonly magic: readonly number[] }[] = [
  { kind: 'xz', magic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00] },
  { kind: 'gzip', magic: [0x1f, 0x8b] },
  { kind: 'gzip', magic: [0x1f, 0x9e] }, // old gzip magic, still accepted by gunzip
  { kind: 'bzip2', magic: [0x42, 0x5a, 0x68] }, // "BZh"
  { kind: 'lzma', magic: [0x5d, 0x00, 0x00] },
  { kind: 'zstd', magic: [0x28, 0xb5, 0x2f, 0xfd] },
  { kind: 'lzo', magic: [0x89, 0x4c, 0x5a, 0x4f] }, // "\x89LZO"
  { kind: 'lz4', magic: [0x02, 0x21, 0x4c, 0x18] }, // lz4 legacy frame, as Linux writes it
  { kind: 'none', magic: [0x7f, 0x45, 0x4c, 0x46] }, // an uncompressed ELF (CONFIG_KERNEL_UNCOMPRESSED)
];

export interface BzImagePayload {
  readonly protocolVersion: number;
  readonly setupSects: number;
  readonly compression: Compression;
  /** The compressed stream as the decompressor should see it (size trailer removed where present). */
  readonly stream: Uint8Array;
  /** The size the image says the payload decompresses to, when it says. */
  readonly uncompressedSize: number | undefined;
}

/** True when the bytes carry a boot-protocol setup header ("HdrS" at 0x202). */
export function isBzImage(bytes: Uint8Array): boolean {
  return bytes.length >= SETUP_HEADER_END && readU32(bytes, HEADER_OFFSET) === SETUP_HEADER_MAGIC;
}

/** Parses the setup header and cuts out the payload; throws BzImageError on an inconsistent header. */
export function parseBzImage(bytes: Uint8Array): BzImagePayload {
  if (bytes.length < SETUP_HEADER_END) throw new BzImageError(`${bytes.length} bytes is too short for a bzImage setup header`);
  if (readU32(bytes, HEADER_OFFSET) !== SETUP_HEADER_MAGIC) throw new BzImageError('no "HdrS" setup header magic at 0x202: not a bzImage');
  if (readU16(bytes, BOOT_FLAG_OFFSET) !== BOOT_FLAG) throw new BzImageError(`boot_flag 0x${readU16(bytes, BOOT_FLAG_OFFSET).toString(16)} is not 0xaa55`);
  const version = readU16(bytes, VERSION_OFFSET);
  if (version < MIN_PAYLOAD_PROTOCOL) {
    throw new BzImageError(`boot protocol ${version >> 8}.${(version & 0xff).toString().padStart(2, '0')} predates payload_offset (2.08 needed)`);
  }
  const setupSects = bytes[SETUP_SECTS_OFFSET] || DEFAULT_SETUP_SECTS;
  const pmStart = (setupSects + 1) * 512;
  const payloadOffset = readU32(bytes, PAYLOAD_OFFSET_OFFSET);
  const payloadLength = readU32(bytes, PAYLOAD_LENGTH_OFFSET);
  const start = pmStart + payloadOffset;
  if (payloadLength === 0) throw new BzImageError('payload_length is 0');
  if (start + payloadLength > bytes.length) {
    throw new BzImageError(`payload at 0x${start.toString(16)}+0x${payloadLength.toString(16)} runs past the end of the ${bytes.length}-byte image`);
  }
  const payload = bytes.subarray(start, start + payloadLength);
  const compression = detectCompression(payload);
  if (compression === 'gzip' || compression === 'none') {
    return { protocolVersion: version, setupSects, compression, stream: payload, uncompressedSize: undefined };
  }
  if (payload.length < 5) throw new BzImageError('payload too short to hold a stream and its size trailer');
  return {
    protocolVersion: version,
    setupSects,
    compression,
    stream: payload.subarray(0, payload.length - 4),
    uncompressedSize: readU32(payload, payload.length - 4),
  };
}

export function detectCompression(payload: Uint8Array): Compression {
  for (const { kind, magic } of COMPRESSION_MAGIC) {
    if (payload.length >= magic.length && magic.every((b, i) => payload[i] === b)) return kind;
  }
  const head = Array.from(payload.subarray(0, 6), (b) => b.toString(16).padStart(2, '0')).join(' ');
  throw new UnsupportedCompressionError(`bzImage payload starts with ${head}: no known compressor magic`);
}

function readU16(b: Uint8Array, at: number): number {
  return b[at]! | (b[at + 1]! << 8);
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

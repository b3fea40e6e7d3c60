import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { PAYLOAD_LENGTH_OFFSET, PAYLOAD_OFFSET_OFFSET, SETUP_SECTS_OFFSET, VERSION_OFFSET, isBzImage, parseBzImage } from './bzimage.ts';
import { decompressPayload } from './decompress.ts';
import { BzImageError, DecompressionError, NotElfError, UnsupportedCompressionError } from './errors.ts';
import { extractVmlinux, readPvhKernel } from './kernel-image.ts';
import { concat, minimalPvhElf, u32le } from './testing/elf-builder.ts';

/** Compresses as Linux's xz_wrap.sh does for x86: xz container, CRC32, x86 BCJ, then LZMA2. */
function xzKernel(data: Uint8Array, format: 'xz' | 'lzma' = 'xz'): Uint8Array {
  const args = format === 'xz' ? ['--format=xz', '--check=crc32', '--x86', '--lzma2=dict=1MiB', '-c'] : ['--format=lzma', '-c'];
  return new Uint8Array(execFileSync('xz', args, { input: data }));
}

/** A bzImage around `payload`: boot sector, one setup sector, 0x80 bytes of "decompressor", payload. */
function bzImage(payload: Uint8Array, version = 0x020f): Uint8Array {
  const setupSects = 1;
  const payloadOffset = 0x80;
  const head = new Uint8Array((setupSects + 1) * 512 + payloadOffset);
  const dv = new DataView(head.buffer);
  head[SETUP_SECTS_OFFSET] = setupSects;
  dv.setUint16(0x1fe, 0xaa55, true);
  head.set(new TextEncoder().encode('HdrS'), 0x202);
  dv.setUint16(VERSION_OFFSET, version, true);
  dv.setUint32(PAYLOAD_OFFSET_OFFSET, payloadOffset, true);
  dv.setUint32(PAYLOAD_LENGTH_OFFSET, payload.length, true);
  return concat(head, payload, new Uint8Array(100)); // trailing bytes, as the real image has
}

const elf = minimalPvhElf(64, { entry: 0x100008 }).bytes;
const xzPayload = concat(xzKernel(elf), u32le(elf.length));
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-bzimage-'));
afterAll(() => fs.rmSync(cacheDir, { recursive: true, force: true }));

describe('bzImage', () => {
  it('parses the setup header and cuts out an xz payload and its size trailer', () => {
    const img = bzImage(xzPayload);
    expect(isBzImage(img)).toBe(true);
    const p = parseBzImage(img);
    expect(p).toMatchObject({ protocolVersion: 0x020f, setupSects: 1, compression: 'xz', uncompressedSize: elf.length });
    expect(p.stream.length).toBe(xzPayload.length - 4);
  });

  it('extracts the ELF vmlinux (xz with the x86 BCJ filter) and reads its PVH entry', async () => {
    const { kernel, format } = await readPvhKernel(bzImage(xzPayload), { cacheDir: null });
    expect(format).toBe('bzImage');
    expect(kernel.entry).toBe(0x100008);
    expect(kernel.image.bytes).toEqual(elf);
  });

  it('caches the extracted ELF by the bzImage hash and redoes a damaged entry', async () => {
    const img = bzImage(xzPayload);
    await extractVmlinux(img, { cacheDir });
    const files = fs.readdirSync(path.join(cacheDir, 'kernels'));
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^vmlinux-[0-9a-f]{64}\.elf$/);
    const cached = path.join(cacheDir, 'kernels', files[0]!);
    expect(new Uint8Array(fs.readFileSync(cached))).toEqual(elf);
    fs.writeFileSync(cached, 'garbage');
    expect(await extractVmlinux(img, { cacheDir })).toEqual(elf);
    expect(new Uint8Array(fs.readFileSync(cached))).toEqual(elf);
  });

  it('accepts gzip, legacy lzma and uncompressed payloads', async () => {
    for (const payload of [new Uint8Array(gzipSync(elf)), concat(xzKernel(elf, 'lzma'), u32le(elf.length)), elf]) {
      expect(await extractVmlinux(bzImage(payload), { cacheDir: null })).toEqual(elf);
    }
  });

  it('names unsupported and unknown compressors', async () => {
    for (const [magic, name] of [
      [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
      [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
      [[0x89, 0x4c, 0x5a, 0x4f], 'lzo'],
      [[0x02, 0x21, 0x4c, 0x18], 'lz4'],
    ] as const) {
      const img = bzImage(concat(new Uint8Array(magic), new Uint8Array(32), u32le(100)));
      await expect(extractVmlinux(img, { cacheDir: null })).rejects.toThrow(UnsupportedCompressionError);
      await expect(extractVmlinux(img, { cacheDir: null })).rejects.toThrow(name);
    }
    expect(() => parseBzImage(bzImage(new Uint8Array(16).fill(0x33)))).toThrow(/no known compressor magic/);
  });

  it('refuses inconsistent setup headers', () => {
    const good = bzImage(xzPayload);
    const with32 = (at: number, v: number): Uint8Array => {
      const b = good.slice();
      new DataView(b.buffer).setUint32(at, v, true);
      return b;
    };
    expect(() => parseBzImage(bzImage(xzPayload, 0x0206))).toThrow(/2\.06 predates payload_offset/);
    expect(() => parseBzImage(with32(PAYLOAD_LENGTH_OFFSET, 0))).toThrow(/payload_length is 0/);
    expect(() => parseBzImage(with32(PAYLOAD_LENGTH_OFFSET, 0xfffffff0))).toThrow(/runs past the end/);
    expect(() => parseBzImage(with32(PAYLOAD_OFFSET_OFFSET, 0xfffffff0))).toThrow(/runs past the end/);
    expect(() => parseBzImage(with32(0x1fc, 0))).toThrow(/boot_flag/);
    expect(() => parseBzImage(good.subarray(0, 0x240))).toThrow(BzImageError);
  });

  it('refuses corrupt streams, wrong sizes, oversized output and non-ELF payloads', async () => {
    const corrupt = xzPayload.slice();
    corrupt[40] = corrupt[40]! ^ 0xff;
    await expect(extractVmlinux(bzImage(corrupt), { cacheDir: null })).rejects.toThrow(/xz failed/);
    const wrongSize = concat(xzKernel(elf), u32le(elf.length + 1));
    await expect(extractVmlinux(bzImage(wrongSize), { cacheDir: null })).rejects.toThrow(/announces/);
    await expect(decompressPayload(parseBzImage(bzImage(xzPayload)), 100)).rejects.toThrow(DecompressionError);
    const bomb = new Uint8Array(gzipSync(new Uint8Array(1 << 20)));
    await expect(decompressPayload(parseBzImage(bzImage(bomb)), 4096)).rejects.toThrow(/gzip payload/);
    const text = new TextEncoder().encode('just some text, not a kernel');
    await expect(extractVmlinux(bzImage(concat(xzKernel(text), u32le(text.length))), { cacheDir: null })).rejects.toThrow(/not an ELF vmlinux/);
  });

  it('says "not an ELF file" for something that is neither ELF nor bzImage', async () => {
    await expect(readPvhKernel(new Uint8Array(4096).fill(0x90), { cacheDir: null })).rejects.toThrow(NotElfError);
    await expect(readPvhKernel(new Uint8Array(10), { cacheDir: null })).rejects.toThrow(/^not an ELF file/);
  });
});

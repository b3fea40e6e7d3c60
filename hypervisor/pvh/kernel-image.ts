// From a kernel file as the user names it (an ELF vmlinux, or a bzImage such as Debian's vmlinuz)
// to a PvhKernel: the parsed ELF with its Xen notes and entry point. Extracting the ELF from a
// bzImage costs about a second for Debian's kernel, so the result is cached by the bzImage's hash.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { isBzImage, parseBzImage } from './bzimage.ts';
import { writeFileAtomic, xltsCacheDir } from './cache-dir.ts';
import { decompressPayload, plain } from './decompress.ts';
import { hasElfMagic, parseElf } from './elf.ts';
import { type PvhKernel, pvhKernelFromElf } from './elf-notes.ts';
import { DecompressionError, NotElfError } from './errors.ts';

export interface KernelImageOptions {
  /** Where extracted vmlinux files are cached; `null` disables the cache. Default: the xlts cache. */
  readonly cacheDir?: string | null;
}

export type KernelFormat = 'elf' | 'bzImage';

export interface LoadedKernelImage {
  readonly kernel: PvhKernel;
  readonly format: KernelFormat;
}

/** Parses a kernel image: an ELF as is, a bzImage through its decompressed payload. */
export async function readPvhKernel(bytes: Uint8Array, opts: KernelImageOptions = {}): Promise<LoadedKernelImage> {
  if (hasElfMagic(bytes)) return { kernel: pvhKernelFromElf(parseElf(bytes)), format: 'elf' };
  if (!isBzImage(bytes)) throw new NotElfError('nor a bzImage (no "HdrS" setup header)');
  const elf = await extractVmlinux(bytes, opts);
  return { kernel: pvhKernelFromElf(parseElf(elf)), format: 'bzImage' };
}

/** Reads a kernel file from disk and parses it as readPvhKernel does. */
export async function readPvhKernelFile(file: string, opts: KernelImageOptions = {}): Promise<LoadedKernelImage> {
  return readPvhKernel(plain(await fs.readFile(file)), opts);
}

/** The ELF vmlinux inside a bzImage, from the cache when this exact bzImage was seen before. */
export async function extractVmlinux(bzImage: Uint8Array, opts: KernelImageOptions = {}): Promise<Uint8Array> {
  const payload = parseBzImage(bzImage);
  const cacheDir = opts.cacheDir === undefined ? xltsCacheDir() : opts.cacheDir;
  const cached = cacheDir === null ? null : path.join(cacheDir, 'kernels', `vmlinux-${createHash('sha256').update(bzImage).digest('hex')}.elf`);
  if (cached) {
    try {
      const hit = plain(await fs.readFile(cached));
      if (hasElfMagic(hit)) return hit; // anything else is a damaged entry: redo it
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  const elf = await decompressPayload(payload);
  if (!hasElfMagic(elf)) throw new DecompressionError(`the ${payload.compression} payload of this bzImage is not an ELF vmlinux`);
  if (cached) await writeFileAtomic(cached, elf);
  return elf;
}

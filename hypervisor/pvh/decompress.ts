// Decompressing a bzImage payload. Debian's kernels are xz with the x86 BCJ filter, which Node's
// zlib cannot decode, so xz and legacy lzma go through Debian's `xz` command (xz-utils, listed in
// scripts/debian-packages.txt); gzip uses Node's zlib. The input is untrusted, so the output is
// capped (a decompression bomb stops at the cap, the child is killed) and checked against the size
// the image announced.
import { spawn } from 'node:child_process';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import type { BzImagePayload } from './bzimage.ts';
import { DecompressionError, UnsupportedCompressionError } from './errors.ts';

const gunzipAsync = promisify(gunzip);

/** No kernel we boot decompresses to more than this; Debian's 6.1 vmlinux is ~60 MiB. */
export const MAX_DECOMPRESSED_SIZE = 512 * 1024 * 1024;
/** xz's decoder memory cap: Linux uses a 32 MiB dictionary, a hostile header must not ask for more. */
const XZ_MEMLIMIT = '256MiB';

export async function decompressPayload(payload: BzImagePayload, maxOutput = MAX_DECOMPRESSED_SIZE): Promise<Uint8Array> {
  if (payload.uncompressedSize !== undefined && payload.uncompressedSize > maxOutput) {
    throw new DecompressionError(`payload announces ${payload.uncompressedSize} bytes, more than the ${maxOutput}-byte limit`);
  }
  const limit = payload.uncompressedSize ?? maxOutput;
  let out: Uint8Array;
  switch (payload.compression) {
    case 'none':
      out = payload.stream;
      break;
    case 'gzip':
      try {
        out = plain(await gunzipAsync(payload.stream, { maxOutputLength: limit }));
      } catch (err) {
        throw new DecompressionError(`gzip payload: ${err instanceof Error ? err.message : String(err)}`);
      }
      break;
    case 'xz':
    case 'lzma':
      out = await runXz(payload.stream, payload.compression, limit);
      break;
    case 'bzip2':
    case 'zstd':
    case 'lzo':
    case 'lz4':
      throw new UnsupportedCompressionError(
        `bzImage payload is ${payload.compression}-compressed; supported are xz, lzma, gzip and uncompressed (rebuild the kernel with CONFIG_KERNEL_XZ or pass the ELF vmlinux)`,
      );
  }
  if (payload.uncompressedSize !== undefined && out.length !== payload.uncompressedSize) {
    throw new DecompressionError(`payload decompressed to ${out.length} bytes, but the image announces ${payload.uncompressedSize}`);
  }
  return out;
}

function runXz(stream: Uint8Array, format: 'xz' | 'lzma', limit: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const child = spawn('xz', ['--decompress', '--stdout', `--format=${format}`, '--single-stream', `--memlimit-decompress=${XZ_MEMLIMIT}`], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let total = 0;
    let stderr = '';
    let failure: DecompressionError | undefined;
    child.on('error', (err: NodeJS.ErrnoException) => {
      failure ??= new DecompressionError(
        err.code === 'ENOENT' ? 'the `xz` command is missing: install xz-utils (npm run setup)' : `cannot run xz: ${err.message}`,
      );
    });
    child.stdout.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > limit) {
        failure ??= new DecompressionError(`${format} payload decompresses to more than ${limit} bytes`);
        child.kill('SIGKILL');
        return;
      }
      chunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (stderr.length < 4096) stderr += chunk.toString('utf8');
    });
    // xz may exit (bad data) before reading all of its input: that EPIPE is reported through the exit status.
    child.stdin.on('error', () => undefined);
    child.on('close', (code, signal) => {
      if (failure) return reject(failure);
      if (code !== 0) return reject(new DecompressionError(`xz failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`));
      resolve(plain(Buffer.concat(chunks, total)));
    });
    child.stdin.end(Buffer.from(stream.buffer, stream.byteOffset, stream.byteLength));
  });
}

/**
 * A plain Uint8Array over a Buffer's memory, without copying: Buffer's slice() shares memory where
 * Uint8Array's copies, and callers of this module should get the standard semantics.
 */
export function plain(b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

// Builds the C programs under test/c (the io/ring.h differential harness, the C ring bench) on
// demand, into a cache outside the repository so no binary is ever committed:
// `${XLTS_CACHE_DIR:-$HOME/.cache/xlts}/c/<name>-<hash>`. The hash covers the source, the compiler
// arguments and the Xen headers compiled against, so an edited source, a different define or an
// upgraded libxen-dev each get their own binary and a stale one is never run.
//
// Builds are atomic (compile to a private temporary name, then rename), because vitest runs test
// files in parallel processes that may ask for the same binary at the same moment.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The header every program here compiles against; libxen-dev installs it. */
export const XEN_RING_HEADER = '/usr/include/xen/io/ring.h';

const SOURCE_DIR = path.dirname(fileURLToPath(import.meta.url));

/** The C toolchain or the Xen headers are not installed, or a program failed to compile. */
export class CBuildError extends Error {
  override readonly name = 'CBuildError';
}

export interface CProgramSpec {
  /** Source file name inside test/c. */
  readonly source: string;
  /** -D<name>=<value> for each entry, e.g. { ENTRY_SIZE: 112 }. */
  readonly defines?: Readonly<Record<string, string | number>>;
  /** Extra trailing arguments such as -pthread. */
  readonly extraArgs?: readonly string[];
}

/** Where built programs live; created on demand. */
export function cCacheDir(): string {
  const base = process.env['XLTS_CACHE_DIR'] ?? path.join(os.homedir(), '.cache', 'xlts');
  return path.join(base, 'c');
}

/** Where the toolchain is; tests point these at missing things to check the error messages. */
export interface CToolchain {
  readonly compiler: string;
  readonly xenRingHeader: string;
}

const DEFAULT_TOOLCHAIN: CToolchain = { compiler: 'gcc', xenRingHeader: XEN_RING_HEADER };

/** Throws CBuildError saying what to run when the Xen headers are not installed. */
export function assertXenHeaders(toolchain: CToolchain = DEFAULT_TOOLCHAIN): void {
  if (!fs.existsSync(toolchain.xenRingHeader)) {
    throw new CBuildError(
      `${toolchain.xenRingHeader} is missing (Debian package libxen-dev): run scripts/setup.sh`,
    );
  }
}

/**
 * Returns the path of an executable built from `spec`, compiling it first unless the cache holds
 * one for exactly this source, these arguments and these headers.
 */
export function buildCProgram(spec: CProgramSpec, toolchain: CToolchain = DEFAULT_TOOLCHAIN): string {
  assertXenHeaders(toolchain);
  const sourcePath = path.join(SOURCE_DIR, spec.source);
  const source = fs.readFileSync(sourcePath);
  const defines = Object.entries(spec.defines ?? {})
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `-D${name}=${value}`);
  const args = ['-std=gnu11', '-O2', '-Wall', '-Wextra', '-Werror', ...defines];
  const trailing = [...(spec.extraArgs ?? [])];

  const hash = createHash('sha256');
  hash.update(toolchain.compiler);
  hash.update(source);
  hash.update(JSON.stringify([args, trailing]));
  // The headers ring.h pulls in are part of what the binary means.
  for (const header of [toolchain.xenRingHeader, '/usr/include/xen/io/blkif.h', '/usr/include/xen/xen.h']) {
    if (fs.existsSync(header)) hash.update(fs.readFileSync(header));
  }
  const stem = path.basename(spec.source, '.c');
  const dir = cCacheDir();
  const binary = path.join(dir, `${stem}-${hash.digest('hex').slice(0, 16)}`);
  if (fs.existsSync(binary)) return binary;

  fs.mkdirSync(dir, { recursive: true });
  const temporary = `${binary}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    execFileSync(toolchain.compiler, [...args, '-o', temporary, sourcePath, ...trailing], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (err) {
    fs.rmSync(temporary, { force: true });
    if (isErrnoException(err) && err.code === 'ENOENT') {
      throw new CBuildError(`${toolchain.compiler} is not installed: run scripts/setup.sh`);
    }
    const stderr = hasStderr(err) ? err.stderr.toString() : String(err);
    throw new CBuildError(`${toolchain.compiler} failed to build ${spec.source}:\n${stderr}`);
  }
  fs.renameSync(temporary, binary);
  return binary;
}

function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && 'code' in err;
}

function hasStderr(err: unknown): err is { stderr: Buffer } {
  return typeof err === 'object' && err !== null && 'stderr' in err && Buffer.isBuffer((err as { stderr: unknown }).stderr);
}

// Builds the tiny PVH test guests (tests/*.c on the shared runtime/) with the system's gcc into
// the xlts cache, never into the repository. The output directory is named by a hash of every
// source file, the compiler flags and the toolchain versions, so a change to any of them builds
// afresh, and an unchanged tree costs one hash. A build happens in a private temporary directory
// that is renamed into place whole: concurrent builders and interrupted builds are harmless.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { xltsCacheDir } from '../../hypervisor/pvh/cache-dir.ts';

const run = promisify(execFile);

export const XTF_SOURCE_DIR = path.dirname(fileURLToPath(import.meta.url));
const RUNTIME_DIR = path.join(XTF_SOURCE_DIR, 'runtime');
const TESTS_DIR = path.join(XTF_SOURCE_DIR, 'tests');

/**
 * Freestanding 64-bit code that the host's instruction emulator can run: integer registers only
 * (no SSE/x87 state to set up or emulate), no red zone (interrupts arrive on the same stack), no
 * CET end-branch instructions, no stack protector or PIC (no runtime to support them), and no
 * loop-to-memset rewriting (memset itself is a loop).
 */
export const XTF_CFLAGS: readonly string[] = [
  '-std=gnu11',
  '-O2',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-ffreestanding',
  '-fno-builtin',
  '-m64',
  '-mgeneral-regs-only',
  '-mno-red-zone',
  '-fno-pic',
  '-fno-pie',
  '-fno-stack-protector',
  '-fcf-protection=none',
  '-fno-asynchronous-unwind-tables',
  '-fno-unwind-tables',
  '-fno-tree-loop-distribute-patterns',
];
const XTF_LDFLAGS: readonly string[] = [
  '-nostdlib',
  '-static',
  '-no-pie',
  '-Wl,--build-id=none',
  '-Wl,-z,max-page-size=0x1000',
];

/** Guests also offered as ELF32 files (same code, 32-bit container), for the loader's ELF32 path. */
const ELF32_VARIANTS: readonly string[] = ['cpuid'];

/** Bumped when this script's output format changes without any source changing. */
const BUILD_FORMAT = 1;

export interface BuiltGuest {
  /** The test's file name without extension, e.g. "evtchn"; ELF32 variants end in "-elf32". */
  readonly name: string;
  /** Absolute path of the ELF file in the cache. */
  readonly path: string;
}

export class GuestBuildError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GuestBuildError';
  }
}

export interface BuildOptions {
  /** Root of the xlts cache; default `$XLTS_CACHE_DIR` or `~/.cache/xlts`. */
  readonly cacheDir?: string;
}

/** Builds (or finds already built) every test guest; resolves to their ELF files, sorted by name. */
export async function buildTestGuests(opts: BuildOptions = {}): Promise<BuiltGuest[]> {
  const sources = await listSources();
  const key = await buildKey(sources);
  const root = path.join(opts.cacheDir ?? xltsCacheDir(), 'guests', 'xtf');
  const outDir = path.join(root, key);
  const existing = await readManifest(outDir);
  if (existing) return existing; // no pruning on a hit: the cache may be read-only here

  await fs.mkdir(root, { recursive: true });
  const tmp = path.join(root, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await fs.mkdir(tmp);
  try {
    const names = await compileAll(sources, tmp);
    await fs.writeFile(path.join(tmp, 'manifest.json'), JSON.stringify({ key, guests: names }, null, 2));
    try {
      await fs.rename(tmp, outDir);
    } catch (err) {
      // Another builder finished the same key first; its output is identical.
      if (!isErrno(err, 'ENOTEMPTY') && !isErrno(err, 'EEXIST')) throw err;
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
  await pruneOldBuilds(root, key);
  const built = await readManifest(outDir);
  if (!built) throw new GuestBuildError(`build output ${outDir} has no manifest`);
  return built;
}

interface Sources {
  readonly runtime: readonly string[];
  readonly tests: readonly string[];
}

async function listSources(): Promise<Sources> {
  const runtime = (await fs.readdir(RUNTIME_DIR)).filter((f) => /\.(c|S|h|ld)$/.test(f)).sort();
  const tests = (await fs.readdir(TESTS_DIR)).filter((f) => f.endsWith('.c')).sort();
  if (tests.length === 0) throw new GuestBuildError(`no tests in ${TESTS_DIR}`);
  return { runtime, tests };
}

async function buildKey(sources: Sources): Promise<string> {
  const h = createHash('sha256');
  h.update(`format ${BUILD_FORMAT}\n${XTF_CFLAGS.join(' ')}\n${XTF_LDFLAGS.join(' ')}\n${ELF32_VARIANTS.join(' ')}\n`);
  h.update(await toolVersion('gcc', ['-dumpfullversion']));
  h.update(await toolVersion('ld', ['--version']));
  for (const [dir, files] of [
    ['runtime', sources.runtime],
    ['tests', sources.tests],
  ] as const) {
    for (const f of files) {
      h.update(`${dir}/${f}\0`);
      h.update(await fs.readFile(path.join(XTF_SOURCE_DIR, dir, f)));
      h.update('\0');
    }
  }
  return h.digest('hex').slice(0, 24);
}

async function toolVersion(tool: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await run(tool, args);
    return stdout.split('\n')[0] ?? '';
  } catch (err) {
    throw new GuestBuildError(`cannot run ${tool} (install gcc and binutils: npm run setup): ${errorText(err)}`);
  }
}

async function compileAll(sources: Sources, out: string): Promise<BuiltGuest[]> {
  const include = ['-I', RUNTIME_DIR];
  const runtimeObjs: string[] = [];
  await inParallel(
    sources.runtime.filter((f) => f.endsWith('.c') || f.endsWith('.S')),
    async (f) => {
      const obj = path.join(out, `runtime-${f}.o`); // traps.c and traps.S both exist
      await gcc([...XTF_CFLAGS, ...include, '-c', '-o', obj, path.join(RUNTIME_DIR, f)]);
      runtimeObjs.push(obj);
    },
  );
  runtimeObjs.sort();
  const guests: BuiltGuest[] = [];
  await inParallel(sources.tests, async (f) => {
    const name = f.replace(/\.c$/, '');
    const elf = path.join(out, `${name}.elf`);
    await gcc([...XTF_CFLAGS, ...XTF_LDFLAGS, ...include, '-o', elf, path.join(TESTS_DIR, f), ...runtimeObjs, '-T', path.join(RUNTIME_DIR, 'link.ld')]);
    guests.push({ name, path: elf });
    if (ELF32_VARIANTS.includes(name)) {
      const elf32 = path.join(out, `${name}-elf32.elf`);
      await tool('objcopy', ['-O', 'elf32-i386', elf, elf32]);
      guests.push({ name: `${name}-elf32`, path: elf32 });
    }
  });
  // Paths inside the manifest are relative: the directory is renamed after the build.
  return guests.map((g) => ({ name: g.name, path: path.basename(g.path) })).sort((a, b) => a.name.localeCompare(b.name));
}

async function gcc(args: string[]): Promise<void> {
  await tool('gcc', args);
}

async function tool(cmd: string, args: string[]): Promise<void> {
  try {
    await run(cmd, args, { maxBuffer: 4 * 1024 * 1024 });
  } catch (err) {
    const stderr = typeof err === 'object' && err !== null && 'stderr' in err ? String(err.stderr) : '';
    throw new GuestBuildError(`${cmd} failed: ${stderr.trim() || errorText(err)}`);
  }
}

/** Two at a time: the machine has two cores and other engineers' tests share them. */
async function inParallel<T>(items: readonly T[], fn: (item: T) => Promise<void>, width = 2): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
}

async function readManifest(dir: string): Promise<BuiltGuest[] | null> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, 'manifest.json'), 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return null;
    throw err;
  }
  const parsed: unknown = JSON.parse(text);
  if (!isManifest(parsed)) throw new GuestBuildError(`malformed manifest in ${dir}`);
  return parsed.guests.map((g) => ({ name: g.name, path: path.join(dir, g.path) }));
}

function isManifest(v: unknown): v is { guests: { name: string; path: string }[] } {
  if (typeof v !== 'object' || v === null || !('guests' in v) || !Array.isArray(v.guests)) return false;
  return v.guests.every(
    (g: unknown) => typeof g === 'object' && g !== null && 'name' in g && 'path' in g && typeof g.name === 'string' && typeof g.path === 'string',
  );
}

/** Keeps the cache from growing with every source edit: older builds are removed, the current stays. */
async function pruneOldBuilds(root: string, keep: string): Promise<void> {
  const entries = await fs.readdir(root, { withFileTypes: true });
  const stale = entries.filter((e) => e.isDirectory() && e.name !== keep && /^[0-9a-f]{24}$/.test(e.name));
  const now = Date.now();
  for (const e of stale) {
    const dir = path.join(root, e.name);
    const st = await fs.stat(dir).catch(() => null);
    // Give a concurrent reader of an older tree (another checkout) an hour before removing it.
    // Best effort: the cache may be read-only (the KVM lab sees the host's over a read-only share).
    if (st && now - st.mtimeMs > 3600_000) await fs.rm(dir, { recursive: true, force: true }).catch(() => undefined);
  }
}

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === code;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

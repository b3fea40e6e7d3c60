// The lab's boot image: Debian's current bookworm kernel (fetched with `apt-get download`, never
// installed into the host's /boot) and an initramfs of busybox-static, the init script and the
// kernel modules the lab needs. Everything is cached outside the repository:
//
//   ${XLTS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/xlts}/lab/
//     kernel/resolved.json              which package apt calls current, and the apt lists'
//                                       mtime it was read at (apt-cache costs ~1 s a call)
//     kernel/<package>_<version>/       `dpkg-deb -x` of the package under root/, plus the
//                                       ELF vmlinux extracted from its bzImage and kernel.json
//     image/<key>/initramfs.cpio        the lab initramfs, and image.json describing it
//
// <key> hashes every input of the image (kernel package and version, busybox binary, module
// list, init script text, recipe version), so changing any of them builds a new image beside
// the old one. Each build step writes into a ".tmp-*" directory next to its final place and
// renames it into place: a crashed build leaves no half-made entry, and of two concurrent
// builds one rename wins and the other's result is discarded.

import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { locateBzImagePayload } from './bzimage.ts';
import { buildCpio, type CpioEntry } from './cpio.ts';
import { elfHasInterpreter, isElf64X86 } from './elf.ts';
import { LabImageError } from './errors.ts';
import { INITRAMFS_MODULE_DIR, labInitScript } from './init-script.ts';
import { moduleDependencies, moduleLoadOrder, moduleNameOfFile } from './kmod.ts';
import { findOnPath, runTool } from './tools.ts';

/** Bump when the way the image is assembled changes in a way the key's inputs do not show. */
export const LAB_RECIPE_VERSION = 1;

/** Debian's metapackage whose dependency names the current 6.1 kernel package. */
const KERNEL_METAPACKAGE = 'linux-image-amd64';
const KERNEL_PACKAGE_PATTERN = /^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$/;

/**
 * Modules the lab needs for itself, in groups the init loads in parallel; each module's
 * dependencies are added from its .modinfo, and the groups' closures must not overlap. For
 * Debian 6.1 that expands to: virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio
 * virtio_pci 9pnet 9pnet_virtio netfs fscache 9p virtio_console, and irqbypass kvm ccp kvm_amd.
 */
export const LAB_MODULE_GROUPS = [['virtio_pci', '9pnet_virtio', '9p', 'virtio_console'], ['kvm_amd']] as const;

const APT_LISTS_DIR = '/var/lib/apt/lists';

export type LabLog = (message: string) => void;

export interface KernelPackageRef {
  readonly package: string;
  readonly version: string;
}

export interface LabKernel extends KernelPackageRef {
  /** `uname -r` of the kernel, e.g. 6.1.0-56-amd64. */
  readonly release: string;
  /** The cached kernel directory. */
  readonly dir: string;
  /** The extracted package tree (boot/, lib/modules/, usr/). */
  readonly root: string;
  /** The bzImage from the package. */
  readonly vmlinuz: string;
  /** The ELF vmlinux extracted from it: boots through QEMU's PVH entry. */
  readonly vmlinux: string;
}

export interface LabImage {
  readonly kernel: LabKernel;
  readonly initramfs: string;
  /** Modules in the initramfs, in load order. */
  readonly modules: readonly string[];
  /** The cache key of the initramfs. */
  readonly key: string;
  /** True when this call built something (kernel or initramfs), false when all was cached. */
  readonly built: boolean;
}

/** The lab's cache directory (see the top of this file). */
export function labCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XLTS_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(env.HOME ?? homedir(), '.cache'), 'xlts');
  return join(base, 'lab');
}

/** Makes sure the kernel and the initramfs are in the cache, building what is missing. */
export async function ensureLabImage(
  options: { cacheDir?: string; log?: LabLog } = {},
): Promise<LabImage> {
  const cacheDir = options.cacheDir ?? labCacheDir();
  const log = options.log ?? (() => undefined);
  const kernelBuild = await ensureLabKernel({ cacheDir, log });
  const kernel = kernelBuild.kernel;

  const busyboxPath = findOnPath('busybox') ?? '/bin/busybox';
  let busybox: Buffer;
  try {
    busybox = await readFile(busyboxPath);
  } catch {
    throw new LabImageError('busybox not found: install the Debian package busybox-static');
  }
  if (!isElf64X86(busybox) || elfHasInterpreter(busybox)) {
    throw new LabImageError(
      `${busyboxPath} is not a static x86-64 executable: install busybox-static, not busybox`,
    );
  }
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        recipe: LAB_RECIPE_VERSION,
        kernel: `${kernel.package}_${kernel.version}`,
        busybox: createHash('sha256').update(busybox).digest('hex'),
        modules: LAB_MODULE_GROUPS,
        init: labInitScript([['@MODULES@']]),
      }),
    )
    .digest('hex')
    .slice(0, 16);

  const imageDir = join(cacheDir, 'image', key);
  const manifestPath = join(imageDir, 'image.json');
  const cached = readManifest(manifestPath);
  if (cached) {
    return { kernel, initramfs: join(imageDir, 'initramfs.cpio'), modules: cached, key, built: kernelBuild.built };
  }

  log(`building the lab initramfs (${key})`);
  const groups = labModules(kernel);
  const modules = groups.flat();
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'lib', 'lib/modules', 'tmp'].map(
      (path): CpioEntry => ({ kind: 'dir', path }),
    ),
    // The kernel opens /dev/console for init's stdio before init can mount devtmpfs.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1 },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    ...(await busyboxApplets(busyboxPath)).map(
      (applet): CpioEntry => ({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' }),
    ),
    ...modules.map(
      (m): CpioEntry => ({ kind: 'file', path: `${INITRAMFS_MODULE_DIR.slice(1)}/${m.name}.ko`, data: m.data }),
    ),
    {
      kind: 'file',
      path: 'init',
      data: Buffer.from(labInitScript(groups.map((g) => g.map((m) => m.name)))),
      mode: 0o755,
    },
  ];
  const names = modules.map((m) => m.name);
  await publishDir(join(cacheDir, 'image'), key, async (tmp) => {
    await writeFile(join(tmp, 'initramfs.cpio'), buildCpio(entries));
    const manifest = { key, kernel: `${kernel.package}_${kernel.version}`, modules: names, builtAt: new Date().toISOString() };
    await writeFile(join(tmp, 'image.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  });
  return { kernel, initramfs: join(imageDir, 'initramfs.cpio'), modules: names, key, built: true };
}

function readManifest(path: string): string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'modules' in parsed) {
      const modules = parsed.modules;
      if (Array.isArray(modules) && modules.every((m): m is string => typeof m === 'string')) {
        return modules;
      }
    }
  } catch {
    // missing or unreadable: rebuild
  }
  return undefined;
}

async function busyboxApplets(busyboxPath: string): Promise<string[]> {
  const { stdout } = await runTool('busybox', ['--list'], { executable: busyboxPath });
  return stdout
    .toString('utf8')
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9_.[-]+$/.test(s) && s !== 'busybox');
}

/** The lab's modules from the kernel package, decompressed, per group in load order. */
function labModules(kernel: LabKernel): Array<Array<{ name: string; data: Uint8Array }>> {
  const source = kernelModuleSource(kernel);
  const owner = new Map<string, number>();
  return LAB_MODULE_GROUPS.map((roots, group) =>
    source.closure(roots).map((module) => {
      // Parallel groups loading the same module would race its insmod.
      const other = owner.get(module.name);
      if (other !== undefined) {
        throw new LabImageError(`module ${module.name} is needed by module groups ${other} and ${group}: merge them`);
      }
      owner.set(module.name, group);
      return module;
    }),
  );
}

export interface KernelModuleSource {
  /**
   * `roots` and every module they depend on (from each module's .modinfo `depends=`: the
   * package ships no modules.dep), in load order, as uncompressed ELF bytes.
   */
  closure(roots: readonly string[]): Array<{ name: string; data: Uint8Array }>;
}

/**
 * The modules of an unpacked kernel package. Shared by the lab image and guests/linux, so both
 * read modules the same way; only the modules on a dependency walk are read (a dozen of ~4000).
 */
export function kernelModuleSource(kernel: LabKernel): KernelModuleSource {
  const tree = join(kernel.root, 'lib', 'modules', kernel.release, 'kernel');
  const files = new Map<string, string>();
  for (const path of walkFiles(tree)) {
    const name = moduleNameOfFile(path);
    if (name !== undefined) files.set(name, path);
  }
  const loaded = new Map<string, Uint8Array>();
  const read = (name: string): Uint8Array | undefined => {
    const cached = loaded.get(name);
    if (cached !== undefined) return cached;
    const path = files.get(name);
    if (path === undefined) return undefined;
    const data = readModuleFile(path);
    loaded.set(name, data);
    return data;
  };
  return {
    closure(roots) {
      const order = moduleLoadOrder(roots, (name) => {
        const data = read(name);
        return data === undefined ? undefined : moduleDependencies(data);
      });
      return order.map((name) => {
        const data = read(name);
        if (data === undefined) throw new LabImageError(`module ${name} was not read`);
        return { name, data };
      });
    },
  };
}

/**
 * A module file's ELF bytes. busybox insmod loads plain .ko only (it has no in-kernel
 * decompression path), so compressed modules are unpacked here, at build time.
 */
function readModuleFile(path: string): Uint8Array {
  const raw = readFileSync(path);
  if (path.endsWith('.ko')) return raw;
  if (path.endsWith('.ko.gz')) return gunzipSync(raw);
  const tool = path.endsWith('.ko.xz') ? 'xz' : path.endsWith('.ko.zst') ? 'zstd' : undefined;
  if (tool === undefined) throw new LabImageError(`unknown module compression: ${path}`);
  // Synchronous on purpose: a handful of small files, read once per image build.
  const result = spawnSync(tool, ['-dc', path], { maxBuffer: 256 << 20 });
  if (result.error || result.status !== 0) {
    throw new LabImageError(`${tool} -dc ${path} failed: ${result.stderr?.toString() ?? result.error?.message}`);
  }
  return result.stdout;
}

function* walkFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walkFiles(path);
    else if (entry.isFile()) yield path;
  }
}

/** Makes sure the current kernel package is fetched, unpacked and its vmlinux extracted. */
export async function ensureLabKernel(
  options: { cacheDir?: string; log?: LabLog } = {},
): Promise<{ kernel: LabKernel; built: boolean }> {
  const cacheDir = options.cacheDir ?? labCacheDir();
  const log = options.log ?? (() => undefined);
  const kernelsDir = join(cacheDir, 'kernel');
  const ref = await resolveKernelPackage(kernelsDir, log);
  const name = `${ref.package}_${ref.version}`;
  const dir = join(kernelsDir, name);
  let built = false;
  if (!existsSync(join(dir, 'kernel.json'))) {
    built = true;
    log(`fetching ${ref.package} ${ref.version} with apt-get download (not installed on the host)`);
    await publishDir(kernelsDir, name, async (tmp) => {
      const asRoot = process.getuid?.() === 0;
      // apt drops to the _apt user to download, which cannot write into our private temp dir.
      const sandbox = asRoot ? ['-o', 'APT::Sandbox::User=root'] : [];
      await runTool('apt-get', [...sandbox, '-q', 'download', `${ref.package}=${ref.version}`], { cwd: tmp });
      const deb = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
      if (deb === undefined) throw new LabImageError(`apt-get download ${ref.package} left no .deb`);
      await runTool('dpkg-deb', ['-x', join(tmp, deb), join(tmp, 'root')]);
      await rm(join(tmp, deb));
      const releases = await readdir(join(tmp, 'root', 'lib', 'modules'));
      const release = releases[0];
      if (release === undefined || releases.length !== 1) {
        throw new LabImageError(`${ref.package} holds ${releases.length} module trees, expected 1`);
      }
      log(`extracting vmlinux from vmlinuz-${release}`);
      const vmlinuz = await readFile(join(tmp, 'root', 'boot', `vmlinuz-${release}`));
      await writeFile(join(tmp, 'vmlinux'), await extractVmlinux(vmlinuz));
      const meta = { package: ref.package, version: ref.version, release };
      await writeFile(join(tmp, 'kernel.json'), `${JSON.stringify(meta, null, 2)}\n`);
    });
  }
  return { kernel: readKernel(dir), built };
}

function readKernel(dir: string): LabKernel {
  const parsed: unknown = JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8'));
  const field = (key: string): string => {
    const value = typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>)[key] : undefined;
    if (typeof value !== 'string') throw new LabImageError(`${dir}/kernel.json lacks ${key}`);
    return value;
  };
  const release = field('release');
  const root = join(dir, 'root');
  return {
    package: field('package'),
    version: field('version'),
    release,
    dir,
    root,
    vmlinuz: join(root, 'boot', `vmlinuz-${release}`),
    vmlinux: join(dir, 'vmlinux'),
  };
}

/** The ELF kernel inside a bzImage, decompressed (see bzimage.ts). */
export async function extractVmlinux(bzImage: Uint8Array): Promise<Buffer> {
  const payload = locateBzImagePayload(bzImage);
  const bytes = bzImage.subarray(payload.offset, payload.offset + payload.length);
  let elf: Buffer;
  switch (payload.format) {
    case 'xz':
      // --single-stream: the build appends the uncompressed size after the stream.
      elf = (await runTool('xz', ['-dc', '--single-stream'], { input: bytes })).stdout;
      break;
    case 'gzip':
      elf = gunzipSync(bytes);
      break;
    case 'zstd':
      elf = (await runTool('zstd', ['-dc'], { input: bytes })).stdout;
      break;
    default:
      throw new LabImageError(`bzImage payload is ${payload.format}-compressed; the lab handles xz, gzip, zstd`);
  }
  if (!isElf64X86(elf)) throw new LabImageError('the bzImage payload did not decompress to an x86-64 ELF');
  return elf;
}

/**
 * The kernel package apt currently offers. apt-cache takes about a second per call, so the
 * answer is kept with the mtime of apt's package lists and asked again only after they change
 * (an `apt-get update`). Without an answer from apt (no lists, no apt), the newest kernel
 * already in the cache is used.
 */
async function resolveKernelPackage(kernelsDir: string, log: LabLog): Promise<KernelPackageRef> {
  const stamp = aptListsStamp();
  const file = join(kernelsDir, 'resolved.json');
  try {
    const saved: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (isResolved(saved) && saved.stamp === stamp) return { package: saved.package, version: saved.version };
  } catch {
    // not resolved yet
  }
  let ref: KernelPackageRef;
  try {
    ref = await queryAptForKernel(log);
  } catch (err) {
    const cached = newestCachedKernel(kernelsDir);
    if (cached === undefined) throw err;
    log(`apt could not name the current kernel (${err instanceof Error ? err.message : String(err)}); using cached ${cached.package} ${cached.version}`);
    return cached;
  }
  await publishFile(file, `${JSON.stringify({ stamp, ...ref }, null, 2)}\n`);
  return ref;
}

function isResolved(v: unknown): v is { stamp: string; package: string; version: string } {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return typeof r.stamp === 'string' && typeof r.package === 'string' && typeof r.version === 'string';
}

function aptListsStamp(): string {
  try {
    const times = readdirSync(APT_LISTS_DIR)
      .filter((f) => f.includes('_Packages'))
      .map((f) => statSync(join(APT_LISTS_DIR, f)).mtimeMs);
    return `${times.length}:${Math.max(0, ...times)}`;
  } catch {
    return 'none';
  }
}

async function queryAptForKernel(log: LabLog): Promise<KernelPackageRef> {
  const depends = async (): Promise<string | undefined> => {
    try {
      const { stdout } = await runTool('apt-cache', ['depends', KERNEL_METAPACKAGE]);
      return /Depends:\s*(linux-image-\S+)/.exec(stdout.toString('utf8'))?.[1];
    } catch (err) {
      if (err instanceof LabImageError && /No packages found/.test(err.message)) return undefined;
      throw err;
    }
  };
  let pkg = await depends();
  if (pkg === undefined && process.getuid?.() === 0) {
    log(`apt does not know ${KERNEL_METAPACKAGE}; running apt-get update`);
    await runTool('apt-get', ['update', '-qq']);
    pkg = await depends();
  }
  if (pkg === undefined) {
    throw new LabImageError(`apt does not know ${KERNEL_METAPACKAGE}: run apt-get update (as root)`);
  }
  if (!KERNEL_PACKAGE_PATTERN.test(pkg)) {
    throw new LabImageError(`${KERNEL_METAPACKAGE} depends on ${pkg}, not a linux-image-6.1.*-amd64 package`);
  }
  const { stdout } = await runTool('apt-cache', ['show', '--no-all-versions', pkg]);
  const version = /^Version:\s*(\S+)/m.exec(stdout.toString('utf8'))?.[1];
  if (version === undefined || !/^[A-Za-z0-9.+~-]+$/.test(version)) {
    throw new LabImageError(`apt-cache show ${pkg} gave no usable version`);
  }
  return { package: pkg, version };
}

function newestCachedKernel(kernelsDir: string): KernelPackageRef | undefined {
  let best: { ref: KernelPackageRef; mtime: number } | undefined;
  try {
    for (const entry of readdirSync(kernelsDir)) {
      if (entry.startsWith('.') || !existsSync(join(kernelsDir, entry, 'kernel.json'))) continue;
      const kernel = readKernel(join(kernelsDir, entry));
      const mtime = statSync(join(kernelsDir, entry)).mtimeMs;
      if (best === undefined || mtime > best.mtime) best = { ref: kernel, mtime };
    }
  } catch {
    return undefined;
  }
  return best?.ref;
}

const STALE_TEMP_MS = 60 * 60 * 1000;

/**
 * Builds `parent/name` by filling a fresh temp directory beside it and renaming that into
 * place. If another process published the same name meanwhile, its result is kept and ours
 * dropped: both were built from the same inputs.
 */
export async function publishDir(parent: string, name: string, fill: (tmp: string) => Promise<void>): Promise<void> {
  await mkdir(parent, { recursive: true });
  await removeStaleTemps(parent);
  const tmp = join(parent, `.tmp-${name}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmp);
  try {
    await fill(tmp);
    await rename(tmp, join(parent, name));
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(join(parent, name))) return;
    throw err;
  }
}

/** Writes a file atomically (temp file + rename). */
async function publishFile(path: string, text: string): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text);
  await rename(tmp, path);
}

/** Temp directories left by builds that crashed more than an hour ago. */
async function removeStaleTemps(parent: string): Promise<void> {
  for (const entry of await readdir(parent)) {
    if (!entry.startsWith('.tmp-')) continue;
    const path = join(parent, entry);
    try {
      if (Date.now() - (await stat(path)).mtimeMs > STALE_TEMP_MS) {
        await rm(path, { recursive: true, force: true });
      }
    } catch {
      // another process removed it first
    }
  }
}

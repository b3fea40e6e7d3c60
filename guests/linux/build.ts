// The default Linux guest: Debian bookworm's stock kernel (the same package the KVM lab boots,
// fetched with `apt-get download` by lab/lab-image.ts, never installed into the host's /boot)
// and an initramfs of busybox-static, the Xen PV disk and network frontends and an /init that
// gives a shell on hvc0 (init-script.ts). Built once into a cache outside the repository:
//
//   ${XLTS_CACHE_DIR:-~/.cache/xlts}/guests/linux/<key>/
//     vmlinux        the ELF kernel (a hard link to the lab's extracted copy; a copy across devices)
//     initrd.cpio    the initramfs (newc), byte-for-byte reproducible from the inputs
//     guest.json     what went in: kernel package, release, busybox hash, modules
//
// <key> hashes every input (recipe version, kernel package and version, busybox bytes, the
// module roots, the init script's text), so a change builds a new guest beside the old one.
// The directory is filled under a ".tmp-*" name and renamed into place: an interrupted build
// leaves nothing that looks finished, and of two concurrent builds the first rename wins.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, link, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { xltsCacheDir } from '../../hypervisor/pvh/cache-dir.ts';
import { elfHasInterpreter, isElf64X86 } from '../../lab/elf.ts';
import { ensureLabKernel, kernelModuleSource, type LabKernel } from '../../lab/index.ts';
import { publishDir } from '../../lab/lab-image.ts';
import { findOnPath, runTool } from '../../lab/tools.ts';
import { LinuxGuestBuildError } from './errors.ts';
import { linuxGuestInitScript } from './init-script.ts';
import { buildLinuxGuestInitramfs } from './initramfs.ts';

/** Bump when the guest's assembly changes in a way the key's inputs do not show. */
export const LINUX_GUEST_RECIPE_VERSION = 2;

/**
 * Modules the guest loads, dependencies added from each module's .modinfo (Debian's package
 * ships no modules.dep: depmod writes it at install time). The PV drivers have none in 6.1 (xenbus
 * and the grant table are built in). ext4 (which also mounts ext2, as busybox's mke2fs makes) lets
 * the guest put a filesystem on its PV disk; it pulls jbd2, mbcache and crc16, and crc32c_generic
 * is its soft dependency for filesystems with metadata checksums (a host's mkfs.ext4 default).
 */
export const LINUX_GUEST_MODULE_ROOTS = ['xen_blkfront', 'xen_netfront', 'crc32c_generic', 'ext4'] as const;

export interface LinuxGuest {
  /** ELF vmlinux, for `xlts run --kernel`. */
  readonly kernel: string;
  /** newc initramfs, for `xlts run --initrd`. */
  readonly initrd: string;
  /** `uname -r` of the kernel, e.g. 6.1.0-56-amd64. */
  readonly release: string;
  /** The Debian package and version it came from (version is what `uname -v` shows). */
  readonly kernelPackage: string;
  readonly kernelVersion: string;
  /** Modules in the initramfs, in load order. */
  readonly modules: readonly string[];
  readonly key: string;
  readonly dir: string;
  /** True when this call built the guest (or fetched the kernel), false when all was cached. */
  readonly built: boolean;
}

/** One finished build step, for a progress display. */
export interface GuestBuildStep {
  readonly step: 'kernel' | 'busybox' | 'cache' | 'modules' | 'initramfs' | 'publish';
  readonly detail: string;
  readonly ms: number;
}

export interface EnsureLinuxGuestOptions {
  /** Called as each step finishes. */
  readonly onStep?: (step: GuestBuildStep) => void;
  /** Lines from long sub-steps (apt-get download, vmlinux extraction) while they run. */
  readonly log?: (message: string) => void;
  /** Overrides `${XLTS_CACHE_DIR:-~/.cache/xlts}/guests/linux`. */
  readonly cacheDir?: string;
  /** Overrides busybox on PATH (else /bin/busybox). */
  readonly busyboxPath?: string;
}

export function linuxGuestCacheDir(): string {
  return join(xltsCacheDir(), 'guests', 'linux');
}

/** Makes sure the default guest is in the cache, building what is missing; idempotent. */
export async function ensureLinuxGuest(options: EnsureLinuxGuestOptions = {}): Promise<LinuxGuest> {
  const onStep = options.onStep ?? (() => undefined);
  const timed = async <T>(step: GuestBuildStep['step'], run: () => Promise<T> | T, detail: (v: T) => string): Promise<T> => {
    const started = performance.now();
    const value = await run();
    onStep({ step, detail: detail(value), ms: performance.now() - started });
    return value;
  };

  const { kernel, built: kernelBuilt } = await timed(
    'kernel',
    () => ensureLabKernel(options.log ? { log: options.log } : {}),
    (k) => `${k.kernel.package} ${k.kernel.version}${k.built ? ' (fetched)' : ' (cached)'}`,
  );
  const busyboxPath = options.busyboxPath ?? findOnPath('busybox') ?? '/bin/busybox';
  const busybox = await timed('busybox', () => readStaticBusybox(busyboxPath), () => busyboxPath);

  const busyboxHash = createHash('sha256').update(busybox).digest('hex');
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        recipe: LINUX_GUEST_RECIPE_VERSION,
        kernel: `${kernel.package}_${kernel.version}`,
        busybox: busyboxHash,
        modules: LINUX_GUEST_MODULE_ROOTS,
        // The script's text for a placeholder module list: edits to the script change the key.
        init: linuxGuestInitScript(['MODULES']),
      }),
    )
    .digest('hex')
    .slice(0, 16);
  const parent = options.cacheDir ?? linuxGuestCacheDir();
  const dir = join(parent, key);

  const cached = await timed('cache', () => readGuestManifest(dir), (m) => (m ? `hit ${dir}` : `miss ${key}`));
  if (cached !== undefined) return guestAt(dir, key, kernel, cached, kernelBuilt);

  const modules = await timed(
    'modules',
    () => kernelModuleSource(kernel).closure(LINUX_GUEST_MODULE_ROOTS),
    (ms) => ms.map((m) => m.name).join(' '),
  );
  const applets = await busyboxApplets(busyboxPath);
  const initrd = await timed(
    'initramfs',
    () => buildLinuxGuestInitramfs({ busybox, applets, modules }),
    (bytes) => `${(bytes.length / 1048576).toFixed(1)} MiB, ${applets.length} applets`,
  );
  const names = modules.map((m) => m.name);
  await timed(
    'publish',
    () =>
      publishDir(parent, key, async (tmp) => {
        await linkOrCopy(kernel.vmlinux, join(tmp, 'vmlinux'));
        await writeFile(join(tmp, 'initrd.cpio'), initrd);
        const manifest: GuestManifest = {
          kernelPackage: kernel.package,
          kernelVersion: kernel.version,
          release: kernel.release,
          busyboxSha256: busyboxHash,
          modules: names,
        };
        await writeFile(join(tmp, 'guest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      }),
    () => dir,
  );
  return guestAt(dir, key, kernel, names, true);
}

interface GuestManifest {
  readonly kernelPackage: string;
  readonly kernelVersion: string;
  readonly release: string;
  readonly busyboxSha256: string;
  readonly modules: readonly string[];
}

function guestAt(dir: string, key: string, kernel: LabKernel, modules: readonly string[], built: boolean): LinuxGuest {
  return {
    kernel: join(dir, 'vmlinux'),
    initrd: join(dir, 'initrd.cpio'),
    release: kernel.release,
    kernelPackage: kernel.package,
    kernelVersion: kernel.version,
    modules,
    key,
    dir,
    built,
  };
}

/** The module list of a finished guest, or undefined when there is none (or it is damaged). */
function readGuestManifest(dir: string): readonly string[] | undefined {
  try {
    if (!existsSync(join(dir, 'vmlinux')) || !existsSync(join(dir, 'initrd.cpio'))) return undefined;
    const parsed: unknown = JSON.parse(readFileSync(join(dir, 'guest.json'), 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || !('modules' in parsed)) return undefined;
    const modules = parsed.modules;
    return Array.isArray(modules) && modules.every((m): m is string => typeof m === 'string') ? modules : undefined;
  } catch {
    return undefined;
  }
}

async function readStaticBusybox(path: string): Promise<Buffer> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new LinuxGuestBuildError(`${path} not found: install the Debian package busybox-static`);
  }
  // A dynamically linked busybox would find no libc in the initramfs and /init would not start.
  if (!isElf64X86(bytes) || elfHasInterpreter(bytes)) {
    throw new LinuxGuestBuildError(`${path} is not a static x86-64 executable: install busybox-static, not busybox`);
  }
  return bytes;
}

async function busyboxApplets(path: string): Promise<string[]> {
  const { stdout } = await runTool('busybox', ['--list'], { executable: path });
  return stdout
    .toString('utf8')
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9_.[-]+$/.test(s))
    .sort();
}

/** A hard link saves 60 MB per guest; a different filesystem (EXDEV) gets a copy instead. */
async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV' && (err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    await copyFile(from, to);
  }
}

// The default Linux guest's initramfs as a newc archive, from inputs that are already in memory.
// Pure, so the same inputs give the same bytes: entries are sorted by path (a parent's path is
// a prefix of its children's and sorts first, which the kernel needs) and lab/cpio.ts writes
// owner root and mtime 0 for every entry.
import { buildCpio, type CpioEntry } from '../../lab/cpio.ts';
import { GUEST_MODULE_DIR, linuxGuestInitScript } from './init-script.ts';

export interface LinuxGuestInitramfsInputs {
  /** A static busybox binary. */
  readonly busybox: Uint8Array;
  /** Its applets (`busybox --list`), each linked as /bin/<applet>. */
  readonly applets: readonly string[];
  /** Modules in load order, uncompressed. */
  readonly modules: ReadonlyArray<{ readonly name: string; readonly data: Uint8Array }>;
}

export function buildLinuxGuestInitramfs(inputs: LinuxGuestInitramfsInputs): Buffer {
  const moduleDir = GUEST_MODULE_DIR.slice(1);
  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'proc', 'sys', 'tmp', 'lib', moduleDir].map((path): CpioEntry => ({ kind: 'dir', path })),
    // The kernel opens /dev/console for init's stdio before /init can mount devtmpfs.
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { kind: 'file', path: 'bin/busybox', data: inputs.busybox, mode: 0o755 },
    // The kernel runs /sbin/poweroff and /sbin/reboot itself when Xen's toolstack asks through
    // control/shutdown (orderly_poweroff): without them `xlts shutdown` would do nothing.
    { kind: 'symlink', path: 'sbin', target: 'bin' },
    ...[...new Set(inputs.applets)]
      .filter((applet) => applet !== 'busybox')
      .map((applet): CpioEntry => ({ kind: 'symlink', path: `bin/${applet}`, target: 'busybox' })),
    ...inputs.modules.map(
      (m): CpioEntry => ({ kind: 'file', path: `${moduleDir}/${m.name}.ko`, data: m.data, mode: 0o644 }),
    ),
    {
      kind: 'file',
      path: 'init',
      data: Buffer.from(linuxGuestInitScript(inputs.modules.map((m) => m.name))),
      mode: 0o755,
    },
  ];
  // Code-unit order, not localeCompare: the order must not depend on the builder's locale.
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return buildCpio(entries);
}

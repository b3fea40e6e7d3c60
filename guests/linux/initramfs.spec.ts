import { describe, expect, it } from 'vitest';
import { linuxGuestInitScript, LINUX_GUEST_READY_MARKER } from './init-script.ts';
import { buildLinuxGuestInitramfs } from './initramfs.ts';

/** Entry names of a newc archive, in order. */
function cpioNames(archive: Buffer): string[] {
  const names: string[] = [];
  let at = 0;
  const align = (n: number): number => (n + 3) & ~3;
  for (;;) {
    const field = (i: number): number => parseInt(archive.toString('ascii', at + 6 + i * 8, at + 14 + i * 8), 16);
    const fileSize = field(6);
    const nameSize = field(11);
    const name = archive.toString('utf8', at + 110, at + 110 + nameSize - 1);
    if (name === 'TRAILER!!!') return names;
    names.push(name);
    at = align(align(at + 110 + nameSize) + fileSize);
  }
}

const inputs = {
  busybox: Buffer.from('not really busybox'),
  applets: ['sh', 'mount', 'insmod', 'busybox', 'sh'],
  modules: [
    { name: 'xen_blkfront', data: Buffer.from('ko-1') },
    { name: 'xen_netfront', data: Buffer.from('ko-2') },
  ],
};

describe('default Linux guest initramfs', () => {
  it('is byte-for-byte reproducible and independent of the applet list order', () => {
    const a = buildLinuxGuestInitramfs(inputs);
    const b = buildLinuxGuestInitramfs({ ...inputs, applets: [...inputs.applets].reverse() });
    expect(b.equals(a)).toBe(true);
  });

  it('holds sorted entries, parents first, one link per applet', () => {
    const names = cpioNames(buildLinuxGuestInitramfs(inputs));
    expect(names).toEqual([...names].sort());
    expect(names).toEqual([
      'bin', 'bin/busybox', 'bin/insmod', 'bin/mount', 'bin/sh', 'dev', 'dev/console', 'init',
      'lib', 'lib/modules', 'lib/modules/xen_blkfront.ko', 'lib/modules/xen_netfront.ko', 'proc', 'sbin', 'sys', 'tmp',
    ]);
  });

  it('has an /init that loads the modules in order, says ready, and powers off after the shell', () => {
    const init = linuxGuestInitScript(['xen_blkfront', 'xen_netfront']);
    expect(init).toMatch(/for m in xen_blkfront xen_netfront; do/);
    expect(init).toContain(`echo "${LINUX_GUEST_READY_MARKER} $(uname -r)"`);
    expect(init.indexOf('setsid cttyhack sh')).toBeLessThan(init.lastIndexOf('poweroff -f'));
    // poweroff/reboot without -f signal PID 1: the script traps them before starting the shell.
    expect(init.indexOf("trap 'sync; poweroff -f' USR2")).toBeLessThan(init.indexOf('setsid cttyhack sh'));
    expect(init).toContain("trap 'sync; reboot -f' TERM");
    expect(() => linuxGuestInitScript(['x; reboot'])).toThrow(RangeError);
  });
});

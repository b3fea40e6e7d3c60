// The /init of the default Linux guest. Kept apart from the archive writer so the text is easy to
// review and its hash is part of the guest's cache key (guests/linux/build.ts).

/** Printed on the console once /init is about to start the shell: the guest is usable. */
export const LINUX_GUEST_READY_MARKER = 'XLTS-GUEST-READY';

/**
 * How the guest's shell prompt starts (`xlts:/# `): a host typing into the console waits for it,
 * because the tty echoes whatever arrives before the shell owns it, doubling every command.
 */
export const LINUX_GUEST_PROMPT_PREFIX = 'xlts:';

/** Where /init finds the modules it loads (the files are `<name>.ko`, uncompressed). */
export const GUEST_MODULE_DIR = '/lib/modules';

/**
 * The init script for `modules` in load order. Each step that can fail says so on the console
 * and carries on, because a guest with a shell and no PV disk is still worth having: the
 * missing piece is then visible in the output instead of a kernel panic on init's exit.
 */
export function linuxGuestInitScript(modules: readonly string[]): string {
  for (const name of modules) {
    // Names go into the script unquoted; module names are identifiers, anything else is a bug.
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new RangeError(`not a module name: ${JSON.stringify(name)}`);
  }
  return `#!/bin/sh
# /init of the xlts default Linux guest, written by guests/linux/init-script.ts.
export PATH=/bin
warn() { echo "xlts-init: WARNING: $*"; }
mount -t proc proc /proc || warn 'mounting /proc failed'
mount -t sysfs sysfs /sys || warn 'mounting /sys failed'
# devtmpfs gives /dev/hvc0 and the block devices a PV disk would add.
mount -t devtmpfs devtmpfs /dev || warn 'mounting devtmpfs on /dev failed'
for m in ${modules.join(' ')}; do
  insmod ${GUEST_MODULE_DIR}/$m.ko || warn "insmod $m failed; continuing without it"
done
echo "${LINUX_GUEST_READY_MARKER} $(uname -r)"
export PS1='${LINUX_GUEST_PROMPT_PREFIX}\\w\\$ '
# /init is PID 1, so busybox's poweroff, reboot and halt (without -f) signal it with USR2, TERM
# and USR1: act on them as an init would, sync and ask the kernel (which tells the hypervisor:
# ACPI S5 for poweroff, the reset register for reboot).
trap 'sync; poweroff -f' USR2
trap 'sync; reboot -f' TERM
trap 'sync; halt -f' USR1
# A session with the console as its controlling terminal, so ^C and job control work for a
# person at the console; the shell reads whatever arrives on hvc0. It runs in the background
# (with the console named explicitly: a background job's stdin is otherwise /dev/null) so that
# this script can take the signals above while it waits.
setsid cttyhack sh </dev/console >/dev/console 2>&1 &
shell=$!
# A trapped signal ends \`wait\` early; keep waiting until the shell itself is gone.
while kill -0 $shell 2>/dev/null; do wait $shell; done
echo 'xlts-init: the shell exited; powering off'
poweroff -f
`;
}

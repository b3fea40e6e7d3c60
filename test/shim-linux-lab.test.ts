// Debian's stock kernel as a Xen PVH DomU under the shim, in the KVM lab (one boot): the default
// guest of `xlts guest build` (guests/linux/) boots to its busybox shell on hvc0, runs commands
// that `xlts run` got on its stdin (the PV console's `in` ring), and `poweroff -f` must reach the
// shim as ACPI S5 and make `xlts run` exit 0. Skips, loudly, only when QEMU or busybox is absent.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ensureLinuxGuest } from '../guests/linux/build.ts';
import { bootLinuxGuest } from '../guests/linux/boot.ts';
import { QEMU_BINARY } from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';
import { XLTS_RUN_EXIT } from '../hypervisor/shim/exit-status.ts';

const BUSYBOX = '/bin/busybox';
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab needs an x86-64 Linux host; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : !fs.existsSync(BUSYBOX)
        ? `${BUSYBOX} is missing (Debian package busybox-static; run npm run setup)`
        : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/shim-linux-lab.test.ts SKIPPED: ${skipReason} ***\n`);

// Each answer is computed in the guest, so the console's echo of the typed line cannot match it.
const COMMANDS = [
  'echo "XLTS-GOT: $((6*7))"',
  'echo "UNAME: $(uname -a)"',
  'echo "HYP: $(cat /sys/hypervisor/type 2>/dev/null || echo none)"',
  'poweroff -f',
  '',
].join('\n');

describe.skipIf(skipReason !== undefined)('Debian\'s stock kernel under the shim in the lab', () => {
  it('boots the default guest to a shell on hvc0, runs stdin commands, and powers off with status 0', async () => {
    const guest = await ensureLinuxGuest();
    const r = await bootLinuxGuest({ guest, commands: COMMANDS, memoryMiB: 512, guestTimeoutSec: 300 });
    const out = r.console;
    const why = `stdout tail:\n${out.slice(-3000)}\nstderr tail:\n${r.stderr.slice(-3000)}`;
    expect(out, why).toMatch(/XLTS-GUEST-READY 6\.1\./);
    expect(out, why).toContain('XLTS-GOT: 42');
    // Debian's uname -v reads "#1 SMP PREEMPT_DYNAMIC Debian <package version> (<date>)".
    expect(out, why).toMatch(new RegExp(`UNAME: Linux \\S+ ${guest.release.replace(/\./g, '\\.')} .*Debian ${guest.kernelVersion.replace(/[.+]/g, '\\$&')}`));
    expect(out, why).toContain('HYP: xen');
    expect(r.status, why).toBe(XLTS_RUN_EXIT.poweroff);
    expect(r.stderr).toMatch(/guest shut down: poweroff \(vcpu0: ACPI S5/);
  }, 600_000);
});

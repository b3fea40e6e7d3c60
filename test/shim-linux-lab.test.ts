// Debian's stock kernel as a Xen PVH DomU under the shim, in the KVM lab: the default guest of
// `xlts guest build` (guests/linux/). One boot with two vCPUs serves most checks: the shell on
// hvc0 runs commands `xlts run` got on its stdin (the PV console's `in` ring), Linux sees Xen
// (sysfs, dmesg: PVH boot, our version, no Xen warnings), both CPUs are online (IPIs over event
// channels), its clock shows the host's time, and a plain `poweroff` (busybox signals /init)
// reaches the shim as ACPI S5, status 0. Two short boots more: `reboot` ends with status 4 and a
// sysrq crash with 5. Skips, loudly, only when QEMU or busybox is absent.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ensureLinuxGuest, type LinuxGuest } from '../guests/linux/build.ts';
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
  'echo "NPROC: $(nproc)"',
  'echo "CONSOLE: $(cat /sys/class/tty/console/active)"',
  'echo "PVH: $(dmesg | grep -c "Booting kernel on Xen PVH")"',
  'echo "XENVER: $(dmesg | grep -o "Xen version: [0-9.a-z-]*")"',
  // Lines from Xen code that warn or fail: each is printed, so a failure names it.
  'dmesg | grep -i xen | grep -iE "warn|bug|fail|error" | sed "s/^/XENWARN: /"',
  'echo "XENWARNS: $(dmesg | grep -i xen | grep -ciE "warn|bug|fail|error")"',
  'echo "CLOCK: $(date +%s)"',
  'poweroff',
  '',
].join('\n');

let guest: LinuxGuest;
const why = (r: { console: string; stderr: string }): string => `stdout tail:\n${r.console.slice(-4000)}\nstderr tail:\n${r.stderr.slice(-3000)}`;

describe.skipIf(skipReason !== undefined)('Debian\'s stock kernel under the shim in the lab', () => {
  it('boots with 2 vCPUs to a shell on hvc0, sees Xen, keeps the host\'s time, and powers off with status 0', async () => {
    guest = await ensureLinuxGuest();
    // The guest's clock must fall between the host's clock when the guest said it was ready (the
    // commands are typed after that) and when its CLOCK line arrived, give or take 5 s for the
    // RTC's whole-second reads: a bracket, so a slow lab under load cannot fail a correct clock.
    let readyAt = 0;
    let clockSeenAt = 0;
    const r = await bootLinuxGuest({
      guest,
      commands: COMMANDS,
      memoryMiB: 512,
      vcpus: 2,
      guestTimeoutSec: 300,
      // When the CLOCK line arrives: the guest's `date` is compared with the host's clock then.
      console: new (await import('node:stream')).Writable({
        write(chunk: Buffer, _enc, done) {
          const text = chunk.toString('latin1');
          if (readyAt === 0 && text.includes('XLTS-GUEST-READY')) readyAt = Date.now() / 1000;
          if (clockSeenAt === 0 && /CLOCK: \d+/.test(text)) clockSeenAt = Date.now() / 1000;
          done();
        },
      }),
    });
    const out = r.console;
    expect(out, why(r)).toMatch(/XLTS-GUEST-READY 6\.1\./);
    expect(out, why(r)).toContain('XLTS-GOT: 42');
    // Debian's uname -v reads "#1 SMP PREEMPT_DYNAMIC Debian <package version> (<date>)".
    expect(out, why(r)).toMatch(new RegExp(`UNAME: Linux \\S+ ${guest.release.replace(/\./g, '\\.')} .*Debian ${guest.kernelVersion.replace(/[.+]/g, '\\$&')}`));
    expect(out, why(r)).toContain('HYP: xen');
    expect(out, why(r)).toContain('NPROC: 2');
    expect(out, why(r)).toContain('CONSOLE: hvc0');
    expect(out, why(r)).toContain('PVH: 1');
    expect(out, why(r)).toMatch(/XENVER: Xen version: 4\.17\.0-xlts/);
    expect(out, why(r)).toContain('XENWARNS: 0');
    const clock = /CLOCK: (\d+)/.exec(out);
    expect(clock, why(r)).not.toBeNull();
    // The RTC gave the boot time and acpi_pm kept it.
    const guestNow = Number(clock![1]);
    expect(readyAt, why(r)).toBeGreaterThan(0);
    expect(guestNow, `guest clock vs host bracket [${readyAt}, ${clockSeenAt}]\n${why(r)}`).toBeGreaterThanOrEqual(Math.floor(readyAt) - 5);
    expect(guestNow, `guest clock vs host bracket [${readyAt}, ${clockSeenAt}]\n${why(r)}`).toBeLessThanOrEqual(Math.ceil(clockSeenAt) + 5);
    expect(r.status, why(r)).toBe(XLTS_RUN_EXIT.poweroff);
    expect(r.stderr).toMatch(/guest shut down: poweroff \(vcpu\d: ACPI S5/);
  }, 600_000);

  it('ends with the reboot status on `reboot` and the crash status on a sysrq crash', async () => {
    guest ??= await ensureLinuxGuest();
    const reboot = await bootLinuxGuest({ guest, commands: 'reboot\n', guestTimeoutSec: 300 });
    expect(reboot.status, why(reboot)).toBe(XLTS_RUN_EXIT.reboot);
    expect(reboot.stderr).toMatch(/guest shut down: reboot/);
    const crash = await bootLinuxGuest({ guest, commands: 'echo c > /proc/sysrq-trigger\n', guestTimeoutSec: 300 });
    expect(crash.status, why(crash)).toBe(XLTS_RUN_EXIT.crash);
    expect(crash.console, why(crash)).toMatch(/Kernel panic - not syncing: sysrq triggered crash/);
  }, 600_000);
});

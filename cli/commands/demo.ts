// `xlts demo`, the README's main job: build the default Linux guest if it is not cached, boot it
// as a Xen PVH DomU under the shim (through the KVM lab on hosts whose /dev/kvm cannot run Linux),
// type a few commands into its shell over the PV console, stream the console, and end with how
// long each step took. Exits 0 only when the guest powered off cleanly. The shared-ring
// benchmark that used to be the demo is `xlts bench ring`.
import type { Command } from 'commander';
import { formatMs, stderrStepReporter } from './guest.ts';

/** What the demo types into the guest's shell, one command per line. */
export const DEMO_COMMANDS = [
  'uname -a',
  "cat /sys/hypervisor/type 2>/dev/null || echo 'no /sys/hypervisor'",
  'dmesg | grep -i xen | head',
  'cat /proc/cmdline',
  'poweroff -f',
  '',
].join('\n');

export const DEMO_CMDLINE = 'console=hvc0 quiet panic=-1 xlts.demo=1';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the main job: build the default Linux guest, boot it under the Xen shim (in the KVM lab when /dev/kvm cannot run Linux), run a few commands on hvc0, power it off, print timings',
    )
    .action(async () => {
      const { ensureLinuxGuest } = await import('../../guests/linux/build.ts');
      const { bootLinuxGuest } = await import('../../guests/linux/boot.ts');
      const { detectKvmHost } = await import('../../lab/index.ts');
      const { XLTS_RUN_EXIT } = await import('../../hypervisor/shim/exit-status.ts');
      const started = performance.now();

      process.stderr.write('demo: 1/2 the default guest (xlts guest build)\n');
      const buildStarted = performance.now();
      const guest = await ensureLinuxGuest({
        onStep: stderrStepReporter('  guest build:'),
        log: (message) => process.stderr.write(`  guest build:   ${message}\n`),
      });
      const buildMs = performance.now() - buildStarted;

      const host = detectKvmHost();
      const where = host.canRunLinux ? 'host' : 'lab';
      process.stderr.write(
        where === 'lab'
          ? `demo: 2/2 booting ${guest.release} in the KVM lab: this host's /dev/kvm (${host.provider}) cannot run Linux (lab/README.md)\n`
          : `demo: 2/2 booting ${guest.release} on this host's /dev/kvm\n`,
      );
      process.stderr.write('demo: guest console follows (commands are typed at the first shell prompt)\n\n');
      const r = await bootLinuxGuest({
        guest,
        commands: DEMO_COMMANDS,
        cmdline: DEMO_CMDLINE,
        memoryMiB: 256,
        console: process.stdout,
        stderr: process.stderr,
        where,
        log: (message) => process.stderr.write(`  lab image: ${message}\n`),
      });
      const totalMs = performance.now() - started;

      const statusName = Object.entries(XLTS_RUN_EXIT).find(([, code]) => code === r.status)?.[0] ?? 'unknown';
      const rows: Array<[string, string]> = [
        ['guest build', `${formatMs(buildMs)}${guest.built ? '' : ' (cached)'}`],
        ...(where === 'lab' ? [['lab boot', formatMs(r.timings.labBootMs)] as [string, string]] : []),
        ['guest boot to shell', r.timings.guestBootMs === undefined ? 'never reached' : formatMs(r.timings.guestBootMs)],
        ['total', formatMs(totalMs)],
        ['xlts run exit status', `${r.status} (${statusName})`],
      ];
      process.stdout.write(`\n--- xlts demo summary ---\n${rows.map(([k, v]) => `${k.padEnd(21)} ${v}`).join('\n')}\n`);
      if (r.status === XLTS_RUN_EXIT.poweroff && r.ready) {
        process.stdout.write('the guest booted to its shell, ran the commands and powered off cleanly\n');
        return;
      }
      process.stderr.write(
        r.ready
          ? `xlts demo: FAILED: the guest reached its shell but did not power off cleanly: xlts run exited ${r.status} (${statusName})\n`
          : `xlts demo: FAILED: the guest never reached its shell; xlts run exited ${r.status} (${statusName}); see the console above\n`,
      );
      process.exitCode = 1;
    });
}

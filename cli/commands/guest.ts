// `xlts guest build [--json]`: build the default Linux guest (guests/linux/build.ts) into the
// cache, or find it there. Progress goes to stderr so that stdout stays machine-readable: with
// --json the last stdout line is {"kernel": ..., "initrd": ...}.
import type { Command } from 'commander';

/** One line per finished build step on stderr, with how long it took. */
export function stderrStepReporter(prefix: string): (step: { step: string; detail: string; ms: number }) => void {
  return ({ step, detail, ms }) => {
    process.stderr.write(`${prefix} ${step.padEnd(9)} ${formatMs(ms).padStart(8)}  ${detail}\n`);
  };
}

export function formatMs(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function registerGuest(program: Command): void {
  const guest = program.command('guest').description('guest images');
  guest
    .command('build')
    .description(
      'build the default Linux guest (Debian 6.1 kernel + busybox initramfs with xen-blkfront/netfront) into ${XLTS_CACHE_DIR:-~/.cache/xlts}/guests/linux/; instant when cached',
    )
    .option('--json', 'print {"kernel": ..., "initrd": ...} as the last stdout line')
    .action(async (opts: { json?: boolean }) => {
      const { ensureLinuxGuest } = await import('../../guests/linux/build.ts');
      const started = performance.now();
      const built = await ensureLinuxGuest({
        onStep: stderrStepReporter('guest build:'),
        log: (message) => process.stderr.write(`guest build:   ${message}\n`),
      });
      process.stderr.write(
        `guest build: ${built.built ? 'built' : 'cached'} in ${formatMs(performance.now() - started)}: ${built.dir}\n`,
      );
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ kernel: built.kernel, initrd: built.initrd })}\n`);
      } else {
        process.stdout.write(`kernel ${built.kernel}\ninitrd ${built.initrd}\n`);
      }
    });
}

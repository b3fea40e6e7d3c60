// `xlts run [--kernel FILE [--initrd FILE]] [--cmdline STR] [--memory MiB] [--vcpus N] [--timeout SEC]`:
// boot one Xen PVH guest on this host's /dev/kvm in the foreground, its console on stdin/stdout,
// and exit with the guest's fate. Without --kernel it boots the default Linux guest (built into
// the cache if missing, as `xlts guest build` does) with its default command line (the table in hypervisor/shim/exit-status.ts, also in --help).
// Shim messages (how the guest ended, rate-limited guest warnings) go to stderr, so stdout is
// the guest's console only.
import { InvalidArgumentError, type Command } from 'commander';
import { XLTS_RUN_EXIT, describeFate, exitStatusHelp } from '../../hypervisor/shim/exit-status.ts';

interface RunCliOptions {
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  memory?: number;
  vcpus?: number;
  timeout?: number;
  stats?: boolean;
}

function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return Number(value);
  };
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('--timeout must be a positive number of seconds');
  return n;
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('boot a Xen PVH guest (ELF vmlinux or bzImage with a PVH note) in the foreground; console on stdin/stdout')
    .option('--kernel <file>', 'the guest kernel (default: the default Linux guest of `xlts guest build`, with its initrd)')
    .option('--initrd <file>', 'initial ramdisk (first boot module)')
    .option('--cmdline <string>', 'kernel command line (Linux: console=hvc0)')
    .option('--memory <MiB>', 'guest memory in MiB (default 256)', positiveInt('--memory'))
    .option('--vcpus <n>', 'number of vCPUs (default 1)', positiveInt('--vcpus'))
    .option('--timeout <sec>', `stop the guest after this many seconds (exit ${XLTS_RUN_EXIT.timeout})`, positiveSeconds)
    .option('--stats', 'print exit counts (by kind, and the busiest I/O ports) to stderr when the guest ends')
    .addHelpText(
      'after',
      `\n${exitStatusHelp()}\n\nOn a host whose /dev/kvm cannot run Linux (kvm_pvm), run Linux kernels in the KVM lab:\n  npx xlts lab -- npx xlts run --kernel vmlinuz --cmdline console=hvc0`,
    )
    .action(async (opts: RunCliOptions) => {
      const { prepareGuest, runGuest } = await import('../../hypervisor/shim/shim.ts');
      const { ShimError, ShimInputError } = await import('../../hypervisor/shim/errors.ts');
      let status: number;
      try {
        if (opts.kernel === undefined && opts.initrd !== undefined) throw new ShimInputError('--initrd needs --kernel (without --kernel the default guest brings its own initrd)');
        const guest = opts.kernel === undefined ? await defaultGuest() : null;
        const cmdline = opts.cmdline ?? guest?.cmdline;
        const initrd = opts.initrd ?? guest?.initrd;
        const prepared = await prepareGuest({
          kernelPath: opts.kernel ?? guest?.kernel ?? '',
          ...(initrd !== undefined ? { initrdPath: initrd } : {}),
          ...(cmdline !== undefined ? { cmdline } : {}),
          ...(opts.memory !== undefined ? { memoryMiB: opts.memory } : {}),
          ...(opts.vcpus !== undefined ? { vcpus: opts.vcpus } : {}),
          ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
        });
        const stdin = process.stdin;
        const result = await runGuest(prepared, {
          output: (bytes) => process.stdout.write(bytes),
          input: stdin,
        });
        // Reading stdin keeps the event loop alive; the guest is gone, so let go of it.
        stdin.destroy();
        process.stderr.write(`xlts run: ${describeFate(result.fate)}\n`);
        if (result.fate.kind === 'shim-error' && result.fate.error.cause instanceof Error) process.stderr.write(`xlts run:   cause: ${result.fate.error.cause.message}\n`);
        if (opts.stats) process.stderr.write(formatRunStats(result));
        status = result.status;
      } catch (err) {
        // Everything the shim can fail with has a status in the table; 1 stays Node's own.
        const shim = err instanceof ShimError;
        process.stderr.write(`xlts run: ${shim ? '' : 'shim error: '}${err instanceof Error ? err.message : String(err)}\n`);
        status = shim ? err.exitStatus : XLTS_RUN_EXIT.shimError;
      }
      process.exitCode = status;
    });
}

function formatRunStats(r: { elapsedMs: number; hypercalls: number; exits: ReadonlyMap<string, number>; ports: ReadonlyMap<string, number> }): string {
  const top = (m: ReadonlyMap<string, number>, n: number): string =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${k}=${v}`).join(' ');
  const total = [...r.exits.values()].reduce((a, b) => a + b, 0);
  return `xlts run: stats: ${(r.elapsedMs / 1000).toFixed(1)} s, ${total} exits (${top(r.exits, 12)}), ${r.hypercalls} hypercalls\n` + `xlts run: stats: busiest ports: ${top(r.ports, 12)}\n`;
}

/** The default Linux guest, built if missing; its build steps are reported on stderr. */
async function defaultGuest(): Promise<{ kernel: string; initrd: string; cmdline: string }> {
  const { ensureLinuxGuest } = await import('../../guests/linux/build.ts');
  const { DEFAULT_GUEST_CMDLINE } = await import('../../guests/linux/boot.ts');
  const { ShimInputError } = await import('../../hypervisor/shim/errors.ts');
  try {
    const g = await ensureLinuxGuest({ log: (m) => process.stderr.write(`xlts run: guest build: ${m}\n`) });
    return { kernel: g.kernel, initrd: g.initrd, cmdline: DEFAULT_GUEST_CMDLINE };
  } catch (err) {
    throw new ShimInputError(
      `no --kernel given and the default guest could not be built (${err instanceof Error ? err.message : String(err)}); ` +
        'run `npx xlts guest build` on the host first (the KVM lab sees the host\'s cache read-only)',
      { cause: err },
    );
  }
}

// `xlts lab [--rw DIR ...] [--memory MiB] [--cpus N] [--timeout SEC] -- <command...>`: run a
// command inside the KVM lab (lab/README.md) with stdio and exit status passed through, and
// `xlts lab --check` to see whether the lab works and what it costs.
//
// Exit status: the command's own; 124 when --timeout expired; 130/143 when interrupted by
// SIGINT/SIGTERM; 125 when the lab itself failed (no qemu, image build, VM died), as
// `docker run` and `timeout` use those numbers.
import { CommanderError, InvalidArgumentError, type Command } from 'commander';

const EXIT_TIMEOUT = 124;
const EXIT_LAB_FAILED = 125;

interface LabCliOptions {
  rw: string[];
  memory?: number;
  cpus?: number;
  timeout?: number;
  check?: boolean;
  verbose?: boolean;
}

function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^[0-9]+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError(`${what} must be a positive integer`);
    return Number(value);
  };
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('--timeout must be a positive number of seconds');
  return n;
}

export function registerLab(program: Command): void {
  program
    .command('lab')
    .description('run a command in the KVM lab: an L1 VM under QEMU TCG with real KVM (kvm_amd), the host root read-only')
    .argument('[command...]', 'the command to run, after --')
    .option('--rw <dir>', 'share a host directory writable at the same path (repeatable)', (dir: string, all: string[]) => [...all, dir], [])
    .option('--memory <MiB>', 'memory of the lab VM (default 4096)', positiveInt('--memory'))
    .option('--cpus <n>', 'vCPUs of the lab VM (default 2)', positiveInt('--cpus'))
    .option('--timeout <sec>', 'kill the VM after this many seconds (exit 124)', positiveSeconds)
    .option('--check', 'boot the lab, probe /dev/kvm and node inside, report timings')
    .option('-v, --verbose', 'show image builds and the lab console on stderr')
    .action(async (command: string[], opts: LabCliOptions, cmd: Command) => {
      const lab = await import('../../lab/index.ts');
      const controller = new AbortController();
      const onSignal = (signal: NodeJS.Signals): void => controller.abort(signal);
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      const verbose = opts.verbose === true;
      // Image builds take a minute and say so on an interactive stderr; in scripts only with -v,
      // so a command's stderr stays the command's.
      const log = verbose || process.stderr.isTTY ? (m: string) => process.stderr.write(`xlts lab: ${m}\n`) : undefined;
      try {
        if (opts.check) {
          const report = await lab.checkLab({
            ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
            ...(log !== undefined ? { log } : {}),
            signal: controller.signal,
          });
          process.stdout.write(lab.formatLabCheck(report));
          process.exitCode = report.ok ? 0 : 1;
          return;
        }
        if (command.length === 0) cmd.error('xlts lab: no command given: xlts lab [options] -- <command...>');
        const result = await lab.runInLab({
          argv: command,
          rw: opts.rw,
          stdin: process.stdin,
          stdout: process.stdout,
          stderr: process.stderr,
          signal: controller.signal,
          trace: verbose,
          ...(verbose ? { onConsole: (b: Buffer) => process.stderr.write(b) } : {}),
          ...(opts.memory !== undefined ? { memoryMiB: opts.memory } : {}),
          ...(opts.cpus !== undefined ? { cpus: opts.cpus } : {}),
          ...(opts.timeout !== undefined ? { timeoutMs: opts.timeout * 1000 } : {}),
          ...(log !== undefined ? { log } : {}),
        });
        process.exitCode = result.status;
      } catch (err) {
        if (err instanceof CommanderError) throw err;
        process.stderr.write(`xlts lab: ${err instanceof Error ? err.message : String(err)}\n`);
        if (err instanceof lab.LabTimeoutError) process.exitCode = EXIT_TIMEOUT;
        else if (err instanceof lab.LabAbortedError) process.exitCode = err.reason === 'SIGTERM' ? 143 : 130;
        else process.exitCode = EXIT_LAB_FAILED;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        // Stop reading our stdin, so a terminal or an endless pipe does not keep us alive.
        process.stdin.pause();
      }
    });
}

// Linux boot time: our shim (`xlts run`, Xen PVH) against QEMU+KVM booting the same kernel and
// initrd, side by side in one lab run (the lab's /dev/kvm is real KVM), runs interleaved, median
// of several. Each run is timed from process spawn to:
//   first byte   the first console output (ours: the guest's first hypercall/ring write; QEMU:
//                its firmware's or kernel's first serial byte)
//   /init        the default guest's /init saying it is ready (guests/linux/init-script.ts)
//   prompt       the shell's prompt
// then the guest is powered off (`poweroff -f`). Both start cold processes over the lab's 9p root:
// node + tsx for us, QEMU + firmware for QEMU; "first byte -> prompt" is the guest's own part.
//
//   npx xlts bench boot [--runs N]   |   npx tsx bench/linux-boot-bench.ts [--runs N] [--inside]
import { spawn } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureLinuxGuest } from '../guests/linux/build.ts';
import { DEFAULT_GUEST_CMDLINE } from '../guests/linux/boot.ts';
import { LINUX_GUEST_PROMPT_PREFIX, LINUX_GUEST_READY_MARKER } from '../guests/linux/init-script.ts';
import { inKvmLab } from '../lab/kvm-host.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const XLTS_BIN = path.join(ROOT, 'bin/xlts.js');
const RUN_TIMEOUT_MS = 240_000;

export interface BootSample {
  readonly firstByteMs: number;
  readonly initMs: number;
  readonly promptMs: number;
}

export interface LinuxBootBenchOptions {
  readonly out: NodeJS.WritableStream;
  readonly runs?: number;
}

type Engine = 'xlts' | 'qemu';

function command(engine: Engine, kernel: string, initrd: string): [string, string[]] {
  if (engine === 'xlts') return [process.execPath, [XLTS_BIN, 'run', '--kernel', kernel, '--initrd', initrd, '--cmdline', DEFAULT_GUEST_CMDLINE, '--timeout', '200']];
  return [
    'qemu-system-x86_64',
    ['-accel', 'kvm', '-cpu', 'host', '-m', '256', '-smp', '1', '-nographic', '-no-reboot', '-kernel', kernel, '-initrd', initrd, '-append', DEFAULT_GUEST_CMDLINE.replace('console=hvc0', 'console=ttyS0')],
  ];
}

/** One boot: spawn, watch the console for the markers, power off at the prompt. */
function bootOnce(engine: Engine, kernel: string, initrd: string): Promise<BootSample> {
  return new Promise((resolve, reject) => {
    const [cmd, args] = command(engine, kernel, initrd);
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let firstByte = 0;
    let init = 0;
    let prompt = 0;
    let tail = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${engine}: no prompt within ${RUN_TIMEOUT_MS / 1000} s; console tail ${JSON.stringify(tail)}`));
    }, RUN_TIMEOUT_MS);
    child.stdout.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (firstByte === 0) firstByte = now;
      tail = (tail + chunk.toString('latin1')).slice(-400);
      if (init === 0 && tail.includes(LINUX_GUEST_READY_MARKER)) init = now;
      if (init !== 0 && prompt === 0 && tail.slice(tail.indexOf(LINUX_GUEST_READY_MARKER)).includes(LINUX_GUEST_PROMPT_PREFIX)) {
        prompt = now;
        child.stdin.write('poweroff -f\n');
        // QEMU without ACPI power-off support would stay; the figures are taken already.
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }
    });
    child.stderr.on('data', () => undefined);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('exit', () => {
      clearTimeout(timer);
      if (prompt === 0) reject(new Error(`${engine}: exited before its prompt; console tail ${JSON.stringify(tail)}`));
      else resolve({ firstByteMs: firstByte - t0, initMs: init - t0, promptMs: prompt - t0 });
    });
  });
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sec = (ms: number): string => (ms / 1000).toFixed(1).padStart(6);

/** The runs and the table, where /dev/kvm is real KVM (the lab here). */
export async function linuxBootBenchTable(runs: number, log: (line: string) => void = () => undefined): Promise<string> {
  const guest = await ensureLinuxGuest();
  const samples: Record<Engine, BootSample[]> = { xlts: [], qemu: [] };
  for (let i = 0; i < runs; i++) {
    for (const engine of ['xlts', 'qemu'] as const) {
      const s = await bootOnce(engine, guest.kernel, guest.initrd);
      samples[engine].push(s);
      log(`boot bench: run ${i + 1}/${runs} ${engine}: first byte ${sec(s.firstByteMs)} s, /init ${sec(s.initMs)} s, prompt ${sec(s.promptMs)} s`);
    }
  }
  const row = (engine: Engine, label: string): string => {
    const s = samples[engine];
    const f = median(s.map((x) => x.firstByteMs));
    const i = median(s.map((x) => x.initMs));
    const p = median(s.map((x) => x.promptMs));
    const guestPart = median(s.map((x) => x.promptMs - x.firstByteMs));
    return `${label.padEnd(34)}${sec(f)} ${sec(i)} ${sec(p)}   ${sec(guestPart)}`;
  };
  const ratio = (pick: (x: BootSample) => number): string => (median(samples.xlts.map(pick)) / median(samples.qemu.map(pick))).toFixed(2);
  return [
    `Linux boot, default guest (${path.basename(path.dirname(guest.kernel))}), median of ${runs} interleaved runs, seconds`,
    `host ${os.hostname()} (${inKvmLab() ? 'KVM lab: kvm_amd nested under QEMU TCG' : 'this machine'}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`,
    `${''.padEnd(34)}  first  /init  prompt   first->prompt`,
    row('xlts', 'xlts run (Xen PVH on our shim)'),
    row('qemu', 'QEMU+KVM (same ELF, PVH entry)'),
    `${'ratio xlts/QEMU'.padEnd(34)}${ratio((x) => x.firstByteMs).padStart(6)} ${ratio((x) => x.initMs).padStart(6)} ${ratio((x) => x.promptMs).padStart(6)}   ${ratio((x) => x.promptMs - x.firstByteMs).padStart(6)}`,
    '',
  ].join('\n');
}

export async function runLinuxBootBench(options: LinuxBootBenchOptions & { readonly inside?: boolean }): Promise<void> {
  const runs = options.runs ?? 3;
  const log = (line: string): void => void process.stderr.write(`${line}\n`);
  if (options.inside || inKvmLab()) {
    options.out.write(await linuxBootBenchTable(runs, log));
    return;
  }
  // Built here: the lab sees the host's cache read-only.
  await ensureLinuxGuest();
  const lab = await import('../lab/index.ts');
  lab.requireQemu();
  const r = await lab.runInLab({
    argv: [process.execPath, XLTS_BIN, 'bench', 'boot', '--inside', '--repeat', String(runs)],
    cwd: ROOT,
    timeoutMs: 1_800_000,
    stderr: process.stderr,
  });
  if (r.status !== 0) throw new Error(`the boot bench failed in the lab (status ${r.status}):\n${r.stdout.toString()}`);
  options.out.write(r.stdout.toString());
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const i = process.argv.indexOf('--runs');
  await runLinuxBootBench({ out: process.stdout, ...(i > 0 ? { runs: Number(process.argv[i + 1]) } : {}), inside: process.argv.includes('--inside') });
}

// Boots the default Linux guest under `xlts run`: inside the KVM lab (lab/) on hosts whose
// /dev/kvm cannot run Linux (one lab boot, one guest boot), else on this host. The shell's commands are written to
// `xlts run`'s stdin (the PV console's input ring) only once the guest's /init has printed its
// ready marker and the shell its first prompt: typed ahead, they would sit in the tty and be
// echoed once by the tty and once more by the shell's line editor.
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { PassThrough, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { runInLab, type LabTimings } from '../../lab/index.ts';
import type { LinuxGuest } from './build.ts';
import { LINUX_GUEST_PROMPT_PREFIX, LINUX_GUEST_READY_MARKER } from './init-script.ts';

/** Type anyway this long after the ready marker if no prompt was recognised (a changed PS1). */
const PROMPT_WAIT_MS = 10_000;

/** bin/xlts.js of this checkout: the lab shares the host's root filesystem at the same paths. */
const XLTS_BIN = fileURLToPath(new URL('../../bin/xlts.js', import.meta.url));

export const DEFAULT_GUEST_CMDLINE = 'console=hvc0 quiet panic=-1';

export interface LinuxGuestBootOptions {
  readonly guest: Pick<LinuxGuest, 'kernel' | 'initrd'>;
  /** Shell input, sent once the guest is ready; end it with `poweroff -f` (or `exit`). */
  readonly commands: string;
  readonly cmdline?: string;
  readonly memoryMiB?: number;
  /** `xlts run --vcpus` (default 1). */
  readonly vcpus?: number;
  /** `xlts run --timeout`, in seconds of guest life. */
  readonly guestTimeoutSec?: number;
  /** The guest's console as it arrives (it is also collected). */
  readonly console?: Writable;
  /** `xlts run`'s own messages and the lab's, as they arrive (also collected). */
  readonly stderr?: Writable;
  /** Progress lines of a cold lab image build. */
  readonly log?: (message: string) => void;
  /**
   * 'lab' (the default) boots through the KVM lab; 'host' runs `xlts run` here, for hosts whose
   * /dev/kvm can run Linux (detectKvmHost().canRunLinux).
   */
  readonly where?: 'lab' | 'host';
}

export interface LinuxGuestBootTimings {
  /** Lab image check plus QEMU start to the lab's command starting. */
  readonly labBootMs: number;
  /**
   * From the lab's command starting to the guest's ready marker: node and the shim starting in
   * the lab, then the guest kernel booting to /init's shell. Undefined if it never got there.
   */
  readonly guestBootMs: number | undefined;
  /** The whole call. */
  readonly totalMs: number;
  /** The lab's own timings; undefined when the guest ran on this host's /dev/kvm. */
  readonly lab: LabTimings | undefined;
}

export interface LinuxGuestBootResult {
  /** `xlts run`'s exit status (XLTS_RUN_EXIT: 0 is a clean poweroff). */
  readonly status: number;
  /** Whether the guest printed its ready marker. */
  readonly ready: boolean;
  readonly console: string;
  readonly stderr: string;
  readonly timings: LinuxGuestBootTimings;
}

/** Passes bytes on to `target` (if any), keeps them, and shows each chunk to `onChunk`. */
class Tee extends Writable {
  readonly chunks: Buffer[] = [];
  constructor(
    private readonly target: Writable | undefined,
    private readonly onChunk: (chunk: Buffer) => void = () => undefined,
  ) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    this.chunks.push(chunk);
    this.onChunk(chunk);
    if (this.target === undefined || this.target.write(chunk)) done();
    else this.target.once('drain', () => done());
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export async function bootLinuxGuest(options: LinuxGuestBootOptions): Promise<LinuxGuestBootResult> {
  const started = performance.now();
  const stdin = new PassThrough();
  let readyAt: number | undefined;
  let promptTimer: NodeJS.Timeout | undefined;
  const type = (): void => {
    if (promptTimer !== undefined) clearTimeout(promptTimer);
    if (!stdin.writableEnded) stdin.end(options.commands);
  };
  // The marker and the prompt may straddle chunks: keep a short tail of what came before.
  let tail = '';
  const marker = new RegExp(`${LINUX_GUEST_READY_MARKER} \\S+\\r?\\n`);
  const consoleTee = new Tee(options.console, (chunk) => {
    if (stdin.writableEnded) return;
    tail = (tail + chunk.toString('latin1')).slice(-512);
    if (readyAt === undefined) {
      const found = marker.exec(tail);
      if (found === null) return;
      readyAt = performance.now();
      tail = tail.slice(found.index + found[0].length);
      promptTimer = setTimeout(type, PROMPT_WAIT_MS);
    }
    if (tail.includes(LINUX_GUEST_PROMPT_PREFIX)) type();
  });
  const stderrTee = new Tee(options.stderr);
  const argv = [
    'node',
    XLTS_BIN,
    'run',
    '--kernel',
    options.guest.kernel,
    '--initrd',
    options.guest.initrd,
    '--cmdline',
    options.cmdline ?? DEFAULT_GUEST_CMDLINE,
    '--memory',
    String(options.memoryMiB ?? 256),
    '--vcpus',
    String(options.vcpus ?? 1),
    '--timeout',
    String(options.guestTimeoutSec ?? 300),
  ];
  try {
    if (options.where === 'host') {
      const status = await runHere(argv.slice(1), stdin, consoleTee, stderrTee);
      return {
        status,
        ready: readyAt !== undefined,
        console: consoleTee.text(),
        stderr: stderrTee.text(),
        timings: {
          labBootMs: 0,
          guestBootMs: readyAt === undefined ? undefined : readyAt - started,
          totalMs: performance.now() - started,
          lab: undefined,
        },
      };
    }
    const r = await runInLab({
      argv,
      stdin,
      stdout: consoleTee,
      stderr: stderrTee,
      // Guest time plus the lab's own boot and node's start-up inside it.
      timeoutMs: ((options.guestTimeoutSec ?? 300) + 120) * 1000,
      ...(options.log ? { log: options.log } : {}),
    });
    const totalMs = performance.now() - started;
    const labBootMs = r.timings.imageMs + r.timings.bootMs;
    return {
      status: r.status,
      ready: readyAt !== undefined,
      console: consoleTee.text(),
      stderr: stderrTee.text(),
      timings: {
        labBootMs,
        // QEMU's spawn is not timed by the lab, so this includes a few ms of it.
        guestBootMs: readyAt === undefined ? undefined : readyAt - started - labBootMs,
        totalMs,
        lab: r.timings,
      },
    };
  } finally {
    // Never ready (the guest died first): end stdin so nothing waits on it.
    if (promptTimer !== undefined) clearTimeout(promptTimer);
    if (!stdin.writableEnded) stdin.end();
  }
}

/** `node <args>` on this host, stdio wired as in the lab; resolves to its exit status. */
function runHere(args: readonly string[], stdin: PassThrough, stdout: Writable, stderr: Writable): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.on('error', reject);
    // EPIPE when the guest is gone before its input is written: its exit status says why.
    child.stdin.on('error', () => undefined);
    stdin.pipe(child.stdin);
    child.stdout.pipe(stdout, { end: false });
    child.stderr.pipe(stderr, { end: false });
    child.on('close', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : osSignalNumber(signal))));
  });
}

function osSignalNumber(signal: NodeJS.Signals): number {
  return osConstants.signals[signal] ?? 0;
}

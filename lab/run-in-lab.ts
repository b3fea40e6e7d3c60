// runInLab: run one command in a fresh L1 VM (the KVM lab) and pass its stdio and exit status
// through. The host side of the protocol in protocol.ts:
//   1. make sure the image is cached (lab-image.ts), write the job (job.ts) into a run directory;
//   2. listen on one unix socket per channel, start QEMU (lab-vm.ts), which connects to each;
//   3. stream stdin to the guest, the guest's stdout/stderr to the caller, with backpressure
//      both ways (a slow consumer pauses the socket, QEMU throttles the port, the guest blocks);
//   4. on "done <status> <n> <m>", wait until n stdout and m stderr bytes have arrived, then end
//      the VM and resolve with the status. QEMU stopping first is a LabVmDiedError.
// The VM never outlives the call: every path ends by killing QEMU and waiting for it to exit,
// and if this process dies instead, the guest sees its control port close and powers off.

import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { realpathSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { isAbsolute, join, resolve } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import {
  LabAbortedError,
  LabError,
  LabQemuMissingError,
  LabRequestError,
  LabTimeoutError,
  LabVmDiedError,
} from './errors.ts';
import { buildLabJob, labEnvironment } from './job.ts';
import { ensureLabImage, type LabImage, type LabLog } from './lab-image.ts';
import { LAB_DEFAULT_CPUS, LAB_DEFAULT_MEMORY_MIB, labQemuArgs } from './lab-vm.ts';
import { LAB_JOB_FILE, parseCtlLine, type LabCtlMessage, type LabPortRole } from './protocol.ts';
import { findOnPath } from './tools.ts';

export const QEMU_BINARY = 'qemu-system-x86_64';

export interface RunInLabOptions {
  /** The command and its arguments, looked up on PATH inside the lab. */
  readonly argv: readonly string[];
  /** Working directory (default: process.cwd()); the same path inside the lab. */
  readonly cwd?: string;
  /** Host directories shared writable at the same path (relative ones resolve against cwd). */
  readonly rw?: readonly string[];
  /** The command's environment (default: labEnvironment(process.env)); XLTS_IN_LAB=1 is added. */
  readonly env?: Readonly<Record<string, string>>;
  /** The command's stdin: a stream (piped until it ends), bytes, or nothing (end of file). */
  readonly stdin?: Readable | string | Uint8Array;
  /** Where the command's stdout goes; without one it is collected into the result. */
  readonly stdout?: Writable;
  /** Where the command's stderr goes; without one it is collected into the result. */
  readonly stderr?: Writable;
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /** Kill the VM this long after QEMU starts (boot included, image build not); LabTimeoutError. */
  readonly timeoutMs?: number;
  /**
   * Give up when the lab's init has not said "ready" this long after QEMU starts (default
   * DEFAULT_BOOT_TIMEOUT_MS, or XLTS_LAB_BOOT_TIMEOUT in seconds); LabVmDiedError with the console.
   */
  readonly bootTimeoutMs?: number;
  /** Aborting kills the VM; LabAbortedError. */
  readonly signal?: AbortSignal;
  /** The guest's serial console (kernel and init diagnostics), as it arrives. */
  readonly onConsole?: (chunk: Buffer) => void;
  /** Have the lab's init timestamp its steps on the console (for onConsole). */
  readonly trace?: boolean;
  /** Progress of an image build (cold cache), one line per step. */
  readonly log?: LabLog;
  readonly cacheDir?: string;
}

export interface LabTimings {
  /** Making sure the image is cached (seconds when cold, milliseconds when warm). */
  readonly imageMs: number;
  /** QEMU start to the init's "ready": the command is about to start. */
  readonly bootMs: number;
  /** QEMU start to the first byte of the command's stdout or stderr, if any came. */
  readonly firstOutputMs: number | undefined;
  /** The whole call, image to VM gone. */
  readonly totalMs: number;
}

export interface LabRunResult {
  /** The command's exit status (128+n when it died of signal n). */
  readonly status: number;
  /** Collected stdout (empty when options.stdout was given). */
  readonly stdout: Buffer;
  /** Collected stderr (empty when options.stderr was given). */
  readonly stderr: Buffer;
  readonly timings: LabTimings;
  readonly image: LabImage;
}

/** Keeps the last `limit` bytes written to it, for error reports. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 1) {
      this.size -= this.chunks.shift()?.length ?? 0;
    }
  }
  text(): string {
    const all = Buffer.concat(this.chunks);
    return all.subarray(Math.max(0, all.length - this.limit)).toString('utf8');
  }
}

/** Throws LabQemuMissingError unless qemu-system-x86_64 is on PATH; returns its path. */
export function requireQemu(): string {
  const qemu = findOnPath(QEMU_BINARY);
  if (qemu === undefined) throw new LabQemuMissingError(QEMU_BINARY);
  return qemu;
}

function realDirectory(what: string, path: string): string {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    throw new LabRequestError(`${what} ${path} does not exist`);
  }
  if (!statSync(real).isDirectory()) throw new LabRequestError(`${what} ${path} is not a directory`);
  return real;
}

export async function runInLab(options: RunInLabOptions): Promise<LabRunResult> {
  const t0 = performance.now();
  if (process.arch !== 'x64' || process.platform !== 'linux') {
    // The lab chroots into this host's root, so its binaries must run on the emulated x86-64.
    throw new LabRequestError(`the lab needs an x86-64 Linux host, not ${process.platform}/${process.arch}`);
  }
  const qemu = requireQemu();
  options.signal?.throwIfAborted();
  const cwd = realDirectory('the working directory', options.cwd ?? process.cwd());
  const rw = (options.rw ?? []).map((dir) => realDirectory('--rw', isAbsolute(dir) ? dir : resolve(cwd, dir)));
  const job = buildLabJob({
    argv: options.argv,
    cwd,
    env: options.env ?? labEnvironment(process.env),
    rw,
    uid: process.getuid?.() ?? 0,
    gid: process.getgid?.() ?? 0,
    groups: (process.getgroups?.() ?? []).filter((g) => g !== (process.getgid?.() ?? 0)),
  });
  const image = await abortable(
    ensureLabImage({
      ...(options.cacheDir !== undefined ? { cacheDir: options.cacheDir } : {}),
      ...(options.log !== undefined ? { log: options.log } : {}),
    }),
    options.signal,
  );
  const imageMs = performance.now() - t0;

  // Unix socket paths are limited to 107 bytes; a long TMPDIR falls back to /tmp.
  const runDir = await mkdtemp(join(tmpdir().length > 60 ? '/tmp' : tmpdir(), 'xlts-lab-'));
  const servers: Server[] = [];
  try {
    const jobDir = join(runDir, 'job');
    await mkdir(jobDir);
    await writeFile(join(jobDir, LAB_JOB_FILE.setup), job.setupScript);
    await writeFile(join(jobDir, LAB_JOB_FILE.job), job.jobScript);
    const sockets = {
      console: join(runDir, 'console.sock'),
      ctl: join(runDir, 'ctl.sock'),
      stdin: join(runDir, 'stdin.sock'),
      stdout: join(runDir, 'stdout.sock'),
      stderr: join(runDir, 'stderr.sock'),
    } as const;
    const connections = new Map<LabPortRole | 'console', Promise<Socket>>();
    for (const [role, path] of Object.entries(sockets) as Array<[LabPortRole | 'console', string]>) {
      const server = createServer({ allowHalfOpen: true });
      servers.push(server);
      connections.set(role, new Promise((resolveConn) => server.once('connection', resolveConn)));
      await new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(path, ok);
      });
    }
    const args = labQemuArgs({
      kernel: image.kernel.vmlinux,
      initramfs: image.initramfs,
      memoryMiB: options.memoryMiB ?? LAB_DEFAULT_MEMORY_MIB,
      cpus: options.cpus ?? LAB_DEFAULT_CPUS,
      sockets,
      jobDir,
      rwShares: job.rwShares,
      trace: options.trace ?? false,
    });
    const session = new LabSession(options, connections);
    const outcome = await session.run(qemu, args);
    return {
      status: outcome.status,
      stdout: session.collected('stdout'),
      stderr: session.collected('stderr'),
      timings: { imageMs, ...outcome.timings, totalMs: performance.now() - t0 },
      image,
    };
  } finally {
    for (const server of servers) server.close();
    await rm(runDir, { recursive: true, force: true });
  }
}

/**
 * A warm boot takes 4-12 s on a busy 2-core host; a VM still not ready after this long is stuck
 * (under TCG a boot can wedge), and saying so with the console tail beats hanging until the
 * caller's own timeout with nothing to show.
 */
export const DEFAULT_BOOT_TIMEOUT_MS = 90_000;

function bootTimeoutMs(options: RunInLabOptions): number {
  if (options.bootTimeoutMs !== undefined) return options.bootTimeoutMs;
  const fromEnv = Number(process.env['XLTS_LAB_BOOT_TIMEOUT']);
  return Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv * 1000 : DEFAULT_BOOT_TIMEOUT_MS;
}

type Ending =
  | { readonly kind: 'done'; readonly status: number }
  | { readonly kind: 'died'; readonly reason: string }
  | { readonly kind: 'timeout'; readonly ms: number }
  | { readonly kind: 'aborted'; readonly reason: string };

/** One VM's lifetime: QEMU, its channels, and how it ended. */
class LabSession {
  private readonly chunks = { stdout: [] as Buffer[], stderr: [] as Buffer[] };
  private readonly console = new TailBuffer(16 * 1024);
  private readonly qemuOutput = new TailBuffer(8 * 1024);
  private readonly received = { stdout: 0, stderr: 0 };
  private done: Extract<LabCtlMessage, { kind: 'done' }> | undefined;
  private failReason: string | undefined;
  private ending: Ending | undefined;
  private spawnedAt = 0;
  private readyAt: number | undefined;
  private firstOutputAt: number | undefined;
  private settle: () => void = () => undefined;

  constructor(
    private readonly options: RunInLabOptions,
    private readonly connections: ReadonlyMap<LabPortRole | 'console', Promise<Socket>>,
  ) {}

  async run(
    qemu: string,
    args: readonly string[],
  ): Promise<{ status: number; timings: Omit<LabTimings, 'imageMs' | 'totalMs'> }> {
    const ended = new Promise<void>((resolveEnded) => (this.settle = resolveEnded));
    this.spawnedAt = performance.now();
    // Its own process group: a ^C at the terminal reaches us, and we end the VM deliberately,
    // instead of racing QEMU's own exit on SIGINT.
    const child = spawn(qemu, [...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    child.stdout?.on('data', (b: Buffer) => this.qemuOutput.push(b));
    child.stderr?.on('data', (b: Buffer) => this.qemuOutput.push(b));
    const exited = new Promise<void>((resolveExit) => {
      child.on('error', (err) => {
        this.finish({ kind: 'died', reason: `cannot start ${qemu}: ${err.message}` });
        resolveExit();
      });
      child.on('exit', (code, signal) => {
        const how = signal !== null ? `was killed by ${signal}` : `exited with status ${code}`;
        // Let the sockets deliver what the guest said before it went (a "fail" line, the
        // console's last words) before judging how it ended.
        void Promise.race([this.channelsClosed, delay(1000)]).then(() => {
          this.finish({ kind: 'died', reason: this.failReason ?? `the lab VM stopped early: QEMU ${how}` });
          resolveExit();
        });
      });
    });

    const timeoutMs = this.options.timeoutMs;
    const timer =
      timeoutMs !== undefined ? setTimeout(() => this.finish({ kind: 'timeout', ms: timeoutMs }), timeoutMs) : undefined;
    const bootLimit = bootTimeoutMs(this.options);
    const bootWatchdog = setTimeout(() => {
      if (this.readyAt === undefined) {
        this.finish({ kind: 'died', reason: `the lab VM was not ready ${Math.round(bootLimit / 1000)} s after QEMU started` });
      }
    }, bootLimit);
    const signal = this.options.signal;
    const onAbort = (): void => this.finish({ kind: 'aborted', reason: abortReason(signal) });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();

    void this.wire();
    await ended;
    clearTimeout(timer);
    clearTimeout(bootWatchdog);
    signal?.removeEventListener('abort', onAbort);
    await this.stopVm(child, exited);
    this.unwire();

    const ending = this.ending;
    const timings = {
      bootMs: this.readyAt !== undefined ? this.readyAt - this.spawnedAt : Number.NaN,
      firstOutputMs: this.firstOutputAt !== undefined ? this.firstOutputAt - this.spawnedAt : undefined,
    };
    switch (ending?.kind) {
      case 'done':
        return { status: ending.status, timings };
      case 'timeout':
        throw new LabTimeoutError(ending.ms);
      case 'aborted':
        throw new LabAbortedError(ending.reason);
      case 'died':
        throw new LabVmDiedError(ending.reason, this.diagnostics());
      case undefined:
        throw new LabError('the lab session ended without an outcome');
    }
  }

  private finish(ending: Ending): void {
    if (this.ending !== undefined) return;
    this.ending = ending;
    this.settle();
  }

  private diagnostics(): string {
    const parts: string[] = [];
    const consoleText = this.console.text().trim();
    if (consoleText) parts.push(`--- lab console (last lines) ---\n${lastLines(consoleText, 25)}`);
    const qemuText = this.qemuOutput.text().trim();
    if (qemuText) parts.push(`--- qemu ---\n${lastLines(qemuText, 15)}`);
    return parts.join('\n');
  }

  private readonly sockets: Socket[] = [];
  private channelsClosed: Promise<void> = new Promise(() => undefined);

  /** What the command wrote to stdout or stderr, when no sink was given for it. */
  collected(role: 'stdout' | 'stderr'): Buffer {
    return Buffer.concat(this.chunks[role]);
  }

  private async wire(): Promise<void> {
    const [consoleSock, ctl, stdin, stdout, stderr] = await Promise.all(
      (['console', 'ctl', 'stdin', 'stdout', 'stderr'] as const).map((role) => {
        const conn = this.connections.get(role);
        if (conn === undefined) throw new LabError(`no ${role} channel`);
        return conn;
      }),
    );
    if (!consoleSock || !ctl || !stdin || !stdout || !stderr) return;
    this.sockets.push(consoleSock, ctl, stdin, stdout, stderr);
    this.channelsClosed = Promise.all([once(ctl, 'end'), once(consoleSock, 'end')]).then(() => undefined);
    for (const s of this.sockets) s.on('error', () => undefined); // QEMU's exit closes them all

    consoleSock.on('data', (b: Buffer) => {
      this.console.push(b);
      this.options.onConsole?.(b);
    });

    let pending = '';
    ctl.setEncoding('utf8');
    ctl.on('data', (text: string) => {
      pending += text;
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        this.onCtl(parseCtlLine(line), line);
      }
    });

    this.forward('stdout', stdout, this.options.stdout);
    this.forward('stderr', stderr, this.options.stderr);

    const input = this.options.stdin;
    if (input === undefined) {
      stdin.end();
    } else if (typeof input === 'string' || input instanceof Uint8Array) {
      stdin.end(input);
    } else {
      // pipe() ends the socket (a half-close: the guest then reads end of file) when input ends.
      input.pipe(stdin);
      this.unpipeInput = () => input.unpipe(stdin);
    }
  }

  private unpipeInput: () => void = () => undefined;

  private unwire(): void {
    this.unpipeInput();
    for (const s of this.sockets) s.destroy();
  }

  private forward(role: 'stdout' | 'stderr', socket: Socket, sink: Writable | undefined): void {
    let sinkBroken = false;
    socket.on('data', (b: Buffer) => {
      this.firstOutputAt ??= performance.now();
      this.received[role] += b.length;
      if (sink === undefined) {
        this.chunks[role].push(b);
      } else if (sinkBroken) {
        // discarded: nobody is listening any more
      } else if (!sink.write(b)) {
        // Backpressure: stop reading; QEMU throttles the port and the guest's writer blocks.
        socket.pause();
        sink.once('drain', () => socket.resume());
      }
      this.checkDrained();
    });
    // A sink that went away (EPIPE on a closed stdout) must not stall the guest: keep reading
    // and drop the rest, as a command writing into a closed pipe would lose it.
    sink?.on('error', () => {
      sinkBroken = true;
      socket.resume();
    });
  }

  private onCtl(message: LabCtlMessage | undefined, line: string): void {
    if (message === undefined) {
      this.console.push(Buffer.from(`[host] unexpected control line: ${line}\n`));
      return;
    }
    switch (message.kind) {
      case 'ready':
        this.readyAt = performance.now();
        break;
      case 'fail':
        this.failReason = `the lab's init failed: ${message.reason}`;
        break;
      case 'done':
        this.done = message;
        this.checkDrained();
        break;
    }
  }

  private checkDrained(): void {
    const done = this.done;
    if (done === undefined) return;
    if (this.received.stdout >= done.stdoutBytes && this.received.stderr >= done.stderrBytes) {
      this.finish({ kind: 'done', status: done.status });
    }
  }

  /** Ends QEMU (TERM, then KILL after 2 s) and waits until it is gone. */
  private async stopVm(child: ChildProcess, exited: Promise<void>): Promise<void> {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      child.kill('SIGTERM');
      const kill = setTimeout(() => child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(kill);
    }
  }
}

/**
 * Resolves as `work` does, or rejects with LabAbortedError as soon as `signal` aborts (an
 * image build left behind finishes or fails on its own; its temp directory is cleaned later).
 */
async function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) throw new LabAbortedError(abortReason(signal));
  let onAbort: () => void = () => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new LabAbortedError(abortReason(signal)));
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([work, aborted]);
  } catch (err) {
    // A build killed by the same ^C fails with its own error; the abort is the real cause.
    if (signal.aborted && !(err instanceof LabAbortedError)) throw new LabAbortedError(abortReason(signal));
    throw err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  if (typeof reason === 'string') return reason;
  if (reason instanceof Error) return reason.message;
  return 'aborted';
}

function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n');
}

// Runs the ring workload (workload.ts) in each configuration the benchmark compares and the stress
// test checks: TypeScript in one thread, in two worker threads over a SharedArrayBuffer, in two
// processes over a /dev/shm file; and Xen's io/ring.h in C (test/c/ring-bench.c) in one thread and
// two pthreads. Every run verifies sequence numbers end to end; a run that resolves is a correct one.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SharedMemoryFile } from '../../hypervisor/memory/shared-memory-file.ts';
import { BackRing, FrontRing, SRING_WORD, initSharedRing, sringIndexWords } from '../../ring-buffer/index.ts';
import { buildCProgram } from '../../test/c/build.ts';
import { closeEventFd, createEventFd, createEventWords } from './event-channel.ts';
import { type EndMessage, type EndReport, type EndRole, type ThreadEndData, isEndMessage } from './messages.ts';
import { BENCH_ENTRY_SIZE, BENCH_RING_BYTES, type EndStats, WorkloadBack, WorkloadFront, runBothInOneThread } from './workload.ts';

export type RunEngine = 'TypeScript' | 'C io/ring.h';
export type RunMode = 'one thread' | 'two threads' | 'two processes';

export interface RunResult {
  readonly engine: RunEngine;
  readonly mode: RunMode;
  /** Round trips completed (each a request and its response). */
  readonly requests: number;
  /** Wall time of the run as the front end measured it, start signal to last response. */
  readonly elapsedNs: number;
  readonly front: EndStats;
  readonly back: EndStats;
}

/** Notifications either end sent, per round trip. */
export function notificationsPerRequest(r: RunResult): number {
  return (r.front.notifications + r.back.notifications) / r.requests;
}

export function roundTripsPerSecond(r: RunResult): number {
  return r.requests / (r.elapsedNs / 1e9);
}

/** A run did not complete: an end failed, died, or the watchdog fired. */
export class RingRunError extends Error {
  override readonly name = 'RingRunError';
}

/** Longest a two-sided run may take before its ends are killed, so a hang cannot leak them. */
const DEFAULT_WATCHDOG_MS = 120_000;

export interface RunOptions {
  readonly requests: number;
  /**
   * Where the free-running indices start (FRONT/BACK_RING_ATTACH); a value just below 2^32 makes
   * the run cross the index wrap-around while both ends are busy. Default 0.
   */
  readonly startIndex?: number;
  readonly watchdogMs?: number;
}

/**
 * SHARED_RING_INIT, then, for a non-zero start, the state a ring is in after that many messages:
 * both producers at the start index, both event indices one past it.
 */
function freshRing(mem: Uint8Array, startIndex = 0): void {
  initSharedRing(mem);
  if (startIndex === 0) return;
  const words = sringIndexWords(mem);
  Atomics.store(words, SRING_WORD.req_prod, startIndex);
  Atomics.store(words, SRING_WORD.rsp_prod, startIndex);
  Atomics.store(words, SRING_WORD.req_event, (startIndex + 1) >>> 0);
  Atomics.store(words, SRING_WORD.rsp_event, (startIndex + 1) >>> 0);
}

/** Both ends alternate in the calling thread: the ring's cost without any cross-core traffic. */
export function runTsOneThread(opts: RunOptions): RunResult {
  const mem = new Uint8Array(BENCH_RING_BYTES);
  const startIndex = opts.startIndex ?? 0;
  freshRing(mem, startIndex);
  const front = new WorkloadFront(new FrontRing(mem, BENCH_ENTRY_SIZE, { startIndex }), opts.requests, () => {});
  const back = new WorkloadBack(new BackRing(mem, BENCH_ENTRY_SIZE, { startIndex }), opts.requests, () => {});
  const start = process.hrtime.bigint();
  runBothInOneThread(front, back);
  const elapsedNs = Number(process.hrtime.bigint() - start);
  return { engine: 'TypeScript', mode: 'one thread', requests: opts.requests, elapsedNs, front: front.stats(), back: back.stats() };
}

/**
 * The URL of tsx's ESM registration API. Node 20 does not carry the parent's module hooks into a
 * worker thread, so each worker registers tsx itself before importing its TypeScript entry.
 */
function tsxUrls(): { api: string; loader: string } {
  const require = createRequire(import.meta.url);
  const root = path.dirname(require.resolve('tsx/package.json'));
  return {
    api: pathToFileURL(path.join(root, 'dist', 'esm', 'api', 'index.mjs')).href,
    loader: pathToFileURL(require.resolve('tsx')).href,
  };
}

function startThreadEnd(data: ThreadEndData): Worker {
  const entry = new URL('./thread-end.ts', import.meta.url).href;
  const bootstrap = `import(${JSON.stringify(tsxUrls().api)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}

/**
 * Collects both ends' reports: resolves once both said 'done', rejects on the first failure, and
 * sends the go to both once both are ready, so start-up is not part of the measurement.
 */
class TwoEndRun {
  private readonly ready = new Set<EndRole>();
  private readonly reports = new Map<EndRole, EndReport>();
  private settled = false;
  readonly finished: Promise<{ front: EndReport; back: EndReport }>;
  private resolve!: (r: { front: EndReport; back: EndReport }) => void;
  private reject!: (e: Error) => void;

  constructor(
    private readonly go: () => void,
    private readonly abort: () => void,
    watchdogMs: number,
  ) {
    this.finished = new Promise((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    const timer = setTimeout(() => this.fail(new RingRunError(`run did not finish within ${watchdogMs} ms`)), watchdogMs);
    const clear = (): void => clearTimeout(timer);
    this.finished.then(clear, clear);
  }

  onMessage(role: EndRole, m: EndMessage): void {
    if (this.settled) return;
    switch (m.kind) {
      case 'ready':
        this.ready.add(role);
        if (this.ready.size === 2) this.go();
        return;
      case 'done': {
        this.reports.set(role, m.report);
        const front = this.reports.get('front');
        const back = this.reports.get('back');
        if (front !== undefined && back !== undefined) {
          this.settled = true;
          this.resolve({ front, back });
        }
        return;
      }
      case 'failed':
        this.fail(new RingRunError(`${role} end failed: ${m.error}`));
        return;
    }
  }

  /** An end went away: a failure unless it had already reported. */
  exited(role: EndRole, detail: string): void {
    if (!this.reports.has(role)) this.fail(new RingRunError(`${role} end exited before reporting: ${detail}`));
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.abort();
    this.reject(err);
  }
}

/** Front and back in two worker threads over a SharedArrayBuffer ring; Atomics.wait when idle. */
export async function runTsTwoThreads(opts: RunOptions): Promise<RunResult> {
  const ring = new SharedArrayBuffer(BENCH_RING_BYTES);
  const startIndex = opts.startIndex ?? 0;
  freshRing(new Uint8Array(ring), startIndex);
  const events = createEventWords();
  const workers = new Map<EndRole, Worker>();
  const run = new TwoEndRun(
    () => workers.forEach((w) => w.postMessage('go')),
    () => workers.forEach((w) => void w.terminate()),
    opts.watchdogMs ?? DEFAULT_WATCHDOG_MS,
  );
  for (const role of ['back', 'front'] as const) {
    const w = startThreadEnd({ role, ring, events, total: opts.requests, startIndex });
    workers.set(role, w);
    w.on('message', (m: unknown) => {
      if (isEndMessage(m)) run.onMessage(role, m);
      else run.fail(new RingRunError(`${role} thread sent ${JSON.stringify(m)}`));
    });
    w.on('error', (e) => run.fail(new RingRunError(`${role} thread crashed: ${e.message}`)));
    w.on('exit', (code) => run.exited(role, `thread exit code ${code}`));
  }
  try {
    const { front, back } = await run.finished;
    return { engine: 'TypeScript', mode: 'two threads', requests: opts.requests, elapsedNs: front.elapsedNs, front: front.stats, back: back.stats };
  } finally {
    await Promise.all([...workers.values()].map((w) => w.terminate()));
  }
}

/**
 * Front and back in two child processes sharing a /dev/shm ring file, each end's event channel an
 * eventfd inherited from this process (see event-channel.ts for why not Atomics.wait).
 */
export async function runTsTwoProcesses(opts: RunOptions): Promise<RunResult> {
  const shmPath = `/dev/shm/xlts-ring-${process.pid}-${randomBytes(6).toString('hex')}`;
  const shm = SharedMemoryFile.create(shmPath, BENCH_RING_BYTES);
  const toBack = createEventFd();
  const toFront = createEventFd();
  const children = new Map<EndRole, ChildProcess>();
  const stderr = new Map<EndRole, string>();
  const run = new TwoEndRun(
    () => children.forEach((c) => c.stdin?.write('go\n')),
    () => children.forEach((c) => c.kill('SIGKILL')),
    opts.watchdogMs ?? DEFAULT_WATCHDOG_MS,
  );
  const exited: Array<Promise<void>> = [];
  try {
    const startIndex = opts.startIndex ?? 0;
    freshRing(shm.bytes(), startIndex);
    const script = fileURLToPath(new URL('./process-end.ts', import.meta.url));
    const { loader } = tsxUrls();
    for (const role of ['back', 'front'] as const) {
      const child = spawn(process.execPath, ['--import', loader, script, role, shmPath, String(opts.requests), String(startIndex)], {
        // fds 3 and 4 in the child: FD_TO_BACK and FD_TO_FRONT.
        stdio: ['pipe', 'pipe', 'pipe', toBack, toFront],
      });
      children.set(role, child);
      stderr.set(role, '');
      child.stderr?.on('data', (d: Buffer) => stderr.set(role, (stderr.get(role) ?? '') + d.toString()));
      if (child.stdout !== null) {
        readline.createInterface({ input: child.stdout }).on('line', (line) => {
          let m: unknown;
          try {
            m = JSON.parse(line);
          } catch {
            m = line;
          }
          if (isEndMessage(m)) run.onMessage(role, m);
          else run.fail(new RingRunError(`${role} process printed ${JSON.stringify(line)}`));
        });
      }
      child.on('error', (e) => run.fail(new RingRunError(`${role} process could not start: ${e.message}`)));
      exited.push(
        new Promise((res) => {
          child.on('close', (code, signal) => {
            run.exited(role, `process exit ${code ?? signal}\n${stderr.get(role) ?? ''}`);
            res();
          });
        }),
      );
    }
    const { front, back } = await run.finished;
    return { engine: 'TypeScript', mode: 'two processes', requests: opts.requests, elapsedNs: front.elapsedNs, front: front.stats, back: back.stats };
  } finally {
    children.forEach((c) => {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
    await Promise.all(exited);
    closeEventFd(toBack);
    closeEventFd(toFront);
    shm.close();
    fs.rmSync(shmPath, { force: true });
  }
}

/** The same workload over Xen's io/ring.h in C: 'one thread' or 'two threads' (pthreads). */
export async function runC(mode: 'one thread' | 'two threads', opts: RunOptions): Promise<RunResult> {
  const binary = buildCProgram({ source: 'ring-bench.c', extraArgs: ['-pthread'] });
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      binary,
      [mode === 'one thread' ? 'single' : 'threads', String(opts.requests)],
      { timeout: opts.watchdogMs ?? DEFAULT_WATCHDOG_MS, killSignal: 'SIGKILL' },
      (err, out, errOut) => {
        if (err) reject(new RingRunError(`ring-bench.c ${mode} failed: ${err.message}\n${errOut}`));
        else resolve(out);
      },
    );
  });
  const fields = new Map<string, number>();
  for (const pair of stdout.trim().split(' ')) {
    const [k, v] = pair.split('=');
    if (k !== undefined && v !== undefined) fields.set(k, Number(v));
  }
  const field = (k: string): number => {
    const v = fields.get(k);
    if (v === undefined || !Number.isFinite(v)) throw new RingRunError(`ring-bench.c printed no ${k}: ${stdout}`);
    return v;
  };
  const requests = field('requests');
  return {
    engine: 'C io/ring.h',
    mode,
    requests,
    elapsedNs: field('elapsed_ns'),
    front: { produced: requests, notifications: field('front_notifications'), pushes: field('front_pushes') },
    back: { produced: requests, notifications: field('back_notifications'), pushes: field('back_pushes') },
  };
}

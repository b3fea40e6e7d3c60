// One worker thread per vCPU, running a blocking KVM_RUN loop (vcpu-worker.ts), and the
// main-thread side that answers its exits and pauses, resumes and stops it.
//
// Design: exits are handled on the main thread. The worker hands each exit over through a
// SharedArrayBuffer mailbox and waits for the answer (a short poll, then Atomics.wait); the main
// thread learns of it through Atomics.waitAsync, decodes it from its own mapping of the same
// kvm_run page (nothing is copied or serialised), calls the VcpuExitHandler, and answers. Why here
// and not in the worker:
// - The Xen state a hypercall touches is per-domain, not per-vCPU: event-channel port table,
//   grant table, HVM params, the xenstore and console connections to xltsd. On the main thread it
//   is ordinary TypeScript objects, and handlers of different vCPUs are serialised by the event
//   loop, like a big lock; in workers every piece would have to live in shared memory with its
//   own atomics discipline, in every hypercall module.
// - A handler may be async: SCHEDOP_poll or a blocked console write can await without stalling
//   the other vCPUs, and without blocking the event loop that serves xltsd's socket and eventfds.
// - The cost is one thread hop per exit that reaches userspace. bench/kvm-exit-bench.ts measures
//   it next to a same-thread koffi loop and a C loop: on this host's kvm_pvm a port-I/O round trip
//   is ~8-9 us in C, ~10-12 us through koffi on one thread, ~35 us through this design (hop ~24
//   us: the main thread's Atomics.waitAsync wake-up; the worker polls for the answer to avoid a
//   futex sleep); in the lab (everything under TCG) ~60 us in C, ~235 us koffi, ~640 us here.
//   The hot notification paths do not pay it: event channels to and from Dom0 go through eventfds
//   with irqfd (MSI routes) and ioeventfd, and timers and the LAPIC are in the kernel. Should a
//   hypercall family become hot, the seam allows handling chosen exits in the worker later.
// The KVM layer knows no devices (Cloud Hypervisor's VmOps idea): the handler is injected.
//
// Pause and stop set kvm_run.immediate_exit and kick the worker with a signal (thread-kick.ts),
// so a vCPU spinning in guest code, or halted in the in-kernel irqchip, leaves KVM_RUN promptly.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { installKickSignal, kickThread } from '../native/thread-kick.ts';
import { VcpuExitHandlerError, VcpuStateError, VcpuThreadError } from './errors.ts';
import type { VcpuExit } from './vcpu-exit.ts';
import {
  ANSWER,
  CONTROL,
  MAILBOX_WORDS as W,
  WORKER_STATE,
  type ControlValue,
  type VcpuWorkerData,
  type VcpuWorkerFailure,
  createMailbox,
  isVcpuWorkerFailure,
  nextControl,
} from './vcpu-mailbox.ts';
import type { Vcpu, VcpuStateAccess } from './vcpu.ts';
import { isWorkerPortIoStats, type WorkerPortIoSpec } from './worker-port-io.ts';

/** What to do after an exit: run the guest on, or stop this vCPU. */
export type VcpuExitAction = 'resume' | 'stop';

/**
 * Handles the exits of a vCPU (port I/O from hypercall stubs, MSR exits, hlt, shutdown, system
 * events, ...). Called on the main thread, one exit at a time per vCPU, with the vCPU parked:
 * `vcpu` may read and write registers and translate addresses. IN/MMIO-read data and MSR answers
 * must be given (on the exit object) before the returned action settles.
 */
export interface VcpuExitHandler {
  handleExit(exit: VcpuExit, vcpu: VcpuStateAccess): VcpuExitAction | Promise<VcpuExitAction>;
}

/** Closed set of vCPU thread states, as the main thread sees them. */
export type VcpuThreadState = 'running' | 'pausing' | 'paused' | 'stopping' | 'stopped';
type VcpuThreadEvent = 'pause' | 'paused' | 'resume' | 'stop' | 'guest_stop' | 'finish';

const TRANSITIONS: Record<VcpuThreadState, Partial<Record<VcpuThreadEvent, VcpuThreadState>>> = {
  running: { pause: 'pausing', stop: 'stopping', guest_stop: 'stopping', finish: 'stopped' },
  pausing: { paused: 'paused', stop: 'stopping', guest_stop: 'stopping', finish: 'stopped' },
  paused: { resume: 'running', stop: 'stopping', finish: 'stopped' },
  stopping: { stop: 'stopping', guest_stop: 'stopping', finish: 'stopped' },
  stopped: {},
};

/** Why a vCPU thread ended: stop() was called, or the handler answered 'stop' to `exit`. */
export type VcpuStopReason = { readonly kind: 'requested' } | { readonly kind: 'exit'; readonly exit: VcpuExit };

export interface VcpuThreadTransition {
  readonly vcpuId: number;
  readonly from: VcpuThreadState;
  readonly to: VcpuThreadState;
  readonly event: VcpuThreadEvent;
}

export interface VcpuThreadOptions {
  /** Start parked: the worker maps kvm_run and waits for resume() before its first KVM_RUN. */
  readonly paused?: boolean;
  /** Called on every state change (no-op transitions are skipped). */
  readonly onTransition?: (t: VcpuThreadTransition) => void;
  /** Port I/O the worker answers itself, without a main-thread hop (worker-port-io.ts). */
  readonly workerPortIo?: WorkerPortIoSpec;
}

// The worker runs TypeScript: it registers tsx itself, as bin/xlts.js does for the CLI, because
// loader hooks registered in this thread do not reach a worker's module graph (nor do vitest's).
const WORKER_ENTRY = new URL('./vcpu-worker.ts', import.meta.url).href;
const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsxApi)
  .then((api) => { api.register(); return import(workerData.entry); })
  .catch((err) => { setImmediate(() => { throw err; }); });
`;

let tsxApiUrl: string | null = null;

/** The ESM entry of `tsx/esm/api`, resolved through tsx's package.json exports map. */
function resolveTsxEsmApi(): string {
  if (tsxApiUrl !== null) return tsxApiUrl;
  const pkgPath = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg: unknown = JSON.parse(fs.readFileSync(pkgPath, 'utf8'));
  const entry = exportTarget(pkg, './esm/api');
  if (entry === null) throw new VcpuThreadError(-1, `cannot find the ESM entry of tsx/esm/api in ${pkgPath}`);
  tsxApiUrl = pathToFileURL(path.join(path.dirname(pkgPath), entry)).href;
  return tsxApiUrl;
}

function exportTarget(pkg: unknown, subpath: string): string | null {
  if (typeof pkg !== 'object' || pkg === null || !('exports' in pkg)) return null;
  const exportsMap = pkg.exports;
  if (typeof exportsMap !== 'object' || exportsMap === null || !(subpath in exportsMap)) return null;
  const target: unknown = (exportsMap as Record<string, unknown>)[subpath];
  if (typeof target !== 'object' || target === null || !('import' in target)) return null;
  const imp: unknown = target.import;
  if (typeof imp === 'string') return imp;
  if (typeof imp === 'object' && imp !== null && 'default' in imp && typeof imp.default === 'string') return imp.default;
  return null;
}

// Atomics.waitAsync is in Node 20 (V8 >= 8.7) but only in TypeScript's ES2024 lib; the project
// compiles against ES2022, so its signature is declared here.
type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (a: Int32Array, index: number, value: number) => WaitAsyncResult;
const atomicsWaitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync?.bind(Atomics);

interface PauseWaiter {
  readonly control: number;
  resolve(): void;
  reject(err: Error): void;
}

export class VcpuThread {
  private current: VcpuThreadState;
  private readonly mb: Int32Array;
  private readonly worker: Worker;
  private handledExitSeq = 0;
  private pauseWaiters: PauseWaiter[] = [];
  private failure: VcpuWorkerFailure | null = null;
  private handlerError: VcpuExitHandlerError | null = null;
  private stopReason: VcpuStopReason | null = null;
  private exitCount = 0;
  private workerAnswered: ReadonlyMap<string, number> = new Map();
  private readonly waitAsync: WaitAsync;
  /** Resolves with why the thread ended; rejects with VcpuThreadError/VcpuExitHandlerError. */
  readonly done: Promise<VcpuStopReason>;
  /**
   * Resolves once the worker has mapped kvm_run and reached its run loop (starting a worker that
   * loads TypeScript takes a few hundred milliseconds); rejects if it never gets there.
   */
  readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;

  private constructor(
    private readonly vcpu: Vcpu,
    private readonly handler: VcpuExitHandler,
    private readonly options: VcpuThreadOptions,
  ) {
    if (atomicsWaitAsync === undefined) throw new VcpuThreadError(vcpu.id, 'this JavaScript engine lacks Atomics.waitAsync (Node >= 16 has it)');
    this.waitAsync = atomicsWaitAsync;
    installKickSignal();
    vcpu.claimForThread(`vcpu${vcpu.id} worker`);
    this.current = options.paused ? 'paused' : 'running';
    this.mb = createMailbox(options.paused ? CONTROL.PAUSE : CONTROL.RUN);
    vcpu.runPage.immediateExit = false;
    const data: VcpuWorkerData & { tsxApi: string; entry: string } = {
      vcpuFd: vcpu.fd,
      vcpuId: vcpu.id,
      mmapSize: vcpu.runPage.buffer.byteLength,
      mailbox: this.mb.buffer as SharedArrayBuffer,
      ...(options.workerPortIo ? { portIo: options.workerPortIo } : {}),
      tsxApi: resolveTsxEsmApi(),
      entry: WORKER_ENTRY,
    };
    try {
      this.worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: data, name: `vcpu${vcpu.id}` });
    } catch (err) {
      vcpu.releaseFromThread();
      throw err;
    }
    const exited = new Promise<number>((resolve) => {
      this.worker.on('message', (m: unknown) => {
        if (isVcpuWorkerFailure(m)) this.failure = m;
        else if (isWorkerPortIoStats(m)) this.workerAnswered = new Map(m.counts);
      });
      this.worker.on('error', (err: Error) => {
        this.failure ??= { type: 'failed', name: err.name, message: err.message };
      });
      this.worker.on('exit', resolve);
    });
    const reachedLoop = new Promise<void>((resolve) => {
      this.markReady = resolve;
    });
    this.done = this.pump(exited);
    this.ready = Promise.race([reachedLoop, this.done.then(() => undefined)]);
    // Both are also reached through other calls; an unobserved rejection must not crash the process.
    this.done.catch(() => undefined);
    this.ready.catch(() => undefined);
  }

  /**
   * Starts a worker thread running `vcpu` (created by the caller on this thread, which keeps
   * owning its fd: close it only after `done` settles).
   */
  static start(vcpu: Vcpu, handler: VcpuExitHandler, options: VcpuThreadOptions = {}): VcpuThread {
    return new VcpuThread(vcpu, handler, options);
  }

  get state(): VcpuThreadState {
    return this.current;
  }

  get vcpuId(): number {
    return this.vcpu.id;
  }

  /** Port-I/O exits the worker answered itself, by "in|out 0xPORT"; known once `done` settles. */
  get workerPortIoCounts(): ReadonlyMap<string, number> {
    return this.workerAnswered;
  }

  /** Exits handed to the handler so far. */
  get exits(): number {
    return this.exitCount;
  }

  /** Parks the vCPU outside KVM_RUN; resolves once it is parked (registers are then stable). */
  pause(): Promise<void> {
    try {
      this.transition('pause');
    } catch (err) {
      return Promise.reject(err);
    }
    const control = this.command(CONTROL.PAUSE);
    return new Promise<void>((resolve, reject) => {
      this.pauseWaiters.push({ control, resolve, reject });
      this.settlePauseWaiters();
    });
  }

  resume(): void {
    this.transition('resume');
    // The worker is parked, so nothing races this write: the next KVM_RUN must really run.
    this.vcpu.runPage.immediateExit = false;
    this.command(CONTROL.RUN);
  }

  /** Stops the vCPU (wherever it is) and ends the worker; resolves like `done`. */
  stop(): Promise<VcpuStopReason> {
    try {
      this.transition('stop');
    } catch (err) {
      return Promise.reject(err);
    }
    this.command(CONTROL.STOP);
    return this.done;
  }

  private command(command: ControlValue): number {
    const control = nextControl(Atomics.load(this.mb, W.CONTROL), command);
    if (command !== CONTROL.RUN) this.vcpu.runPage.immediateExit = true;
    Atomics.store(this.mb, W.CONTROL, control);
    Atomics.notify(this.mb, W.CONTROL);
    if (command !== CONTROL.RUN) {
      const tid = Atomics.load(this.mb, W.TID);
      // tid 0: the worker has not reached its loop yet and will see the command before KVM_RUN.
      if (tid !== 0) kickThread(tid);
    }
    return control;
  }

  private transition(event: VcpuThreadEvent): void {
    const from = this.current;
    const to = TRANSITIONS[from][event];
    if (to === undefined) throw new VcpuStateError(this.vcpu.id, from, event);
    if (to === from) return;
    this.current = to;
    this.options.onTransition?.({ vcpuId: this.vcpu.id, from, to, event });
  }

  private settlePauseWaiters(): void {
    const pausedAt = Atomics.load(this.mb, W.PAUSED_AT);
    this.pauseWaiters = this.pauseWaiters.filter((w) => {
      if (w.control !== pausedAt) return true;
      if (this.current === 'pausing') this.transition('paused');
      w.resolve();
      return false;
    });
  }

  private rejectPauseWaiters(): void {
    for (const w of this.pauseWaiters) w.reject(new VcpuStateError(this.vcpu.id, this.current, 'pause'));
    this.pauseWaiters = [];
  }

  /** Answers the worker's exit, if one is pending and not yet answered. */
  private async answerExit(): Promise<void> {
    const seq = Atomics.load(this.mb, W.EXIT_SEQ);
    if (Atomics.load(this.mb, W.STATE) !== WORKER_STATE.EXIT_PENDING || seq === this.handledExitSeq) return;
    this.handledExitSeq = seq;
    this.exitCount++;
    let action: VcpuExitAction;
    let exit: VcpuExit | null = null;
    try {
      exit = this.vcpu.runPage.decodeExit();
      action = await this.handler.handleExit(exit, this.vcpu);
      if (action === 'stop') this.stopReason ??= { kind: 'exit', exit };
    } catch (err) {
      this.handlerError ??= new VcpuExitHandlerError(this.vcpu.id, exit?.kind ?? 'undecodable', { cause: err });
      action = 'stop';
    }
    if (action === 'stop' && this.current !== 'stopping') {
      this.transition('guest_stop');
      this.rejectPauseWaiters();
    }
    Atomics.store(this.mb, W.ANSWER, action === 'stop' ? ANSWER.STOP : ANSWER.RESUME);
    Atomics.notify(this.mb, W.ANSWER);
  }

  private async pump(exited: Promise<number>): Promise<VcpuStopReason> {
    let seen = Atomics.load(this.mb, W.EVENTS);
    let exitCode: number | null = null;
    void exited.then((code) => {
      exitCode = code;
    });
    for (;;) {
      const wait = this.waitAsync(this.mb, W.EVENTS, seen);
      if (wait.async) await Promise.race([wait.value, exited]);
      if (exitCode !== null) break;
      seen = Atomics.load(this.mb, W.EVENTS);
      if (Atomics.load(this.mb, W.TID) !== 0) this.markReady();
      await this.answerExit();
      this.settlePauseWaiters();
    }
    // The worker is gone: settle everything.
    this.vcpu.releaseFromThread();
    this.rejectPauseWaiters();
    this.transition('finish');
    if (this.handlerError) throw this.handlerError;
    const state = Atomics.load(this.mb, W.STATE);
    if (this.failure || state !== WORKER_STATE.STOPPED) {
      const f = this.failure;
      const what = f ? `${f.name}: ${f.message}` : `worker exited with code ${String(exitCode)} in state ${state}`;
      throw new VcpuThreadError(this.vcpu.id, what, { cause: f ?? undefined });
    }
    return this.stopReason ?? { kind: 'requested' };
  }
}

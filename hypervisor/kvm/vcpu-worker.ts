// The vCPU worker thread: a blocking KVM_RUN loop and nothing else. It knows no devices and no
// Xen: every exit is handed to the main thread through the mailbox (vcpu-mailbox.ts) and the
// worker blocks in Atomics.wait until it is answered, except port I/O that an optional handler
// injected by the thread's creator answers here (worker-port-io.ts). It owns no fd: it borrows the vCPU fd the
// main thread created and maps kvm_run itself.
import { parentPort, workerData } from 'node:worker_threads';
import { currentThreadId } from '../native/thread-kick.ts';
import { KvmIoctlError } from './errors.ts';
import {
  ANSWER,
  CONTROL,
  MAILBOX_WORDS as W,
  WORKER_STATE,
  type VcpuWorkerFailure,
  type WorkerStateValue,
  controlCommand,
  isVcpuWorkerData,
} from './vcpu-mailbox.ts';
import { Vcpu } from './vcpu.ts';
import { portIoKey, type WorkerPortIoFactory, type WorkerPortIoHandler, type WorkerPortIoStats } from './worker-port-io.ts';
import { KVM_EXIT } from './kvm-ioctls.ts';

/** Port-I/O exits answered in this worker, by port: reported to the main thread at the end. */
const localCounts = new Map<string, number>();

function answeredHere(vcpu: Vcpu, portIo: WorkerPortIoHandler | null): boolean {
  if (portIo === null || vcpu.runPage.exitReason !== KVM_EXIT.KVM_EXIT_IO) return false;
  const exit = vcpu.runPage.decodeExit();
  if (exit.kind !== 'io' || !portIo.handle(exit)) return false;
  const key = portIoKey(exit);
  localCounts.set(key, (localCounts.get(key) ?? 0) + 1);
  return true;
}

/** Publishes a state the main thread must act on (an exit, parked, gone): wakes its pump. */
function setState(mb: Int32Array, state: WorkerStateValue): void {
  Atomics.store(mb, W.STATE, state);
  Atomics.add(mb, W.EVENTS, 1);
  Atomics.notify(mb, W.EVENTS);
}

/** Back to RUNNING: nothing for the main thread to do, so it is not woken for it. */
function setRunning(mb: Int32Array): void {
  Atomics.store(mb, W.STATE, WORKER_STATE.RUNNING);
}

/** Blocks while the command is PAUSE, acknowledging each pause request it parks under. */
function park(mb: Int32Array): void {
  for (;;) {
    const control = Atomics.load(mb, W.CONTROL);
    if (controlCommand(control) !== CONTROL.PAUSE) break;
    Atomics.store(mb, W.PAUSED_AT, control);
    setState(mb, WORKER_STATE.PAUSED);
    Atomics.wait(mb, W.CONTROL, control);
  }
  if (controlCommand(Atomics.load(mb, W.CONTROL)) === CONTROL.RUN) setRunning(mb);
}

/**
 * How long the worker polls for the main thread's answer before sleeping in Atomics.wait. A
 * futex sleep and wake-up costs ~45 us on this machine's nested hypervisor, more than a typical
 * handler takes, so a short poll (like KVM's halt polling) roughly halves the round trip; a slow
 * (async) handler costs at most this much CPU before the worker sleeps.
 */
const ANSWER_POLL_MS = 0.1;

/** Hands the exit in kvm_run to the main thread and blocks until it answers. */
function postExit(mb: Int32Array): number {
  Atomics.store(mb, W.ANSWER, ANSWER.NONE);
  Atomics.add(mb, W.EXIT_SEQ, 1);
  setState(mb, WORKER_STATE.EXIT_PENDING);
  const pollUntil = performance.now() + ANSWER_POLL_MS;
  while (Atomics.load(mb, W.ANSWER) === ANSWER.NONE && performance.now() < pollUntil);
  while (Atomics.load(mb, W.ANSWER) === ANSWER.NONE) Atomics.wait(mb, W.ANSWER, ANSWER.NONE);
  return Atomics.load(mb, W.ANSWER);
}

function runLoop(vcpu: Vcpu, mb: Int32Array, portIo: WorkerPortIoHandler | null): void {
  // After an answered exit the worker must enter KVM_RUN once before anything else: that call
  // completes the exit (copies IN data into the guest's registers, advances RIP). If a pause or
  // stop is pending, immediate_exit is already set and the call returns EINTR right after.
  let mustEnter = false;
  for (;;) {
    if (!mustEnter) {
      const command = controlCommand(Atomics.load(mb, W.CONTROL));
      if (command === CONTROL.STOP) return;
      if (command === CONTROL.PAUSE) {
        park(mb);
        continue;
      }
    }
    mustEnter = false;
    if (vcpu.enter() === 'intr') continue;
    if (answeredHere(vcpu, portIo)) {
      mustEnter = true;
      continue;
    }
    if (postExit(mb) === ANSWER.STOP) {
      // Leave the vCPU consistent for whoever inspects it after the stop.
      vcpu.runPage.immediateExit = true;
      vcpu.enter();
      return;
    }
    setRunning(mb);
    mustEnter = true;
  }
}

function failure(err: unknown): VcpuWorkerFailure {
  if (err instanceof KvmIoctlError) return { type: 'failed', name: err.name, message: err.message, ioctl: err.ioctl, errno: err.errno };
  if (err instanceof Error) return { type: 'failed', name: err.name, message: err.message };
  return { type: 'failed', name: 'Error', message: String(err) };
}

async function loadPortIo(spec: { readonly module: string; readonly config: unknown } | undefined, vcpuId: number): Promise<WorkerPortIoHandler | null> {
  if (spec === undefined) return null;
  const mod: unknown = await import(spec.module);
  const factory = (mod as { createWorkerPortIo?: unknown }).createWorkerPortIo;
  if (typeof factory !== 'function') throw new TypeError(`${spec.module} does not export createWorkerPortIo`);
  return (factory as WorkerPortIoFactory)(spec.config, vcpuId);
}

function postLocalCounts(): void {
  if (localCounts.size === 0) return;
  const stats: WorkerPortIoStats = { type: 'port-io-stats', counts: [...localCounts] };
  parentPort?.postMessage(stats);
}

async function main(): Promise<void> {
  if (!isVcpuWorkerData(workerData)) throw new TypeError('vcpu-worker started without VcpuWorkerData');
  const { vcpuFd, vcpuId, mmapSize } = workerData;
  const mb = new Int32Array(workerData.mailbox);
  let vcpu: Vcpu | null = null;
  try {
    const portIo = await loadPortIo(workerData.portIo, vcpuId);
    vcpu = Vcpu.borrow(vcpuFd, vcpuId, mmapSize);
    Atomics.store(mb, W.TID, currentThreadId());
    setState(mb, WORKER_STATE.RUNNING); // the main thread's `ready`
    runLoop(vcpu, mb, portIo);
    vcpu.close();
    postLocalCounts();
    setState(mb, WORKER_STATE.STOPPED);
  } catch (err) {
    vcpu?.close();
    postLocalCounts();
    // Post before publishing FAILED so the main thread has the reason when it sees the state.
    parentPort?.postMessage(failure(err));
    setState(mb, WORKER_STATE.FAILED);
  }
}

void main();

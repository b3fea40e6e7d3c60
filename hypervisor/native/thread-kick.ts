// Kicking a vCPU thread out of KVM_RUN. The main thread sets kvm_run.immediate_exit and sends the
// vCPU thread a signal: a signal that arrives while the thread is inside KVM_RUN makes it return
// EINTR, and immediate_exit covers the window where the signal lands just before the thread
// enters KVM_RUN (KVM then returns EINTR at once). This is how Firecracker and QEMU do it.
//
// The signal must have a handler: with the default action a real-time signal kills the process,
// and an ignored signal is discarded without interrupting anything. The handler must be native
// code (a JavaScript callback cannot run on a thread blocked in a koffi call, nor inside a signal
// handler), and it has nothing to do. So it is libc's `abs`: called as `void handler(int signo)`
// under the x86_64 SysV ABI it reads %edi, writes %eax (ignored by the kernel's signal return
// path), touches no memory and no errno, and is trivially async-signal-safe. Installing it is
// process-wide, and a stray kick delivered to any thread is therefore harmless.
//
// Invariants:
// - The handler address comes from dlsym(RTLD_DEFAULT, "abs") and is never called from here.
// - `struct sigaction` is built in a 152-byte buffer with glibc's x86_64 layout (checked against
//   <signal.h> in test/kvm-structs.test.ts).
// - The signal is SIGRTMIN (glibc's first free real-time signal); installation refuses to replace
//   a handler someone else installed for it.
import { currentSigrtmin, dlsym, errno, getpid, gettid, sigactionRaw, tgkill, NativeCallError } from './libc.ts';

/** glibc x86_64 `struct sigaction`: sa_handler @0, sa_mask (128 bytes) @8, sa_flags @136, sa_restorer @144. */
export const SIGACTION_LAYOUT = { size: 152, sa_handler: 0, sa_mask: 8, sa_flags: 136, sa_restorer: 144 } as const;
const SA_RESTART = 0x10000000;
const SIG_DFL = 0n;
const SIG_IGN = 1n;
const ESRCH = 3;

export class KickSignalInUseError extends Error {
  constructor(readonly signal: number) {
    super(`signal ${signal} (SIGRTMIN) already has a handler that is not xlts's vCPU kick handler`);
    this.name = 'KickSignalInUseError';
  }
}

let installed: number | null = null;

/** The no-op handler: libc's abs (see the module comment). */
function noopHandlerAddress(): bigint {
  const addr: unknown = dlsym(null, 'abs');
  if (typeof addr !== 'bigint' || addr === 0n) throw new NativeCallError('dlsym(abs)', 0);
  return addr;
}

/**
 * Installs the kick handler for SIGRTMIN (once per process; later calls return the same number).
 * Must be called before the first kickThread, from any thread.
 */
export function installKickSignal(): number {
  if (installed !== null) return installed;
  const signal = currentSigrtmin();
  const handler = noopHandlerAddress();
  const old = new Uint8Array(SIGACTION_LAYOUT.size);
  if (sigactionRaw(signal, null, old) < 0) throw new NativeCallError('sigaction(query)', errno());
  const oldHandler = new DataView(old.buffer).getBigUint64(SIGACTION_LAYOUT.sa_handler, true);
  if (oldHandler !== SIG_DFL && oldHandler !== SIG_IGN && oldHandler !== handler) throw new KickSignalInUseError(signal);
  const act = new Uint8Array(SIGACTION_LAYOUT.size);
  const view = new DataView(act.buffer);
  view.setBigUint64(SIGACTION_LAYOUT.sa_handler, handler, true);
  // SA_RESTART: a kick that lands while the thread is in some other restartable syscall (a futex
  // wait in Atomics.wait) restarts it. KVM_RUN returns plain -EINTR, which is never restarted.
  view.setInt32(SIGACTION_LAYOUT.sa_flags, SA_RESTART, true);
  if (sigactionRaw(signal, act, null) < 0) throw new NativeCallError('sigaction(install)', errno());
  installed = signal;
  return signal;
}

/** The calling thread's kernel thread id, for the thread that will later be kicked. */
export function currentThreadId(): number {
  return gettid();
}

/**
 * Sends the kick signal to thread `tid` of this process. A thread that already exited (ESRCH)
 * needs no kick, so that is not an error.
 */
export function kickThread(tid: number): void {
  const signal = installed ?? installKickSignal();
  if (tgkill(getpid(), tid, signal) < 0) {
    const e = errno();
    if (e !== ESRCH) throw new NativeCallError('tgkill', e);
  }
}

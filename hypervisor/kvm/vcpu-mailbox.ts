// The words a vCPU worker and the main thread share (one SharedArrayBuffer per vCPU), and what
// each side may write. Both sides only use Atomics on these words.
//
//   word        written by  meaning
//   CONTROL     main        the latest command, seq*4 + RUN/PAUSE/STOP: every command is a new
//                           value, so a worker parked in Atomics.wait(CONTROL) wakes for each one
//   STATE       worker      where the worker is: STARTING, RUNNING, EXIT_PENDING, PAUSED, STOPPED, FAILED
//   EVENTS      worker      bumped (and notified) after each STATE write the main thread acts on
//                           (first RUNNING, EXIT_PENDING, PAUSED, STOPPED, FAILED); it waits on it
//   EXIT_SEQ    worker      bumped before each EXIT_PENDING, so the main thread answers each exit once
//   ANSWER      both        NONE (worker, before posting an exit), RESUME or STOP (main, the answer)
//   TID         worker      the worker's kernel thread id, for kicks (0 until the worker runs)
//   PAUSED_AT   worker      the CONTROL value the worker parked under: a pause request is done
//                           when PAUSED_AT equals the CONTROL value it wrote
//
// An exit is handed over as: worker writes ANSWER=NONE, EXIT_SEQ+1, STATE=EXIT_PENDING, bumps
// EVENTS, then waits while ANSWER is NONE. The main thread decodes the exit from its own mapping
// of the same kvm_run page, handles it, writes ANSWER and notifies. Seq-cst Atomics on both sides
// order the kvm_run page contents (plain memory) with the handshake.

export const MAILBOX_WORDS = {
  CONTROL: 0,
  STATE: 1,
  EVENTS: 2,
  EXIT_SEQ: 3,
  ANSWER: 4,
  TID: 5,
  PAUSED_AT: 6,
} as const;

const MAILBOX_LENGTH = 8;

export const CONTROL = { RUN: 0, PAUSE: 1, STOP: 2 } as const;
export const WORKER_STATE = { STARTING: 0, RUNNING: 1, EXIT_PENDING: 2, PAUSED: 3, STOPPED: 4, FAILED: 5 } as const;
export const ANSWER = { NONE: 0, RESUME: 1, STOP: 2 } as const;

export type ControlValue = (typeof CONTROL)[keyof typeof CONTROL];
export type WorkerStateValue = (typeof WORKER_STATE)[keyof typeof WORKER_STATE];
export type AnswerValue = (typeof ANSWER)[keyof typeof ANSWER];

/** The command part of a CONTROL word. */
export function controlCommand(word: number): ControlValue {
  return (word & 3) as ControlValue;
}

/** The CONTROL word that follows `word` and carries `command`. */
export function nextControl(word: number, command: ControlValue): number {
  // Wraps within the positive int32 range; only equality of successive words matters.
  return ((((word >>> 2) + 1) & 0x1fff_ffff) << 2) | command;
}

export function createMailbox(initialCommand: ControlValue): Int32Array {
  const words = new Int32Array(new SharedArrayBuffer(MAILBOX_LENGTH * Int32Array.BYTES_PER_ELEMENT));
  Atomics.store(words, MAILBOX_WORDS.CONTROL, initialCommand);
  Atomics.store(words, MAILBOX_WORDS.PAUSED_AT, -1);
  return words;
}

/** What the main thread passes to the worker (structured-cloned; the SharedArrayBuffer is shared). */
export interface VcpuWorkerData {
  readonly vcpuFd: number;
  readonly vcpuId: number;
  readonly mmapSize: number;
  readonly mailbox: SharedArrayBuffer;
  /** Port I/O the worker answers itself (worker-port-io.ts), if any. */
  readonly portIo?: { readonly module: string; readonly config: unknown };
}

/** What a worker posts when it fails: enough to rebuild a typed error on the main thread. */
export interface VcpuWorkerFailure {
  readonly type: 'failed';
  readonly name: string;
  readonly message: string;
  readonly ioctl?: string;
  readonly errno?: number;
}

export function isVcpuWorkerData(value: unknown): value is VcpuWorkerData {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    Number.isInteger(v.vcpuFd) &&
    Number.isInteger(v.vcpuId) &&
    Number.isInteger(v.mmapSize) &&
    v.mailbox instanceof SharedArrayBuffer &&
    v.mailbox.byteLength >= MAILBOX_LENGTH * Int32Array.BYTES_PER_ELEMENT
  );
}

export function isVcpuWorkerFailure(value: unknown): value is VcpuWorkerFailure {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return v.type === 'failed' && typeof v.name === 'string' && typeof v.message === 'string';
}

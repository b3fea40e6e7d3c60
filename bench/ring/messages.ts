// What the benchmark's worker threads and child processes report back to the runner.
import type { EndStats } from './workload.ts';

/** Descriptor numbers a process end finds its eventfds at (the runner's stdio slots 3 and 4). */
export const FD_TO_BACK = 3;
export const FD_TO_FRONT = 4;

export type EndRole = 'front' | 'back';

/** One end's result: its counters, and (for the front) the wall time of the whole run. */
export interface EndReport {
  readonly role: EndRole;
  readonly stats: EndStats;
  /** From the start signal to this end's last entry, in nanoseconds. */
  readonly elapsedNs: number;
}

export type EndMessage =
  | { readonly kind: 'ready' }
  | { readonly kind: 'done'; readonly report: EndReport }
  | { readonly kind: 'failed'; readonly error: string };

/** Start data for a worker thread. */
export interface ThreadEndData {
  readonly role: EndRole;
  readonly ring: SharedArrayBuffer;
  readonly events: SharedArrayBuffer;
  readonly total: number;
  /** Where the ring's free-running indices start (RingAttachOptions.startIndex). */
  readonly startIndex: number;
}

export function isEndMessage(v: unknown): v is EndMessage {
  if (typeof v !== 'object' || v === null || !('kind' in v)) return false;
  const kind = (v as { kind: unknown }).kind;
  return kind === 'ready' || kind === 'done' || kind === 'failed';
}

// The request/response workload shared by the ring benchmark and the ring stress test: a front end
// that sends `total` numbered requests and a back end that echoes each one, over one shared ring.
// Both ends check every sequence number, so a run that completes has proven no request or response
// was lost, duplicated or reordered; the benchmark gets that proof for free and the stress test
// asserts it.
//
// Each end is a pair of methods a driver loop calls: work() does everything possible right now
// without blocking, finalCheck() is RING_FINAL_CHECK_FOR_*, arming the event index before the end
// goes to sleep. Who sleeps how (Atomics.wait, an eventfd read, nothing at all in the one-thread
// loop) is the driver's business; the ring only says when the peer must be notified, and the ends
// count those notifications.
//
// ring-bench.c implements the same workload in C over io/ring.h, so the two are comparable: same
// entry size, same batching (fill every free slot, then one push; take every published entry,
// then one push), same final-check discipline.
import type { BackRing, FrontRing } from '../../ring-buffer/index.ts';

/** blkif's ring entry size: the ring the project serves most, 32 slots in one page. */
export const BENCH_ENTRY_SIZE = 112;
/** One page, as blkfront uses by default. */
export const BENCH_RING_BYTES = 4096;

/** Word 1 of an entry is word 0 xor this, so a torn or stale slot cannot pass for a good one. */
const CHECK_XOR = 0x5a5a_a5a5;
/** Byte 8 of a response, set by the back end: an echoed request is not mistaken for its answer. */
export const RESPONSE_MARK = 0x52;

/** Something the driver calls when the ring says the peer must be woken. */
export interface Notify {
  (): void;
}

/** A sequence number arrived out of order, twice, corrupted, or not at all. */
export class SequenceError extends Error {
  override readonly name = 'SequenceError';
  constructor(
    readonly side: 'front' | 'back',
    readonly expected: number,
    detail: string,
  ) {
    super(`${side}: expected sequence number ${expected}, ${detail}`);
  }
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at] ?? 0) | ((b[at + 1] ?? 0) << 8) | ((b[at + 2] ?? 0) << 16) | ((b[at + 3] ?? 0) << 24)) >>> 0;
}

function writeU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = (v >>> 24) & 0xff;
}

/** What one end reports after a run. */
export interface EndStats {
  /** Entries this end produced (requests for the front, responses for the back). */
  readonly produced: number;
  /** Pushes after which the ring said the peer must be notified. */
  readonly notifications: number;
  /** Pushes (each publishes one batch). */
  readonly pushes: number;
}

/** The requesting end: sends 0..total-1, expects each back once, in order. */
export class WorkloadFront {
  private sent = 0;
  private received = 0;
  private notifications = 0;
  private pushes = 0;
  private readonly scratch: Uint8Array;
  private readonly inbox: Uint8Array;

  constructor(
    private readonly ring: FrontRing,
    readonly total: number,
    private readonly notify: Notify,
  ) {
    this.scratch = new Uint8Array(ring.entrySize);
    this.inbox = new Uint8Array(ring.entrySize);
  }

  get done(): boolean {
    return this.received === this.total;
  }

  /** Takes every published response, fills every free slot, pushes once. True if anything moved. */
  work(): boolean {
    const ring = this.ring;
    let moved = false;
    for (let n = ring.unconsumedResponses(); n > 0; n--) {
      const rsp = ring.takeResponse(this.inbox);
      const seq = readU32(rsp, 0);
      if (seq !== this.received || readU32(rsp, 4) !== (seq ^ CHECK_XOR) >>> 0 || rsp[8] !== RESPONSE_MARK) {
        throw new SequenceError('front', this.received, `got response ${seq} (check ${readU32(rsp, 4)}, mark ${rsp[8]})`);
      }
      this.received++;
      moved = true;
    }
    if (this.received > this.sent) throw new SequenceError('front', this.sent, 'more responses than requests');
    const scratch = this.scratch;
    let put = 0;
    while (this.sent < this.total && !ring.isFull()) {
      writeU32(scratch, 0, this.sent);
      writeU32(scratch, 4, (this.sent ^ CHECK_XOR) >>> 0);
      ring.putRequest(scratch);
      this.sent++;
      put++;
    }
    if (put > 0) {
      this.pushes++;
      if (ring.pushRequestsAndCheckNotify()) {
        this.notifications++;
        this.notify();
      }
      moved = true;
    }
    return moved;
  }

  /** RING_FINAL_CHECK_FOR_RESPONSES: true if a response slipped in while arming. */
  finalCheck(): boolean {
    return this.ring.finalCheckForResponses();
  }

  stats(): EndStats {
    return { produced: this.sent, notifications: this.notifications, pushes: this.pushes };
  }
}

/** The answering end: takes requests in order and echoes each as its response. */
export class WorkloadBack {
  private handled = 0;
  private notifications = 0;
  private pushes = 0;
  private readonly inbox: Uint8Array;

  constructor(
    private readonly ring: BackRing,
    readonly total: number,
    private readonly notify: Notify,
  ) {
    this.inbox = new Uint8Array(ring.entrySize);
  }

  get done(): boolean {
    return this.handled === this.total;
  }

  /** Takes every published request, answers each, pushes once. True if anything moved. */
  work(): boolean {
    const ring = this.ring;
    let answered = 0;
    for (let n = ring.unconsumedRequests(); n > 0; n--) {
      const req = ring.takeRequest(this.inbox);
      const seq = readU32(req, 0);
      if (seq !== this.handled || readU32(req, 4) !== (seq ^ CHECK_XOR) >>> 0) {
        throw new SequenceError('back', this.handled, `got request ${seq} (check ${readU32(req, 4)})`);
      }
      if (this.handled === this.total) throw new SequenceError('back', this.handled, 'more requests than the run sends');
      req[8] = RESPONSE_MARK;
      ring.putResponse(req);
      this.handled++;
      answered++;
    }
    if (answered === 0) return false;
    this.pushes++;
    if (ring.pushResponsesAndCheckNotify()) {
      this.notifications++;
      this.notify();
    }
    return true;
  }

  /** RING_FINAL_CHECK_FOR_REQUESTS: true if a request slipped in while arming. */
  finalCheck(): boolean {
    return this.ring.finalCheckForRequests();
  }

  stats(): EndStats {
    return { produced: this.handled, notifications: this.notifications, pushes: this.pushes };
  }
}

/** A way to sleep until the peer notifies, for one end of a two-sided run. */
export interface WaitChannel {
  /** Called before the final check; its result is handed to wait(), to close the lost-wakeup race. */
  prepare(): number;
  /** Blocks until notified since prepare() (or returns at once if that already happened). */
  wait(token: number): void;
}

/** Drives one end until it is done: work while there is work, then arm, re-check, sleep. */
export function runEnd(end: WorkloadFront | WorkloadBack, channel: WaitChannel): void {
  while (!end.done) {
    if (end.work()) continue;
    const token = channel.prepare();
    if (end.finalCheck()) continue;
    channel.wait(token);
  }
}

/**
 * Both ends in one thread, alternating: nobody sleeps, so each end arms its event only when it
 * finds nothing to do, exactly as it would before sleeping.
 */
export function runBothInOneThread(front: WorkloadFront, back: WorkloadBack): void {
  while (!front.done) {
    if (!front.work()) front.finalCheck();
    if (!back.work()) back.finalCheck();
  }
}

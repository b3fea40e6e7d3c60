// Stress test of ring-buffer/ under real concurrency: a front end and an echoing back end on two
// cores, 10^6 numbered requests and 10^6 responses, once in two worker threads over a
// SharedArrayBuffer (event channels: Atomics.wait/notify on a word per direction) and once in two
// processes over a /dev/shm file (event channels: eventfds, see bench/ring/event-channel.ts).
// Both ends check every sequence number as it arrives (bench/ring/workload.ts), so a run that
// completes proves nothing was lost, duplicated or reordered. The indices start half a run below
// 2^32, so the uint32 wrap-around happens while both ends are busy.
//
// Nothing here is timed: throughput is the benchmark's business (`xlts bench ring`). The
// notifications per request each run needed are recorded as test annotations.
import { describe, expect, it } from 'vitest';
import { BackRing, FrontRing, initSharedRing } from '../ring-buffer/index.ts';
import {
  type RunResult,
  notificationsPerRequest,
  runTsTwoProcesses,
  runTsTwoThreads,
} from '../bench/ring/runners.ts';
import {
  BENCH_ENTRY_SIZE,
  BENCH_RING_BYTES,
  RESPONSE_MARK,
  SequenceError,
  WorkloadBack,
  WorkloadFront,
  runBothInOneThread,
} from '../bench/ring/workload.ts';

/** The issue asks for 10^6 each way; about 2-3 s per run on this machine. */
const REQUESTS = 1_000_000;
/** The free-running indices pass 2^32 half-way through each run. */
const START_INDEX = 0x1_0000_0000 - REQUESTS / 2;
/** Hang guard only (kills the ends so none leaks); the test asserts no time. */
const WATCHDOG_MS = 150_000;
const TEST_TIMEOUT_MS = 180_000;

function expectLossless(r: RunResult): void {
  // Reaching here means every end saw 0..REQUESTS-1 exactly once and in order; check the totals too.
  expect(r.requests).toBe(REQUESTS);
  expect(r.front.produced).toBe(REQUESTS);
  expect(r.back.produced).toBe(REQUESTS);
  // A push can need at most one notification, and one batch never exceeds the ring.
  const slots = Math.floor((BENCH_RING_BYTES - 64) / BENCH_ENTRY_SIZE);
  for (const end of [r.front, r.back]) {
    expect(end.notifications).toBeLessThanOrEqual(end.pushes);
    expect(end.pushes).toBeGreaterThanOrEqual(Math.ceil(REQUESTS / slots));
    expect(end.pushes).toBeLessThanOrEqual(REQUESTS);
  }
}

function describeRun(r: RunResult): string {
  return (
    `${r.mode}: ${(notificationsPerRequest(r)).toFixed(4)} notifications per request ` +
    `(front ${r.front.notifications} in ${r.front.pushes} pushes, back ${r.back.notifications} in ${r.back.pushes} pushes)`
  );
}

describe('ring stress: 10^6 numbered requests each way across the 2^32 index wrap', () => {
  it(
    'two worker threads over a SharedArrayBuffer, Atomics.wait/notify event words',
    async ({ annotate }) => {
      const r = await runTsTwoThreads({ requests: REQUESTS, startIndex: START_INDEX, watchdogMs: WATCHDOG_MS });
      expectLossless(r);
      await annotate(describeRun(r));
    },
    TEST_TIMEOUT_MS,
  );

  it(
    'two processes over a /dev/shm ring file, eventfd event channels',
    async ({ annotate }) => {
      const r = await runTsTwoProcesses({ requests: REQUESTS, startIndex: START_INDEX, watchdogMs: WATCHDOG_MS });
      expectLossless(r);
      await annotate(describeRun(r));
    },
    TEST_TIMEOUT_MS,
  );
});

/**
 * The checker itself: a back end that drops, repeats or swaps a response must make the front end
 * fail with a SequenceError, or the runs above would prove nothing.
 */
describe('the stress workload detects loss, duplication and reordering', () => {
  type Fault = 'drop' | 'duplicate' | 'swap';

  /** A back end that answers faithfully except around request `at`. */
  function faultyBack(ring: BackRing, fault: Fault, at: number): () => void {
    let handled = 0;
    let held: Uint8Array | null = null;
    return () => {
      let answered = 0;
      for (let n = ring.unconsumedRequests(); n > 0; n--) {
        const req = ring.takeRequest();
        req[8] = RESPONSE_MARK;
        const seq = handled++;
        let out: Uint8Array[] = [req];
        if (fault === 'drop' && seq === at) out = [];
        if (fault === 'duplicate' && seq === at) held = req.slice();
        if (fault === 'duplicate' && seq === at + 1 && held !== null) out = [held];
        if (fault === 'swap' && seq === at) [held, out] = [req, []];
        if (fault === 'swap' && seq === at + 1 && held !== null) out = [req, held];
        for (const rsp of out) ring.putResponse(rsp);
        answered += out.length;
      }
      if (answered > 0) ring.pushResponses();
    };
  }

  /** Which sequence number the front end is waiting for when it notices. */
  const caughtAt: Record<Fault, number> = { drop: 500, duplicate: 501, swap: 500 };

  for (const fault of ['drop', 'duplicate', 'swap'] as const) {
    it(`a back end that ${fault === 'drop' ? 'drops' : fault === 'duplicate' ? 'repeats' : 'swaps'} one response is caught`, () => {
      const mem = new Uint8Array(BENCH_RING_BYTES);
      initSharedRing(mem);
      const front = new WorkloadFront(new FrontRing(mem, BENCH_ENTRY_SIZE), 1000, () => {});
      const back = faultyBack(new BackRing(mem, BENCH_ENTRY_SIZE), fault, 500);
      let error: unknown = null;
      try {
        for (let i = 0; i < 10_000 && !front.done; i++) {
          front.work();
          back();
        }
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(SequenceError);
      expect(error).toMatchObject({ side: 'front', expected: caughtAt[fault] });
    });
  }

  it('a faithful back end passes the same check', () => {
    const mem = new Uint8Array(BENCH_RING_BYTES);
    initSharedRing(mem);
    const front = new WorkloadFront(new FrontRing(mem, BENCH_ENTRY_SIZE), 1000, () => {});
    const back = new WorkloadBack(new BackRing(mem, BENCH_ENTRY_SIZE), 1000, () => {});
    runBothInOneThread(front, back);
    expect(front.stats().produced).toBe(1000);
    expect(back.stats().produced).toBe(1000);
  });
});

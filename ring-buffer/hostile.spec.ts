// A hostile peer writes whatever it likes into the shared page: random producer indices, random
// event indices, garbage entries. Thousands of seeded random runs check that our end
// - only ever fails with the typed, latched RingOverflowError, and fails exactly when the index
//   it read is impossible (checked against an independent BigInt oracle);
// - never reads a slot outside the ring nor writes outside its view (guard bytes around it);
// - never consumes more than the peer could legitimately have produced;
// - ends in RingOverflowError once the peer publishes an impossible index.
import { describe, expect, it } from 'vitest';
import { BackRing } from './back-ring.ts';
import { RingOverflowError } from './errors.ts';
import { FrontRing } from './front-ring.ts';
import { SRING_HEADER_SIZE, SRING_WORD, XEN_PAGE_SIZE, sringIndexWords } from './sring.ts';
import { prng } from './testing/prng.ts';

const GUARD = 256;
const GUARD_BYTE = 0x5a;
const TAG_MAGIC = 0x7a6b0000;
const ENTRY_SIZES = [4, 8, 12, 16, 36, 64, 112, 200, 1000];

/** Is `v` one of base, base+1, ..., base+span (mod 2^32)? Written with BigInt, apart from the code under test. */
function withinWindow(v: number, base: number, span: number): boolean {
  const m = 1n << 32n;
  const k = (((BigInt(v) - BigInt(base)) % m) + m) % m;
  return k <= BigInt(span);
}

interface Setup {
  rnd: () => number;
  whole: Uint8Array;
  mem: Uint8Array;
  words: Uint32Array;
  entrySize: number;
  size: number;
  start: number;
}

function setup(seed: number): Setup {
  const rnd = prng(seed);
  const entrySize = ENTRY_SIZES[rnd() % ENTRY_SIZES.length] ?? 16;
  const pages = 1 << (rnd() % 3);
  const bytes = pages * XEN_PAGE_SIZE;
  const whole = new Uint8Array(new SharedArrayBuffer(bytes + 2 * GUARD)).fill(GUARD_BYTE);
  const mem = whole.subarray(GUARD, GUARD + bytes);
  // Half the runs start within a few hundred entries of the 2^32 wrap.
  const start = rnd() % 2 === 0 ? (0xffffffff - (rnd() % 300)) >>> 0 : rnd();
  const words = sringIndexWords(mem);
  Atomics.store(words, SRING_WORD.req_prod, start);
  Atomics.store(words, SRING_WORD.rsp_prod, start);
  Atomics.store(words, SRING_WORD.req_event, (start + 1) >>> 0);
  Atomics.store(words, SRING_WORD.rsp_event, (start + 1) >>> 0);
  const size = new BackRing(mem, entrySize).size;
  tagSlots(mem, entrySize, size);
  return { rnd, whole, mem, words, entrySize, size, start };
}

/** Stamps each slot's first word with its slot number, so a copy shows where it was read from. */
function tagSlots(mem: Uint8Array, entrySize: number, size: number): void {
  const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  for (let s = 0; s < size; s++) dv.setUint32(SRING_HEADER_SIZE + s * entrySize, TAG_MAGIC | s, true);
}

/** An entry that keeps the tag of the slot it will be written into. */
function taggedEntry(idx: number, size: number): Uint8Array {
  const e = new Uint8Array(4);
  new DataView(e.buffer).setUint32(0, (TAG_MAGIC | (idx & (size - 1))) >>> 0, true);
  return e;
}

function scribbleEntries(st: Setup): void {
  // Garbage everywhere in a slot but its tag word; entries are opaque to the ring.
  for (let n = st.rnd() % 8; n > 0; n--) {
    const slot = st.rnd() % st.size;
    const off = SRING_HEADER_SIZE + slot * st.entrySize + 4 + (st.rnd() % Math.max(1, st.entrySize - 4));
    if (off < SRING_HEADER_SIZE + (slot + 1) * st.entrySize) st.mem[off] = st.rnd() & 0xff;
  }
}

/** A plain assertion for the hot loops: vitest's expect costs too much per entry here. */
function check(cond: boolean, what: string): void {
  if (!cond) throw new Error(`hostile ring invariant broken: ${what}`);
}

function expectTag(entry: Uint8Array, idx: number, size: number): void {
  check(entry.byteLength >= 4, 'entry shorter than its tag');
  const tag = new DataView(entry.buffer, entry.byteOffset, 4).getUint32(0, true);
  check(tag === (TAG_MAGIC | (idx & (size - 1))) >>> 0, `entry ${idx} copied from slot ${tag & 0xffff}, not ${idx & (size - 1)}`);
}

function guardsIntact(st: Setup): boolean {
  const n = st.whole.byteLength;
  for (let i = 0; i < GUARD; i++) if (st.whole[i] !== GUARD_BYTE || st.whole[n - 1 - i] !== GUARD_BYTE) return false;
  return true;
}

/** Runs `op`; returns the error it threw, insisting that any error is the typed overflow. */
function attempt(op: () => void): RingOverflowError | null {
  try {
    op();
    return null;
  } catch (e) {
    if (!(e instanceof RingOverflowError)) throw e;
    return e;
  }
}

const TRIALS = 3000;
const STEPS = 40;

describe('hostile front end against BackRing', () => {
  it(`survives ${TRIALS} random runs with only RingOverflowError, exactly when deserved`, () => {
    let overflows = 0;
    let taken = 0;
    let legalSteps = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const st = setup(0xb4c0 + trial);
      const back = new BackRing(st.mem, st.entrySize, { startIndex: st.start });
      let published = st.start;
      let latched: RingOverflowError | null = null;
      for (let step = 0; step < STEPS && latched === null; step++) {
        // The peer moves: mostly plausible producers, sometimes anything at all.
        const r = st.rnd() % 10;
        if (r < 6) published = (back.reqCons + (st.rnd() % (st.size + 2))) >>> 0;
        else if (r < 8) published = st.rnd();
        else if (r < 9) published = (back.rspProdPvt + st.size + 1 + (st.rnd() % 4)) >>> 0;
        Atomics.store(st.words, SRING_WORD.req_prod, published);
        if (st.rnd() % 3 === 0) Atomics.store(st.words, SRING_WORD.req_event, st.rnd());
        if (st.rnd() % 3 === 0) Atomics.store(st.words, SRING_WORD.rsp_prod, st.rnd());
        if (st.rnd() % 3 === 0) Atomics.store(st.words, SRING_WORD.rsp_event, st.rnd());
        scribbleEntries(st);

        const committed = (back.reqCons - back.rspProdPvt) >>> 0;
        const legal = withinWindow(published, back.reqCons, st.size - committed);
        let count = 0;
        const err = attempt(() => {
          count = st.rnd() % 2 === 0 ? back.unconsumedRequests() : back.finalCheckForRequests() ? back.unconsumedRequests() : 0;
        });
        check((err === null) === legal, `req_prod ${published} legal=${legal} but err=${String(err)}`);
        if (err !== null) {
          latched = err;
          check(err.index === 'req_prod' && err.observed === published, 'error fields');
          break;
        }
        check(count === (published - back.reqCons) >>> 0, 'request count');
        legalSteps++;
        // Take some of what is there; answer some of what was taken.
        for (let n = st.rnd() % (count + 1); n > 0; n--) {
          const idx = back.reqCons;
          expectTag(back.takeRequest(), idx, st.size);
          taken++;
        }
        for (let n = st.rnd() % (((back.reqCons - back.rspProdPvt) >>> 0) + 1); n > 0; n--) {
          back.putResponse(taggedEntry(back.rspProdPvt, st.size));
        }
        if (st.rnd() % 2 === 0) back.pushResponsesAndCheckNotify();
        else back.pushResponses();
        // Our own invariants hold whatever the peer did.
        check((back.reqCons - back.rspProdPvt) >>> 0 <= st.size, 'more requests taken than slots');
        check(guardsIntact(st), 'guard bytes');
      }
      if (latched === null) {
        // The run ends with an impossible producer: the back end must say so.
        Atomics.store(st.words, SRING_WORD.req_prod, (back.reqCons - 1) >>> 0);
        latched = attempt(() => back.unconsumedRequests());
        expect(latched).toBeInstanceOf(RingOverflowError);
      }
      overflows++;
      // Latched: a sane index does not revive it, and nothing else is thrown.
      Atomics.store(st.words, SRING_WORD.req_prod, back.reqCons);
      expect(attempt(() => back.takeRequest())).toBe(latched);
      expect(attempt(() => back.finalCheckForRequests())).toBe(latched);
      expect(back.error).toBe(latched);
      expect(guardsIntact(st)).toBe(true);
    }
    expect(overflows).toBe(TRIALS);
    // The runs did real work between the lies, not just fail at once.
    expect(legalSteps).toBeGreaterThan(TRIALS);
    expect(taken).toBeGreaterThan(10 * TRIALS);
  });
});

describe('hostile back end against FrontRing', () => {
  it(`survives ${TRIALS} random runs with only RingOverflowError, exactly when deserved`, () => {
    let taken = 0;
    let legalSteps = 0;
    for (let trial = 0; trial < TRIALS; trial++) {
      const st = setup(0xf00d + trial);
      const front = new FrontRing(st.mem, st.entrySize, { startIndex: st.start });
      let pushed = st.start;
      let published = st.start;
      let latched: RingOverflowError | null = null;
      for (let step = 0; step < STEPS && latched === null; step++) {
        // Our front end queues some requests and pushes them.
        for (let n = st.rnd() % (front.freeRequests() + 1); n > 0; n--) front.putRequest(taggedEntry(front.reqProdPvt, st.size));
        if (st.rnd() % 2 === 0) front.pushRequestsAndCheckNotify();
        else front.pushRequests();
        pushed = front.reqProdPvt;

        const r = st.rnd() % 10;
        if (r < 6) published = (front.rspCons + (st.rnd() % (((pushed - front.rspCons) >>> 0) + 2))) >>> 0;
        else if (r < 8) published = st.rnd();
        else if (r < 9) published = (front.rspCons - 1 - (st.rnd() % 4)) >>> 0;
        Atomics.store(st.words, SRING_WORD.rsp_prod, published);
        if (st.rnd() % 3 === 0) Atomics.store(st.words, SRING_WORD.rsp_event, st.rnd());
        if (st.rnd() % 3 === 0) Atomics.store(st.words, SRING_WORD.req_prod, st.rnd());
        if (st.rnd() % 3 === 0) Atomics.store(st.words, SRING_WORD.req_event, st.rnd());
        scribbleEntries(st);

        const legal = withinWindow(published, front.rspCons, (pushed - front.rspCons) >>> 0);
        let count = 0;
        const err = attempt(() => {
          count = st.rnd() % 2 === 0 ? front.unconsumedResponses() : front.finalCheckForResponses() ? front.unconsumedResponses() : 0;
        });
        check((err === null) === legal, `rsp_prod ${published} legal=${legal} but err=${String(err)}`);
        if (err !== null) {
          latched = err;
          check(err.index === 'rsp_prod' && err.observed === published, 'error fields');
          break;
        }
        check(count === (published - front.rspCons) >>> 0, 'response count');
        legalSteps++;
        for (let n = st.rnd() % (count + 1); n > 0; n--) {
          const idx = front.rspCons;
          expectTag(front.takeResponse(), idx, st.size);
          taken++;
        }
        check(front.freeRequests() >= 0 && front.freeRequests() <= st.size, 'free requests out of range');
        check(guardsIntact(st), 'guard bytes');
      }
      if (latched === null) {
        Atomics.store(st.words, SRING_WORD.rsp_prod, (pushed + 1) >>> 0);
        latched = attempt(() => front.unconsumedResponses());
        expect(latched).toBeInstanceOf(RingOverflowError);
      }
      Atomics.store(st.words, SRING_WORD.rsp_prod, front.rspCons);
      expect(attempt(() => front.takeResponse())).toBe(latched);
      expect(attempt(() => front.putRequest(new Uint8Array(1)))).toBe(latched);
      expect(front.error).toBe(latched);
      expect(guardsIntact(st)).toBe(true);
    }
    expect(legalSteps).toBeGreaterThan(TRIALS);
    expect(taken).toBeGreaterThan(10 * TRIALS);
  });
});

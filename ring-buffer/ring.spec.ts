// FrontRing and BackRing together: every io/ring.h rule, checked through both ends of one page.
import { describe, expect, it } from 'vitest';
import { BackRing } from './back-ring.ts';
import { RingEmptyError, RingFullError, RingLayoutError, RingOverflowError } from './errors.ts';
import { FrontRing } from './front-ring.ts';
import { SRING_WORD, XEN_PAGE_SIZE, initSharedRing, readSharedIndices, ringBytesForPageOrder, sringIndexWords } from './sring.ts';

const ENTRY = 16;

function entry(tag: number, size = ENTRY): Uint8Array {
  const e = new Uint8Array(size);
  new DataView(e.buffer).setUint32(0, tag >>> 0, true);
  e.fill(tag & 0xff, 4);
  return e;
}

function tagOf(e: Uint8Array): number {
  return new DataView(e.buffer, e.byteOffset, e.byteLength).getUint32(0, true);
}

function pair(bytes = XEN_PAGE_SIZE, entrySize = ENTRY, startIndex = 0, shared = true) {
  const mem = new Uint8Array(shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes));
  initSharedRing(mem);
  if (startIndex !== 0) {
    // Reattach both ends to a ring whose producers already stand at startIndex.
    const w = sringIndexWords(mem);
    Atomics.store(w, SRING_WORD.req_prod, startIndex);
    Atomics.store(w, SRING_WORD.rsp_prod, startIndex);
    Atomics.store(w, SRING_WORD.req_event, (startIndex + 1) >>> 0);
    Atomics.store(w, SRING_WORD.rsp_event, (startIndex + 1) >>> 0);
  }
  const front = new FrontRing(mem, entrySize, { startIndex });
  const back = new BackRing(mem, entrySize, { startIndex });
  return { mem, front, back, words: sringIndexWords(mem) };
}

/** The back end answers every waiting request with the request's tag + 1000. */
function serveAll(back: BackRing): number {
  let n = 0;
  while (back.unconsumedRequests() > 0) {
    const req = back.takeRequest();
    back.putResponse(entry(tagOf(req) + 1000));
    n++;
  }
  back.pushResponses();
  return n;
}

describe('FrontRing / BackRing round trip', () => {
  for (const shared of [true, false]) {
    it(`carries requests and responses in order (${shared ? 'SharedArrayBuffer' : 'ArrayBuffer'})`, () => {
      const { front, back } = pair(XEN_PAGE_SIZE, ENTRY, 0, shared);
      expect(front.size).toBe(128); // (4096-64)/16 = 252 -> 128
      expect(back.size).toBe(128);
      for (let i = 0; i < 5; i++) front.putRequest(entry(i));
      expect(back.unconsumedRequests()).toBe(0); // not pushed yet
      front.pushRequests();
      expect(back.unconsumedRequests()).toBe(5);
      expect(serveAll(back)).toBe(5);
      expect(front.unconsumedResponses()).toBe(5);
      const tags = Array.from({ length: 5 }, () => tagOf(front.takeResponse()));
      expect(tags).toEqual([1000, 1001, 1002, 1003, 1004]);
      expect(front.unconsumedResponses()).toBe(0);
    });
  }

  it('hands out private copies the peer cannot change afterwards', () => {
    const { mem, front, back } = pair();
    front.putRequest(entry(7));
    front.pushRequests();
    const req = back.takeRequest();
    mem.fill(0xee, 64, 64 + ENTRY);
    expect(tagOf(req)).toBe(7);
    expect(req.buffer).not.toBe(mem.buffer);
    expect(req.byteLength).toBe(ENTRY);
  });

  it('writes only the given bytes of a shorter entry, like a C struct assignment', () => {
    const { mem, front, back } = pair();
    front.putRequest(entry(0x01020304));
    front.pushRequests();
    back.takeRequest();
    back.putResponse(Uint8Array.of(9, 9));
    back.pushResponses();
    expect([...mem.subarray(64, 68)]).toEqual([9, 9, 2, 1]);
    expect(() => back.putResponse(new Uint8Array(ENTRY + 1))).toThrow(RingFullError);
  });

  it('refuses an entry larger than a slot', () => {
    const { front } = pair();
    expect(() => front.putRequest(new Uint8Array(ENTRY + 1))).toThrow(RingLayoutError);
  });

  it('reports empty rings with RingEmptyError', () => {
    const { front, back } = pair();
    expect(() => back.takeRequest()).toThrow(RingEmptyError);
    expect(() => front.takeResponse()).toThrow(RingEmptyError);
  });

  it('refuses a response with no consumed request to answer', () => {
    const { front, back } = pair();
    expect(() => back.putResponse(entry(1))).toThrow(RingFullError);
    front.putRequest(entry(1));
    front.pushRequests();
    back.takeRequest();
    back.putResponse(entry(2));
    expect(() => back.putResponse(entry(3))).toThrow(RingFullError);
  });
});

describe('full ring and free requests', () => {
  it('counts free slots down to RING_FULL and back up as responses are taken', () => {
    const { front, back } = pair(XEN_PAGE_SIZE, 64); // 63 fit -> 32
    expect(front.size).toBe(32);
    expect(front.freeRequests()).toBe(32);
    for (let i = 0; i < 32; i++) {
      expect(front.isFull()).toBe(false);
      front.putRequest(entry(i, 64));
    }
    expect(front.freeRequests()).toBe(0);
    expect(front.isFull()).toBe(true);
    expect(() => front.putRequest(entry(99, 64))).toThrow(RingFullError);
    front.pushRequests();
    expect(back.unconsumedRequests()).toBe(32);
    // Responses pushed but not yet taken still occupy their slots.
    serveAll(back);
    expect(front.isFull()).toBe(true);
    front.takeResponse();
    expect(front.freeRequests()).toBe(1);
    front.putRequest(entry(32, 64));
    expect(front.isFull()).toBe(true);
  });

  it('never lets the back end see more requests than slots free of unpushed responses', () => {
    // RING_HAS_UNCONSUMED_REQUESTS' min(): requests the back end took and has not answered
    // hold slots; a well-behaved front cannot have produced into them.
    const { front, back } = pair(XEN_PAGE_SIZE, 64);
    for (let i = 0; i < 32; i++) front.putRequest(entry(i, 64));
    front.pushRequests();
    for (let i = 0; i < 10; i++) back.takeRequest();
    expect(back.unconsumedRequests()).toBe(22);
  });
});

describe('notification rules (event indices)', () => {
  it('notifies the first request on a fresh ring (req_event = 1) and not the second', () => {
    const { front } = pair();
    front.putRequest(entry(0));
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    front.putRequest(entry(1));
    expect(front.pushRequestsAndCheckNotify()).toBe(false); // back end has not re-armed
  });

  it('does not notify when nothing new is pushed', () => {
    const { front } = pair();
    expect(front.pushRequestsAndCheckNotify()).toBe(false);
    front.putRequest(entry(0));
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    expect(front.pushRequestsAndCheckNotify()).toBe(false);
  });

  it('notifies a batch that crosses req_event, and not one that stops short of it', () => {
    const { front, words } = pair();
    Atomics.store(words, SRING_WORD.req_event, 5); // wake me when request #4 (index 4) arrives
    for (let i = 0; i < 4; i++) front.putRequest(entry(i));
    expect(front.pushRequestsAndCheckNotify()).toBe(false); // pushed indices 0..3, event wants new >= 5
    front.putRequest(entry(4));
    expect(front.pushRequestsAndCheckNotify()).toBe(true); // new = 5 reaches req_event
    Atomics.store(words, SRING_WORD.req_event, 7);
    for (let i = 5; i < 10; i++) front.putRequest(entry(i));
    expect(front.pushRequestsAndCheckNotify()).toBe(true); // (5, 10] contains 7
  });

  it('does not notify when req_event lies behind the old producer', () => {
    const { front, words } = pair();
    for (let i = 0; i < 3; i++) front.putRequest(entry(i));
    front.pushRequests();
    Atomics.store(words, SRING_WORD.req_event, 2); // already passed
    front.putRequest(entry(3));
    expect(front.pushRequestsAndCheckNotify()).toBe(false);
  });

  it('finalCheckForRequests reports pending work without touching req_event', () => {
    const { front, back, words } = pair();
    front.putRequest(entry(0));
    front.pushRequests();
    Atomics.store(words, SRING_WORD.req_event, 77);
    expect(back.finalCheckForRequests()).toBe(true);
    expect(Atomics.load(words, SRING_WORD.req_event)).toBe(77);
  });

  it('finalCheckForRequests arms req_event at req_cons + 1 so the next push notifies', () => {
    const { front, back, words } = pair();
    front.putRequest(entry(0));
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
    front.putRequest(entry(1));
    expect(front.pushRequestsAndCheckNotify()).toBe(false);
    serveAll(back);
    expect(back.finalCheckForRequests()).toBe(false);
    expect(Atomics.load(words, SRING_WORD.req_event)).toBe(3);
    front.putRequest(entry(2));
    expect(front.pushRequestsAndCheckNotify()).toBe(true);
  });

  it('finalCheckForRequests sees a request published before it armed the event', () => {
    const { front, back } = pair();
    front.putRequest(entry(0));
    front.pushRequests();
    expect(back.finalCheckForRequests()).toBe(true);
  });

  it('response notification mirrors request notification', () => {
    const { front, back, words } = pair();
    for (let i = 0; i < 6; i++) front.putRequest(entry(i));
    front.pushRequests();
    back.takeRequest();
    back.putResponse(entry(0));
    expect(back.pushResponsesAndCheckNotify()).toBe(true); // rsp_event = 1
    back.takeRequest();
    back.putResponse(entry(1));
    expect(back.pushResponsesAndCheckNotify()).toBe(false);
    expect(back.pushResponsesAndCheckNotify()).toBe(false); // nothing new
    // The front drains and re-arms: rsp_event = rsp_cons + 1.
    front.takeResponse();
    front.takeResponse();
    expect(front.finalCheckForResponses()).toBe(false);
    expect(Atomics.load(words, SRING_WORD.rsp_event)).toBe(3);
    back.takeRequest();
    back.putResponse(entry(2));
    expect(back.pushResponsesAndCheckNotify()).toBe(true);
    // A front that wants batches puts rsp_event further out.
    Atomics.store(words, SRING_WORD.rsp_event, 5);
    back.takeRequest();
    back.putResponse(entry(3));
    expect(back.pushResponsesAndCheckNotify()).toBe(false); // (3, 4] does not hold 5
    back.takeRequest();
    back.putResponse(entry(4));
    expect(back.pushResponsesAndCheckNotify()).toBe(true); // (4, 5] does
  });

  it('finalCheckForResponses reports pending responses without touching rsp_event', () => {
    const { front, back, words } = pair();
    front.putRequest(entry(0));
    front.pushRequests();
    serveAll(back);
    Atomics.store(words, SRING_WORD.rsp_event, 42);
    expect(front.finalCheckForResponses()).toBe(true);
    expect(Atomics.load(words, SRING_WORD.rsp_event)).toBe(42);
  });
});

describe('free-running indices wrap at 2^32', () => {
  const START = 0xffffffff - 40;

  it('keeps working and counting across the wrap', () => {
    const { mem, front, back } = pair(XEN_PAGE_SIZE, ENTRY, START);
    let sent = 0;
    let received = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 7; i++) front.putRequest(entry(sent++));
      front.pushRequests();
      expect(back.unconsumedRequests()).toBe(7);
      serveAll(back);
      expect(front.unconsumedResponses()).toBe(7);
      while (front.unconsumedResponses() > 0) expect(tagOf(front.takeResponse())).toBe(1000 + received++);
    }
    expect(front.reqProdPvt).toBe((START + 140) >>> 0);
    expect(front.reqProdPvt).toBeLessThan(START);
    expect(back.reqCons).toBe(front.reqProdPvt);
    expect(readSharedIndices(mem)).toMatchObject({ reqProd: front.reqProdPvt, rspProd: front.reqProdPvt });
  });

  it('notifies when the event index sits just past the wrap', () => {
    const start = 0xfffffffe;
    const { front, back, words } = pair(XEN_PAGE_SIZE, ENTRY, start);
    Atomics.store(words, SRING_WORD.req_event, 1); // wants the request that makes req_prod 1
    for (let i = 0; i < 2; i++) front.putRequest(entry(i));
    expect(front.pushRequestsAndCheckNotify()).toBe(false); // req_prod now 0
    front.putRequest(entry(2));
    expect(front.pushRequestsAndCheckNotify()).toBe(true); // (0, 1]
    serveAll(back);
    while (front.unconsumedResponses() > 0) front.takeResponse();
    expect(front.finalCheckForResponses()).toBe(false);
    expect(Atomics.load(words, SRING_WORD.rsp_event)).toBe(2);
  });

  it('reports full and free correctly when the private indices straddle 0', () => {
    const { front, back } = pair(XEN_PAGE_SIZE, 64, 0xfffffff0);
    for (let i = 0; i < 32; i++) front.putRequest(entry(i, 64));
    expect(front.reqProdPvt).toBe(0x10);
    expect(front.isFull()).toBe(true);
    front.pushRequests();
    expect(back.unconsumedRequests()).toBe(32);
  });
});

describe('multi-page rings', () => {
  it('spreads slots over 2^order pages and reaches the last one', () => {
    const order = 2;
    const big = new Uint8Array(new SharedArrayBuffer(ringBytesForPageOrder(order) + XEN_PAGE_SIZE)).fill(0xcc);
    const mem = big.subarray(0, ringBytesForPageOrder(order));
    initSharedRing(mem);
    const front = new FrontRing(big, 112, { pages: 4 });
    const back = new BackRing(big, 112, { pages: 4 });
    expect(front.size).toBe(128);
    for (let i = 0; i < 128; i++) front.putRequest(entry(i, 112));
    front.pushRequests();
    for (let i = 0; i < 128; i++) expect(tagOf(back.takeRequest())).toBe(i);
    // The last slot ends inside page 3, and the page after the ring is untouched.
    expect(64 + 128 * 112).toBeGreaterThan(3 * XEN_PAGE_SIZE);
    expect(big.subarray(4 * XEN_PAGE_SIZE).every((b) => b === 0xcc)).toBe(true);
  });
});

describe('overflow detection', () => {
  it('RING_REQUEST_PROD_OVERFLOW: more requests than the ring holds', () => {
    const { back, words } = pair(XEN_PAGE_SIZE, 64);
    Atomics.store(words, SRING_WORD.req_prod, 32);
    expect(back.unconsumedRequests()).toBe(32); // exactly full is legal
    Atomics.store(words, SRING_WORD.req_prod, 33);
    const err = (() => {
      try {
        back.unconsumedRequests();
      } catch (e) {
        return e;
      }
      return null;
    })();
    expect(err).toBeInstanceOf(RingOverflowError);
    const o = err as RingOverflowError;
    expect([o.index, o.observed, o.min, o.max, o.ringSize]).toEqual(['req_prod', 33, 0, 32, 32]);
  });

  it('counts unanswered requests against the ring: rsp_prod_pvt + size is the limit', () => {
    const { back, words } = pair(XEN_PAGE_SIZE, 64);
    Atomics.store(words, SRING_WORD.req_prod, 32);
    for (let i = 0; i < 10; i++) back.takeRequest();
    for (let i = 0; i < 4; i++) back.putResponse(entry(i, 64));
    Atomics.store(words, SRING_WORD.req_prod, 36); // four slots freed by responses
    expect(back.unconsumedRequests()).toBe(26);
    Atomics.store(words, SRING_WORD.req_prod, 37);
    expect(() => back.unconsumedRequests()).toThrow(RingOverflowError);
  });

  it('a req_prod that goes back behind req_cons is an overflow, not 4 billion requests', () => {
    const { back, words } = pair();
    Atomics.store(words, SRING_WORD.req_prod, 5);
    for (let i = 0; i < 5; i++) back.takeRequest();
    Atomics.store(words, SRING_WORD.req_prod, 3);
    expect(() => back.unconsumedRequests()).toThrow(RingOverflowError);
  });

  it('latches: every later call throws the same error, even once the index looks sane again', () => {
    const { back, words } = pair();
    Atomics.store(words, SRING_WORD.req_prod, 0x80000000);
    let first: unknown = null;
    try {
      back.finalCheckForRequests();
    } catch (e) {
      first = e;
    }
    expect(first).toBeInstanceOf(RingOverflowError);
    expect(back.error).toBe(first);
    Atomics.store(words, SRING_WORD.req_prod, 0);
    for (const call of [
      () => back.unconsumedRequests(),
      () => back.takeRequest(),
      () => back.putResponse(entry(0)),
      () => back.pushResponses(),
      () => back.pushResponsesAndCheckNotify(),
      () => back.finalCheckForRequests(),
    ]) {
      expect(call).toThrow(first as Error);
    }
  });

  it('front end: rsp_prod may not claim more responses than requests pushed', () => {
    const { front, words } = pair();
    for (let i = 0; i < 3; i++) front.putRequest(entry(i));
    front.pushRequests();
    front.putRequest(entry(3)); // not pushed: the back end cannot have answered it
    Atomics.store(words, SRING_WORD.rsp_prod, 3);
    expect(front.unconsumedResponses()).toBe(3);
    Atomics.store(words, SRING_WORD.rsp_prod, 4);
    let err: unknown = null;
    try {
      front.unconsumedResponses();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RingOverflowError);
    const o = err as RingOverflowError;
    expect([o.index, o.observed, o.min, o.max]).toEqual(['rsp_prod', 4, 0, 3]);
    expect(front.error).toBe(err);
    expect(() => front.takeResponse()).toThrow(RingOverflowError);
    expect(() => front.putRequest(entry(9))).toThrow(RingOverflowError);
    expect(() => front.pushRequestsAndCheckNotify()).toThrow(RingOverflowError);
    expect(() => front.finalCheckForResponses()).toThrow(RingOverflowError);
  });

  it('front end: a rsp_prod behind rsp_cons is an overflow', () => {
    const { front, back, words } = pair();
    for (let i = 0; i < 3; i++) front.putRequest(entry(i));
    front.pushRequests();
    serveAll(back);
    for (let i = 0; i < 3; i++) front.takeResponse();
    Atomics.store(words, SRING_WORD.rsp_prod, 1);
    expect(() => front.finalCheckForResponses()).toThrow(RingOverflowError);
  });

  it('takeResponse validates rsp_prod itself when nothing was counted first', () => {
    const { front, words } = pair();
    front.putRequest(entry(0));
    front.pushRequests();
    Atomics.store(words, SRING_WORD.rsp_prod, 0xdeadbeef);
    expect(() => front.takeResponse()).toThrow(RingOverflowError);
  });
});

describe('copy into a caller buffer', () => {
  it('takeRequest/takeResponse fill the given buffer and reject one too small', () => {
    const mem = new Uint8Array(4096);
    initSharedRing(mem);
    const front = new FrontRing(mem, 16);
    const back = new BackRing(mem, 16);
    front.putRequest(Uint8Array.from({ length: 16 }, (_, i) => i + 1));
    front.pushRequests();
    const into = new Uint8Array(16);
    expect(() => back.takeRequest(new Uint8Array(8))).toThrow(/cannot hold/);
    const req = back.takeRequest(into);
    expect(req).toBe(into);
    expect([...into]).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    // The copy is private: changing the shared slot afterwards does not reach it.
    mem.fill(0xee, 64, 80);
    expect(into[0]).toBe(1);
    back.putResponse(Uint8Array.of(9, 9, 9, 9));
    back.pushResponses();
    const rsp = front.takeResponse(new Uint8Array(32));
    expect([...rsp.subarray(0, 4)]).toEqual([9, 9, 9, 9]);
  });
});

// The front end of a shared ring (io/ring.h FRONT_RING_*): it produces requests and consumes
// responses. The ring is pure: it never notifies anyone, it returns whether the peer needs a
// notification and the caller sends it over whatever event channel it has.
//
// Trust: the back end may write anything into the shared page at any time. We read rsp_prod once
// per check into a local, validate it against our private indices (it must lie between rsp_cons
// and the last req_prod we pushed), and latch a RingOverflowError if it does not. Entries are
// copied out once and only then handed to the caller. The event indices are only ever compared,
// so a garbage event index costs at most a spurious or missed notification of the liar itself.
import { RingEmptyError, RingFullError, RingOverflowError } from './errors.ts';
import {
  type RingAttachOptions,
  type RingGeometry,
  SRING_WORD,
  idxAdd,
  idxDistance,
  readSlot,
  ringGeometry,
  writeSlot,
} from './sring.ts';

export class FrontRing {
  /** RING_SIZE: entries in the ring, a power of two. */
  readonly size: number;
  /** req_prod_pvt: next request slot we fill; published by pushRequests. */
  reqProdPvt: number;
  /** rsp_cons: next response we take. */
  rspCons: number;

  private readonly g: RingGeometry;
  /** The req_prod we last published: the back end cannot answer more requests than this. */
  private reqPushed: number;
  /** The last validated rsp_prod, so takeResponse needs no shared read while it is ahead. */
  private seenRspProd: number;
  private latched: RingOverflowError | null = null;

  /** FRONT_RING_ATTACH: reads nothing shared. Call initSharedRing first on a fresh page. */
  constructor(mem: Uint8Array, entrySize: number, options: RingAttachOptions = {}) {
    this.g = ringGeometry(mem, entrySize, options);
    this.size = this.g.size;
    this.reqProdPvt = this.g.startIndex;
    this.rspCons = this.g.startIndex;
    this.reqPushed = this.g.startIndex;
    this.seenRspProd = this.g.startIndex;
  }

  /** Bytes per slot. */
  get entrySize(): number {
    return this.g.entrySize;
  }

  /** The latched protocol error, once the back end has published an impossible rsp_prod. */
  get error(): RingOverflowError | null {
    return this.latched;
  }

  /** RING_FREE_REQUESTS: slots we may still fill before responses free some. */
  freeRequests(): number {
    return this.size - idxDistance(this.rspCons, this.reqProdPvt);
  }

  /** RING_FULL */
  isFull(): boolean {
    return this.freeRequests() === 0;
  }

  /** Copies a request into slot req_prod_pvt and advances it; the back end sees it after a push. */
  putRequest(entry: Uint8Array): void {
    this.throwIfLatched();
    if (this.freeRequests() <= 0) {
      throw new RingFullError('front', `all ${this.size} slots hold requests or unconsumed responses`);
    }
    writeSlot(this.g, this.reqProdPvt, entry);
    this.reqProdPvt = idxAdd(this.reqProdPvt, 1);
  }

  /** RING_PUSH_REQUESTS: publishes req_prod_pvt. Atomics.store orders the slot writes before it. */
  pushRequests(): void {
    this.throwIfLatched();
    const next = this.reqProdPvt >>> 0;
    Atomics.store(this.g.words, SRING_WORD.req_prod, next);
    this.reqPushed = next;
  }

  /**
   * RING_PUSH_REQUESTS_AND_CHECK_NOTIFY: publishes, then reports whether the back end asked to be
   * told about one of the requests just pushed (req_event in (old, new]). The old producer is our
   * own record of what we pushed, not a re-read of the shared word the peer could have scribbled.
   */
  pushRequestsAndCheckNotify(): boolean {
    this.throwIfLatched();
    const old = this.reqPushed;
    const next = this.reqProdPvt >>> 0;
    Atomics.store(this.g.words, SRING_WORD.req_prod, next);
    this.reqPushed = next;
    // The seq-cst store above then this load is the xen_mb() between publishing and reading req_event.
    const event = Atomics.load(this.g.words, SRING_WORD.req_event);
    return idxDistance(event, next) < idxDistance(old, next);
  }

  /**
   * RING_HAS_UNCONSUMED_RESPONSES: responses published and not yet taken. Throws (and latches)
   * RingOverflowError when rsp_prod is outside [rsp_cons, last pushed req_prod].
   */
  unconsumedResponses(): number {
    this.throwIfLatched();
    const prod = Atomics.load(this.g.words, SRING_WORD.rsp_prod);
    const avail = idxDistance(this.rspCons, prod);
    if (avail > idxDistance(this.rspCons, this.reqPushed)) {
      this.latched = new RingOverflowError('rsp_prod', prod, this.rspCons >>> 0, this.reqPushed, this.size);
      throw this.latched;
    }
    this.seenRspProd = prod;
    return avail;
  }

  /** RING_COPY_RESPONSE then rsp_cons++: a private copy of the next response (in `into` when given). */
  takeResponse(into?: Uint8Array): Uint8Array {
    this.throwIfLatched();
    const ahead = idxDistance(this.rspCons, this.seenRspProd);
    // Re-read the shared producer only when our validated view is used up (or the caller moved
    // rspCons by hand past it).
    if (ahead === 0 || ahead > this.size) {
      if (this.unconsumedResponses() === 0) throw new RingEmptyError('front', 'no response to take');
    }
    const entry = readSlot(this.g, this.rspCons, into);
    this.rspCons = idxAdd(this.rspCons, 1);
    return entry;
  }

  /**
   * RING_FINAL_CHECK_FOR_RESPONSES: true if responses are waiting; otherwise arms rsp_event so
   * the very next response is notified, and checks once more to close the race with a response
   * published meanwhile.
   */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses() > 0) return true;
    Atomics.store(this.g.words, SRING_WORD.rsp_event, idxAdd(this.rspCons, 1));
    return this.unconsumedResponses() > 0;
  }

  private throwIfLatched(): void {
    if (this.latched !== null) throw this.latched;
  }
}

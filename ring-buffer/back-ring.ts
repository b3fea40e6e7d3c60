// The back end of a shared ring (io/ring.h BACK_RING_*): it consumes requests and produces
// responses. Like the front end it notifies nobody: the push and final-check calls return
// booleans for the caller to act on.
//
// Trust: the front end is a guest and may write anything into the shared page at any time. We
// read req_prod once per check into a local and validate it: it must lie between req_cons
// (producers never go backwards past what we consumed) and rsp_prod_pvt + RING_SIZE
// (RING_REQUEST_PROD_OVERFLOW). Otherwise a RingOverflowError is latched and every later call
// throws it: we never loop over garbage and never read a slot twice (XSA-155 style double
// fetch), because each request is copied out once before the caller decodes it.
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

export class BackRing {
  /** RING_SIZE: entries in the ring, a power of two. */
  readonly size: number;
  /** rsp_prod_pvt: next response slot we fill; published by pushResponses. */
  rspProdPvt: number;
  /** req_cons: next request we take. */
  reqCons: number;

  private readonly g: RingGeometry;
  /** The rsp_prod we last published. */
  private rspPushed: number;
  /** The last validated req_prod, so takeRequest needs no shared read while it is ahead. */
  private seenReqProd: number;
  private latched: RingOverflowError | null = null;

  /** BACK_RING_ATTACH: reads nothing shared (the front end initialises the page). */
  constructor(mem: Uint8Array, entrySize: number, options: RingAttachOptions = {}) {
    this.g = ringGeometry(mem, entrySize, options);
    this.size = this.g.size;
    this.rspProdPvt = this.g.startIndex;
    this.reqCons = this.g.startIndex;
    this.rspPushed = this.g.startIndex;
    this.seenReqProd = this.g.startIndex;
  }

  /** Bytes per slot. */
  get entrySize(): number {
    return this.g.entrySize;
  }

  /** The latched protocol error, once the front end has published an impossible req_prod. */
  get error(): RingOverflowError | null {
    return this.latched;
  }

  /**
   * RING_HAS_UNCONSUMED_REQUESTS: requests published and not yet taken (never more than the
   * slots not holding unpushed responses, as the C min() guarantees). Throws (and latches)
   * RingOverflowError on an impossible req_prod.
   */
  unconsumedRequests(): number {
    this.throwIfLatched();
    const prod = Atomics.load(this.g.words, SRING_WORD.req_prod);
    const min = this.reqCons >>> 0;
    const max = idxAdd(this.rspProdPvt, this.size);
    if (idxDistance(min, prod) > idxDistance(min, max)) {
      this.latched = new RingOverflowError('req_prod', prod, min, max, this.size);
      throw this.latched;
    }
    this.seenReqProd = prod;
    return idxDistance(min, prod);
  }

  /** RING_COPY_REQUEST then req_cons++: a private copy of the next request (in `into` when given). */
  takeRequest(into?: Uint8Array): Uint8Array {
    this.throwIfLatched();
    const ahead = idxDistance(this.reqCons, this.seenReqProd);
    if (ahead === 0 || ahead > this.size) {
      if (this.unconsumedRequests() === 0) throw new RingEmptyError('back', 'no request to take');
    }
    const entry = readSlot(this.g, this.reqCons, into);
    this.reqCons = idxAdd(this.reqCons, 1);
    return entry;
  }

  /** Copies a response into slot rsp_prod_pvt and advances it; the front sees it after a push. */
  putResponse(entry: Uint8Array): void {
    this.throwIfLatched();
    // A response reuses the slot of a request already taken; with none taken-and-unanswered
    // the slot still holds a request the front end is entitled to have us read.
    if (idxDistance(this.rspProdPvt, this.reqCons) === 0) {
      throw new RingFullError('back', 'no consumed request is waiting for a response');
    }
    writeSlot(this.g, this.rspProdPvt, entry);
    this.rspProdPvt = idxAdd(this.rspProdPvt, 1);
  }

  /** RING_PUSH_RESPONSES: publishes rsp_prod_pvt after the slot writes (Atomics.store). */
  pushResponses(): void {
    this.throwIfLatched();
    const next = this.rspProdPvt >>> 0;
    Atomics.store(this.g.words, SRING_WORD.rsp_prod, next);
    this.rspPushed = next;
  }

  /**
   * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY: publishes, then reports whether the front end asked to
   * be told about one of the responses just pushed (rsp_event in (old, new]).
   */
  pushResponsesAndCheckNotify(): boolean {
    this.throwIfLatched();
    const old = this.rspPushed;
    const next = this.rspProdPvt >>> 0;
    Atomics.store(this.g.words, SRING_WORD.rsp_prod, next);
    this.rspPushed = next;
    const event = Atomics.load(this.g.words, SRING_WORD.rsp_event);
    return idxDistance(event, next) < idxDistance(old, next);
  }

  /**
   * RING_FINAL_CHECK_FOR_REQUESTS: true if requests are waiting; otherwise arms req_event so the
   * next request is notified, and checks again to close the race with a request pushed meanwhile.
   */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    Atomics.store(this.g.words, SRING_WORD.req_event, idxAdd(this.reqCons, 1));
    return this.unconsumedRequests() > 0;
  }

  private throwIfLatched(): void {
    if (this.latched !== null) throw this.latched;
  }
}

// The guest end of the XenStore ring page (struct xenstore_domain_interface): requests go into
// `req`, replies and watch events come out of `rsp`. The guest gives us its own view of the page,
// a kick (EVTCHNOP_send on the store event channel) and calls onEvent() when that port fires.
//
// Trust: xenstored writes req_cons and rsp_prod. The byte rings read each once per call and latch
// an error when they put more than the ring's 1024 bytes in flight; we turn that into a fatal
// XenstoreRingIndexError, as we do for a server that flags XENSTORE_ERROR_* in the page's error
// word. Everything taken off `rsp` is copied out once, then parsed by the client from the copy.
// An index moved backwards within the window cannot make us read or write outside the ring: at
// worst the server loses its own bytes, so it is not checked.
import { ByteRingOverflowError } from '../../ring-buffer/errors.ts';
import { XENSTORE, xenstoreClient } from '../../ring-buffer/xenstore-interface.ts';
import { XenstoreClosedError, XenstoreRingIndexError } from './errors.ts';
import type { XenstoreTransport } from './transport.ts';

const ERROR_NAMES: Readonly<Record<number, string>> = {
  [XENSTORE.XENSTORE_ERROR_COMM]: 'XENSTORE_ERROR_COMM',
  [XENSTORE.XENSTORE_ERROR_RINGIDX]: 'XENSTORE_ERROR_RINGIDX',
  [XENSTORE.XENSTORE_ERROR_PROTO]: 'XENSTORE_ERROR_PROTO',
};

export class XenstoreRingTransport implements XenstoreTransport {
  private readonly ring: ReturnType<typeof xenstoreClient>;
  /** Request bytes waiting for room in `req`, oldest first; the head may be partly sent. */
  private readonly outbox: Uint8Array[] = [];
  private outboxBytes = 0;
  private dataCb: ((bytes: Uint8Array) => void) | null = null;
  private closeCb: ((error: Error | null) => void) | null = null;
  private closed = false;
  private pumping = false;
  private again = false;

  /**
   * @param page the guest's view of its store page (at least 2076 bytes, 4-byte aligned)
   * @param kick notifies xenstored (EVTCHNOP_send on the store port); called after any pass that
   *   moved bytes in either direction, since xenstored may be waiting for data or for room.
   */
  constructor(
    page: Uint8Array,
    private readonly kick: () => void,
  ) {
    this.ring = xenstoreClient(page);
  }

  /** Request bytes accepted by write() and not yet in the ring. */
  get queuedBytes(): number {
    return this.outboxBytes;
  }

  write(bytes: Uint8Array): void {
    if (this.closed) throw new XenstoreClosedError('the xenstore ring transport is closed');
    if (bytes.byteLength === 0) return;
    // A private copy: the caller may reuse its buffer before the ring has room.
    this.outbox.push(bytes.slice());
    this.outboxBytes += bytes.byteLength;
    this.pump();
  }

  onData(cb: (bytes: Uint8Array) => void): void {
    this.dataCb = cb;
  }

  onClose(cb: (error: Error | null) => void): void {
    this.closeCb = cb;
  }

  close(): void {
    this.closed = true;
    this.outbox.length = 0;
    this.outboxBytes = 0;
  }

  /** The store event channel fired: take what xenstored wrote, send what now fits. */
  onEvent(): void {
    this.pump();
  }

  /**
   * Moves bytes both ways until neither moves. Re-entrant calls (the data callback writing a new
   * request) only mark that another pass is needed, so the ring is driven from one frame at a time.
   */
  private pump(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    let moved = false;
    try {
      do {
        this.again = false;
        this.checkServerError();
        moved = this.drainResponses() || moved;
        moved = this.fillRequests() || moved;
      } while (this.again && !this.closed);
    } catch (e) {
      if (!(e instanceof ByteRingOverflowError || e instanceof XenstoreRingIndexError)) throw e;
      this.fail(e instanceof XenstoreRingIndexError ? e : new XenstoreRingIndexError(`xenstored broke the ring: ${e.message}`));
      return;
    } finally {
      this.pumping = false;
    }
    if (moved && !this.closed) this.kick();
  }

  private drainResponses(): boolean {
    let moved = false;
    for (;;) {
      const chunk = this.ring.responses.read();
      if (chunk.byteLength === 0) return moved;
      moved = true;
      this.dataCb?.(chunk);
      if (this.closed) return moved;
    }
  }

  private fillRequests(): boolean {
    let moved = false;
    while (this.outbox.length > 0) {
      const head = this.outbox[0];
      if (head === undefined) break;
      const n = this.ring.requests.write(head);
      if (n === 0) break;
      moved = true;
      this.outboxBytes -= n;
      if (n === head.byteLength) this.outbox.shift();
      else this.outbox[0] = head.subarray(n);
    }
    return moved;
  }

  /** A server that supports the error word uses it to say it gave up on this ring. */
  private checkServerError(): void {
    if ((this.ring.control.serverFeatures & XENSTORE.XENSTORE_SERVER_FEATURE_ERROR) === 0) return;
    const err = this.ring.control.error;
    if (err !== XENSTORE.XENSTORE_ERROR_NONE) {
      throw new XenstoreRingIndexError(`xenstored flagged the ring broken: ${ERROR_NAMES[err] ?? `error ${err}`}`);
    }
  }

  private fail(error: Error): void {
    this.close();
    const cb = this.closeCb;
    this.closeCb = null;
    cb?.(error);
  }
}

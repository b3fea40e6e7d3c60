// The shared-ring transport: serves one guest's store page. The owner (xltsd) maps the page,
// calls kick() whenever the guest signals the store event channel, and gives us notify() to
// signal it back. The guest is a hostile peer: indices are read once per use and checked by the
// byte ring, frames are copied out before they are decoded, and the first impossible index or
// oversized message latches a fatal error into the page's `error` word (as xenstored does:
// XENSTORE_ERROR_RINGIDX, XENSTORE_ERROR_PROTO) and we stop serving until the guest asks to
// reconnect. Replies and watch events that do not fit in the response ring wait in a private
// queue, flushed as the guest frees space; while the outstanding-request quota is reached we
// leave further requests in the request ring, so the guest, not our memory, holds the backlog.
import { ByteRingOverflowError } from '../../ring-buffer/errors.ts';
import type { ByteRingReader, ByteRingWriter } from '../../ring-buffer/byte-ring.ts';
import { XENSTORE, xenstoreDomainInterface, xenstoreServer, type XenstoreControlWords } from '../../ring-buffer/xenstore-interface.ts';
import { XsConnection } from './connection.ts';
import type { XenstoreEngine } from './engine.ts';
import { XenstoreClosedError, XenstoreProtocolError } from './errors.ts';
import { withinQuota } from './quotas.ts';
import { XsFrameDecoder } from './wire.ts';

export interface XenstoreRingOptions {
  readonly engine: XenstoreEngine;
  readonly domid: number;
  /** The guest's xenstore_domain_interface page, as shared memory. */
  readonly page: Uint8Array;
  /** Signal the guest's store event channel. */
  readonly notify: () => void;
  readonly log?: (line: string) => void;
}

/** Why a ring stopped being served. */
export interface XenstoreRingFault {
  /** The value written to the page's error word. */
  readonly code: typeof XENSTORE.XENSTORE_ERROR_RINGIDX | typeof XENSTORE.XENSTORE_ERROR_PROTO;
  readonly reason: string;
}

/** Where a ring server is: serving, stopped by a fault until the guest reconnects, or closed for good. */
export type XenstoreRingState =
  | { readonly kind: 'serving' }
  | { readonly kind: 'faulted'; readonly fault: XenstoreRingFault }
  | { readonly kind: 'closed' };

interface Pending {
  readonly bytes: Uint8Array;
  sent: number;
  readonly reply: boolean;
}

export class XenstoreRingServer {
  private readonly requests: ByteRingReader;
  private readonly responses: ByteRingWriter;
  private readonly control: XenstoreControlWords;
  private readonly words: Uint32Array;
  private conn: XsConnection;
  private decoder: XsFrameDecoder;
  private queue: Pending[] = [];
  private queuedEvents = 0;
  private dropped = 0;
  private current: XenstoreRingState = { kind: 'serving' };
  private inKick = false;
  private readonly log: (line: string) => void;

  constructor(private readonly options: XenstoreRingOptions) {
    const ends = xenstoreServer(options.page);
    this.requests = ends.requests;
    this.responses = ends.responses;
    this.control = ends.control;
    const at = xenstoreDomainInterface.fields.req_cons.offset;
    this.words = new Uint32Array(options.page.buffer, options.page.byteOffset + at, 4);
    this.log = options.log ?? (() => {});
    this.control.serverFeatures = XENSTORE.XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE.XENSTORE_SERVER_FEATURE_ERROR;
    this.conn = this.newConnection();
    this.decoder = this.newDecoder();
  }

  get domid(): number {
    return this.options.domid;
  }

  get state(): XenstoreRingState {
    return this.current;
  }

  /** The latched fault, or null while the ring is healthy. */
  get error(): XenstoreRingFault | null {
    return this.current.kind === 'faulted' ? this.current.fault : null;
  }

  get connection(): XsConnection {
    return this.conn;
  }

  /** Bytes of replies and events waiting for room in the response ring. */
  get queuedBytes(): number {
    let n = 0;
    for (const p of this.queue) n += p.bytes.byteLength - p.sent;
    return n;
  }

  /** Watch events dropped because the guest let queuedWatchEvents pile up. */
  get droppedWatchEvents(): number {
    return this.dropped;
  }

  /** The guest signalled us: take a reconnect request, flush output, serve requests. */
  kick(): void {
    if (this.current.kind === 'closed') throw new XenstoreClosedError(`ring of domain ${this.domid} is closed`);
    if (this.control.connection === XENSTORE.XENSTORE_RECONNECT) {
      this.reconnect();
      return;
    }
    // A faulted ring stays silent until the guest asks to reconnect.
    if (this.current.kind === 'faulted') return;
    this.inKick = true;
    let moved = false;
    try {
      for (;;) {
        moved = this.flush() || moved;
        if (!this.conn.mayTakeRequest()) break;
        const avail = this.requests.available();
        if (avail === 0) break;
        // Only as much as the current frame needs: a request we cannot yet take stays in the ring.
        const chunk = this.requests.read(Math.min(avail, this.decoder.wanted()));
        moved = true;
        this.decoder.push(chunk);
      }
    } catch (e) {
      this.latch(e);
      moved = true;
    } finally {
      this.inKick = false;
    }
    if (moved) this.options.notify();
  }

  /** Stops serving; the owner calls this when the domain is released or dies. */
  close(): void {
    if (this.current.kind === 'closed') return;
    this.current = { kind: 'closed' };
    this.queue = [];
    this.conn.close();
  }

  private newConnection(): XsConnection {
    return new XsConnection(this.options.engine, { domid: this.options.domid, privileged: false }, (bytes, reply) => this.send(bytes, reply), this.log);
  }

  private newDecoder(): XsFrameDecoder {
    return new XsFrameDecoder((frame) => this.conn.handleFrame(frame));
  }

  private send(bytes: Uint8Array, reply: boolean): void {
    if (this.current.kind !== 'serving') return;
    if (!reply) {
      if (!withinQuota(this.queuedEvents + 1, this.options.engine.quotas.queuedWatchEvents)) {
        if (this.dropped++ === 0) this.log(`xenstore: domain ${this.domid} is not reading its ring; dropping watch events`);
        return;
      }
      this.queuedEvents++;
    }
    this.queue.push({ bytes, sent: 0, reply });
    // Inside kick() the loop flushes and notifies; an event raised by another connection must
    // go out now.
    if (this.inKick) return;
    try {
      if (this.flush()) this.options.notify();
    } catch (e) {
      this.latch(e);
      this.options.notify();
    }
  }

  /** Writes queued output while it fits. True if any byte went out. */
  private flush(): boolean {
    let moved = false;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = this.responses.write(head.bytes.subarray(head.sent));
      if (n === 0) break;
      moved = true;
      head.sent += n;
      if (head.sent < head.bytes.byteLength) break;
      this.queue.shift();
      if (head.reply) this.conn.replyDelivered();
      else this.queuedEvents--;
    }
    return moved;
  }

  private latch(e: unknown): void {
    let code: XenstoreRingFault['code'];
    if (e instanceof ByteRingOverflowError) code = XENSTORE.XENSTORE_ERROR_RINGIDX;
    else if (e instanceof XenstoreProtocolError) code = XENSTORE.XENSTORE_ERROR_PROTO;
    else throw e;
    this.current = { kind: 'faulted', fault: { code, reason: e.message } };
    this.control.error = code;
    this.queue = [];
    this.queuedEvents = 0;
    // Its watches and transactions die with the connection; the domain itself stays introduced
    // until it is released, so @releaseDomain still fires for it (XSA-325).
    this.conn.close();
    this.log(`xenstore: stopped serving domain ${this.domid}: ${e.message}`);
  }

  /**
   * The guest set connection = XENSTORE_RECONNECT: drop everything of the old connection, zero
   * the indices, clear a latched error, and tell the guest we are connected again.
   */
  private reconnect(): void {
    this.conn.close();
    this.queue = [];
    this.queuedEvents = 0;
    for (let i = 0; i < 4; i++) Atomics.store(this.words, i, 0);
    this.requests.resync();
    this.responses.resync();
    this.current = { kind: 'serving' };
    this.control.error = XENSTORE.XENSTORE_ERROR_NONE;
    this.conn = this.newConnection();
    this.decoder = this.newDecoder();
    this.control.connection = XENSTORE.XENSTORE_CONNECTED;
    this.options.notify();
  }
}

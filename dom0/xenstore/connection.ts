// One client of the store between the engine and a transport: who it is, its watches and open
// transactions, and how many of its requests are still unanswered. The transport feeds it
// decoded frames and gives it a `send` for outgoing bytes; closing it drops its watches and
// transactions from the engine.
import { XenstoreClosedError } from './errors.ts';
import type { XenstoreEngine, XsSession } from './engine.ts';
import type { XsTransaction } from './transaction.ts';
import { withinQuota } from './quotas.ts';
import { encodeError, encodeFrame, encodeWatchEvent, type XsFrame } from './wire.ts';
import { XsWatchList } from './watches.ts';

/** What a transport does with outgoing bytes. `reply` is true for the answer to a request. */
export type XsSend = (bytes: Uint8Array, reply: boolean) => void;

export interface XsConnectionIdentity {
  readonly domid: number;
  /** dom0's socket clients are; guest rings are not. */
  readonly privileged: boolean;
}

export class XsConnection implements XsSession {
  readonly domid: number;
  readonly privileged: boolean;
  readonly watches = new XsWatchList();
  readonly transactions = new Map<number, XsTransaction>();
  private outstanding = 0;
  private handling = false;
  /** Our own watch events raised while handling our request: they follow its reply. */
  private deferred: Uint8Array[] = [];
  private closed = false;

  constructor(
    private readonly engine: XenstoreEngine,
    identity: XsConnectionIdentity,
    private readonly send: XsSend,
    /** Diagnostics, e.g. a watch event too long to send. */
    private readonly log: (line: string) => void = () => {},
  ) {
    this.domid = identity.domid;
    this.privileged = identity.privileged;
    engine.attach(this);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Requests read whose reply the peer has not yet been given. */
  get outstandingRequests(): number {
    return this.outstanding;
  }

  /** Whether the transport may take one more request now (outstanding-requests quota). */
  mayTakeRequest(): boolean {
    return this.privileged || withinQuota(this.outstanding + 1, this.engine.quotas.outstandingRequests);
  }

  /** Handles one request and sends its reply, then any watch events it raised for us. */
  handleFrame(frame: XsFrame): void {
    if (this.closed) throw new XenstoreClosedError(`connection of domain ${this.domid} is closed`);
    this.outstanding++;
    this.handling = true;
    let reply;
    try {
      reply = this.engine.handle(this, { type: frame.type, txId: frame.txId, payload: frame.payload });
    } finally {
      this.handling = false;
    }
    const bytes =
      reply.payload.byteLength > this.engine.quotas.payload
        ? encodeError('E2BIG', frame.reqId, frame.txId)
        : encodeFrame(reply.type, frame.reqId, frame.txId, reply.payload);
    this.send(bytes, true);
    const events = this.deferred;
    this.deferred = [];
    for (const e of events) this.send(e, false);
  }

  /** The transport has handed one reply to the peer. */
  replyDelivered(): void {
    if (this.outstanding > 0) this.outstanding--;
  }

  deliverWatchEvent(path: string, token: string): void {
    if (this.closed) return;
    const bytes = encodeWatchEvent(path, token);
    if (bytes.byteLength - 16 > this.engine.quotas.payload) {
      // Sending it would make the peer kill its own connection; a lost event is the lesser harm.
      this.log(`xenstore: dropped a watch event for domain ${this.domid}: ${path} with its token exceeds the payload limit`);
      return;
    }
    if (this.handling) this.deferred.push(bytes);
    else this.send(bytes, false);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deferred = [];
    this.engine.detach(this);
  }
}


// xenstored's end of a store ring page, for tests of XenstoreRingTransport: reads requests from
// `req` into a FakeXenstore connection and writes its replies and watch events into `rsp`, a
// bounded number of bytes per round so that tests can force byte-by-byte delivery and replies
// that wrap the 1024-byte ring several times. Each side "runs" in its own setImmediate turns and
// the two notify each other the way event channels would.
import { xenstoreServer } from '../../../ring-buffer/xenstore-interface.ts';
import type { FakeConnection, FakeXenstore } from './fake-xenstore.ts';

export interface FakeRingServerOptions {
  /** Most bytes written into rsp per round. Default: as many as fit. */
  readonly rspChunk?: number;
  /** Most bytes taken from req per round. Default: all there are. */
  readonly reqChunk?: number;
}

export class FakeRingServer {
  private readonly ring: ReturnType<typeof xenstoreServer>;
  private readonly conn: FakeConnection;
  private outbox = new Uint8Array(0);
  private scheduled = false;
  /** Times the server notified the guest. */
  notifications = 0;
  stopped = false;

  constructor(
    page: Uint8Array,
    fake: FakeXenstore,
    /** Delivers the store event to the guest (its transport's onEvent). */
    private readonly notifyGuest: () => void,
    private readonly options: FakeRingServerOptions = {},
  ) {
    this.ring = xenstoreServer(page);
    this.conn = fake.connect((bytes) => {
      const j = new Uint8Array(this.outbox.byteLength + bytes.byteLength);
      j.set(this.outbox);
      j.set(bytes, this.outbox.byteLength);
      this.outbox = j;
      this.schedule();
    });
  }

  /** The guest's kick on the store port. */
  kick(): void {
    this.schedule();
  }

  /** Server-side bytes still waiting for room in rsp. */
  get backlog(): number {
    return this.outbox.byteLength;
  }

  private schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.service();
    });
  }

  private service(): void {
    if (this.stopped) return;
    let notify = false;
    const reqs = this.ring.requests.read(this.options.reqChunk ?? Number.POSITIVE_INFINITY);
    if (reqs.byteLength > 0) {
      notify = true;
      this.conn.receive(reqs);
    }
    if (this.outbox.byteLength > 0) {
      const n = this.ring.responses.write(this.outbox.subarray(0, this.options.rspChunk ?? this.outbox.byteLength));
      if (n > 0) {
        notify = true;
        this.outbox = this.outbox.slice(n);
      }
    }
    // More requests waiting than we took this round: come back without waiting for a kick.
    if (this.ring.requests.available() > 0) this.schedule();
    if (notify) {
      this.notifications++;
      setImmediate(() => this.notifyGuest());
    }
  }
}

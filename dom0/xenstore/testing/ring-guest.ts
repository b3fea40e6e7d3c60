// A guest's end of a store ring in TypeScript, for tests and benchmarks: writes request frames
// into req, reads replies and watch events from rsp. It talks to a XenstoreRingServer in the same
// process by calling kick() where a real guest would signal the event channel.
import { XENSTORE, xenstoreClient, xenstoreDomainInterface } from '../../../ring-buffer/xenstore-interface.ts';
import { XS } from '../../../ring-buffer/xs-wire.ts';
import { latin1, latin1Bytes } from '../payload.ts';
import { encodeFrame, XsFrameDecoder, type XsFrame } from '../wire.ts';

/** A zeroed page laid out as xenstore_domain_interface, in a SharedArrayBuffer like real shared memory. */
export function newStorePage(): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(4096), 0, 4096);
}

export class RingGuest {
  private readonly ends;
  private readonly received: XsFrame[] = [];
  private readonly decoder = new XsFrameDecoder((f) => this.received.push(f));
  private out: Uint8Array = new Uint8Array(0);
  private nextReqId = 1;

  constructor(
    readonly page: Uint8Array,
    /** Signals the server (kick()). */
    private readonly signal: () => void,
  ) {
    this.ends = xenstoreClient(page);
  }

  get control() {
    return this.ends.control;
  }

  /** Queues one request frame; returns its req_id. Call pump() to move it into the ring. */
  queue(type: number, payload: Uint8Array | string, txId = 0): number {
    const reqId = this.nextReqId++;
    const body = typeof payload === 'string' ? latin1Bytes(payload) : payload;
    const frame = encodeFrame(type, reqId, txId, body);
    const merged = new Uint8Array(this.out.byteLength + frame.byteLength);
    merged.set(this.out);
    merged.set(frame, this.out.byteLength);
    this.out = merged;
    return reqId;
  }

  /** Raw bytes into the request stream, for hostile tests. */
  queueRaw(bytes: Uint8Array): void {
    const merged = new Uint8Array(this.out.byteLength + bytes.byteLength);
    merged.set(this.out);
    merged.set(bytes, this.out.byteLength);
    this.out = merged;
  }

  /** Bytes of queued requests not yet in the ring. */
  get unsent(): number {
    return this.out.byteLength;
  }

  /** Writes what fits of the queued requests, and takes what the server answered. */
  pump(): number {
    const n = this.ends.requests.write(this.out);
    this.out = this.out.slice(n);
    return n;
  }

  /** Reads the response ring into frames (with any a request() call set aside). */
  drain(): XsFrame[] {
    const bytes = this.ends.responses.read();
    if (bytes.byteLength > 0) this.decoder.push(bytes);
    return this.received.splice(0);
  }

  /** Frames that arrived after a request()'s reply, kept for the next drain(). */
  private stash(frames: XsFrame[]): void {
    this.received.unshift(...frames);
  }

  /** One request, round trip: queue, write, signal until the reply for it is back. */
  request(type: number, payload: Uint8Array | string, txId = 0): { frame: XsFrame; events: XsFrame[] } {
    const reqId = this.queue(type, payload, txId);
    const events: XsFrame[] = [];
    for (let spins = 0; spins < 10_000; spins++) {
      this.pump();
      this.signal();
      const frames = this.drain();
      for (let i = 0; i < frames.length; i++) {
        const f = frames[i]!;
        if (f.type === XS.XS_WATCH_EVENT) events.push(f);
        else if (f.reqId === reqId) {
          this.stash(frames.slice(i + 1));
          return { frame: f, events };
        }
      }
    }
    throw new Error(`no reply to request ${reqId}`);
  }

  /** request() returning the reply payload as text, throwing on XS_ERROR. */
  call(type: number, payload: Uint8Array | string, txId = 0): string {
    const { frame } = this.request(type, payload, txId);
    const text = latin1(frame.payload);
    if (frame.type === XS.XS_ERROR) throw new Error(`xenstore error ${text.replace(/\0$/, '')}`);
    return text;
  }

  /** Direct access to the four indices, for tests that scribble them. */
  indexWords(): Uint32Array {
    const at = xenstoreDomainInterface.fields.req_cons.offset;
    return new Uint32Array(this.page.buffer, this.page.byteOffset + at, 4);
  }

  /** Asks the server to reset the ring (XENSTORE_RECONNECT), as a guest after kexec would. */
  requestReconnect(): void {
    this.ends.control.connection = XENSTORE.XENSTORE_RECONNECT;
    this.signal();
    this.ends.requests.resync();
    this.ends.responses.resync();
  }
}

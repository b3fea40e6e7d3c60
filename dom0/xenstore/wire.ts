// xsd_sockmsg framing. The decoder is fed bytes as they arrive (socket chunks, ring reads) and
// hands out whole frames through a callback; it never looks at payloads. A header announcing
// more than XENSTORE_PAYLOAD_MAX bytes is a protocol violation: the decoder latches it and the
// connection must end, since nothing after it can be framed with confidence.
import { XENSTORE_LIMITS, XS, XSD_SOCKMSG_SIZE, xsdSockmsg } from '../../ring-buffer/xs-wire.ts';
import { XenstoreProtocolError } from './errors.ts';
import { latin1Bytes } from './payload.ts';

export interface XsFrame {
  readonly type: number;
  readonly reqId: number;
  readonly txId: number;
  readonly payload: Uint8Array;
}

export class XsFrameDecoder {
  private readonly header = new Uint8Array(XSD_SOCKMSG_SIZE);
  private headerFill = 0;
  private payload: Uint8Array | null = null;
  private payloadFill = 0;
  private current: { type: number; reqId: number; txId: number } | null = null;
  private latched: XenstoreProtocolError | null = null;

  constructor(
    private readonly onFrame: (frame: XsFrame) => void,
    private readonly payloadMax: number = XENSTORE_LIMITS.XENSTORE_PAYLOAD_MAX,
  ) {}

  get error(): XenstoreProtocolError | null {
    return this.latched;
  }

  /** Bytes still needed to complete the frame being read (a header's worth between frames). */
  wanted(): number {
    if (this.payload === null) return XSD_SOCKMSG_SIZE - this.headerFill;
    return this.payload.byteLength - this.payloadFill;
  }

  /** Consumes all of `chunk`, calling onFrame for each frame completed. Throws once latched. */
  push(chunk: Uint8Array): void {
    if (this.latched) throw this.latched;
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.payload === null) {
        const n = Math.min(XSD_SOCKMSG_SIZE - this.headerFill, chunk.byteLength - at);
        this.header.set(chunk.subarray(at, at + n), this.headerFill);
        this.headerFill += n;
        at += n;
        if (this.headerFill < XSD_SOCKMSG_SIZE) break;
        const h = xsdSockmsg.decode(this.header);
        if (h.len > this.payloadMax) {
          this.latched = new XenstoreProtocolError(`message of type ${h.type} announces ${h.len} payload bytes, limit ${this.payloadMax}`);
          throw this.latched;
        }
        this.current = { type: h.type, reqId: h.req_id, txId: h.tx_id };
        this.payload = new Uint8Array(h.len);
        this.payloadFill = 0;
      } else {
        const n = Math.min(this.payload.byteLength - this.payloadFill, chunk.byteLength - at);
        this.payload.set(chunk.subarray(at, at + n), this.payloadFill);
        this.payloadFill += n;
        at += n;
      }
      if (this.payload !== null && this.payloadFill === this.payload.byteLength) this.emit();
    }
  }

  private emit(): void {
    const frame = { ...this.current!, payload: this.payload! };
    this.payload = null;
    this.current = null;
    this.headerFill = 0;
    this.onFrame(frame);
  }
}

/** One message: header then payload. */
export function encodeFrame(type: number, reqId: number, txId: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(XSD_SOCKMSG_SIZE + payload.byteLength);
  xsdSockmsg.encode({ type, req_id: reqId, tx_id: txId, len: payload.byteLength }, out, 0);
  out.set(payload, XSD_SOCKMSG_SIZE);
  return out;
}

/** An XS_ERROR reply: the error's name, nul-terminated. */
export function encodeError(name: string, reqId: number, txId: number): Uint8Array {
  return encodeFrame(XS.XS_ERROR, reqId, txId, latin1Bytes(`${name}\0`));
}

/** An XS_WATCH_EVENT: "path\0token\0", req_id and tx_id 0. */
export function encodeWatchEvent(path: string, token: string): Uint8Array {
  return encodeFrame(XS.XS_WATCH_EVENT, 0, 0, latin1Bytes(`${path}\0${token}\0`));
}

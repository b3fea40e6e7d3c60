// Framing of the control socket: each message is a 4-byte big-endian length, then that many bytes
// of one msgpack map (msgpackr, plain maps: no records, so any msgpack reader can follow).
//
//   +----------------+---------------------------+
//   | u32 BE  length | msgpack body (length)     |
//   +----------------+---------------------------+
//
// FrameDecoder is a streaming decoder fed whatever chunks the socket gives (a byte at a time
// works); it knows nothing of sockets, and hands each message to a callback. The length is
// checked against the limit as soon as the 4 header bytes are in, before any body is buffered, so
// a peer announcing 4 GiB costs us 4 bytes. A frame over the limit, an empty frame, or a body that
// is not exactly one msgpack map is a ControlProtocolError, latched: every later push() throws
// it again, and the owner of the connection closes it.
import { Packr, Unpackr } from 'msgpackr';
import { ControlFrameTooLargeError, ControlProtocolError } from './errors.ts';

export const CONTROL_FRAME_HEADER_SIZE = 4;
/**
 * The largest body either side accepts. A DomainConfig is a few KiB, a xenstore value at most
 * 4 KiB, a console chunk smaller still; 1 MiB leaves room for a `list` of thousands of domains or
 * a large `xenstore-ls`, and bounds what a misbehaving peer can make us buffer.
 */
export const CONTROL_MAX_FRAME_SIZE = 1 << 20;

const packr = new Packr({ useRecords: false });
// copyBuffers: console bytes must not keep a socket chunk alive, nor alias it.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, copyBuffers: true });

/** One message as a frame; throws ControlFrameTooLargeError rather than send what the peer must refuse. */
export function encodeFrame(message: unknown, maxFrameSize = CONTROL_MAX_FRAME_SIZE): Uint8Array {
  const body = packr.pack(message);
  if (body.length > maxFrameSize) throw new ControlFrameTooLargeError(body.length, maxFrameSize);
  const frame = new Uint8Array(CONTROL_FRAME_HEADER_SIZE + body.length);
  new DataView(frame.buffer).setUint32(0, body.length, false);
  frame.set(body, CONTROL_FRAME_HEADER_SIZE);
  return frame;
}

/** Decodes one frame body: exactly one msgpack map, or a ControlProtocolError. */
export function decodeFrameBody(body: Uint8Array): unknown {
  if (body.length === 0) throw new ControlProtocolError('empty frame');
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(body) as unknown[];
  } catch (err) {
    throw new ControlProtocolError(`frame body is not msgpack: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (values.length !== 1) throw new ControlProtocolError(`frame body holds ${values.length} msgpack values, not one`);
  const value = values[0];
  // Every message of the protocol is a map. This also stops msgpackr's own objects (it decodes the
  // reserved byte 0xc1 to an error object, for one) from reaching the message parsers.
  if (typeof value !== 'object' || value === null || Object.getPrototypeOf(value) !== Object.prototype) {
    throw new ControlProtocolError('frame body is not a msgpack map');
  }
  return value;
}

export interface FrameDecoderOptions {
  readonly maxFrameSize?: number;
}

export class FrameDecoder {
  private readonly chunks: Uint8Array[] = [];
  private buffered = 0;
  /** Body length of the frame being read, once its header is in. */
  private bodyLength: number | undefined;
  private failure: ControlProtocolError | undefined;
  private readonly maxFrameSize: number;

  constructor(
    private readonly onMessage: (message: unknown) => void,
    options: FrameDecoderOptions = {},
  ) {
    this.maxFrameSize = options.maxFrameSize ?? CONTROL_MAX_FRAME_SIZE;
  }

  /** Bytes held that do not make a whole frame yet (a clean end of stream has none). */
  get pendingBytes(): number {
    return this.buffered;
  }

  /** The latched failure, if any. */
  get error(): ControlProtocolError | undefined {
    return this.failure;
  }

  /**
   * Feeds bytes in; calls onMessage for each complete frame, in order. Throws (and latches) a
   * ControlProtocolError on a bad frame. An exception from onMessage propagates and does not
   * latch: the frame was good, the consumer failed.
   */
  push(chunk: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (this.bodyLength === undefined) {
        if (this.buffered < CONTROL_FRAME_HEADER_SIZE) return;
        const header = this.take(CONTROL_FRAME_HEADER_SIZE);
        const length = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(0, false);
        if (length > this.maxFrameSize) this.fail(new ControlFrameTooLargeError(length, this.maxFrameSize));
        this.bodyLength = length;
      }
      if (this.buffered < this.bodyLength) return;
      const body = this.take(this.bodyLength);
      this.bodyLength = undefined;
      let message: unknown;
      try {
        message = decodeFrameBody(body);
      } catch (err) {
        this.fail(err instanceof ControlProtocolError ? err : new ControlProtocolError(String(err)));
      }
      this.onMessage(message);
    }
  }

  private fail(err: ControlProtocolError): never {
    this.failure = err;
    this.chunks.length = 0;
    this.buffered = 0;
    throw err;
  }

  /** Removes the first n buffered bytes (n <= buffered), copying only when they span chunks. */
  private take(n: number): Uint8Array {
    if (n === 0) return new Uint8Array(0);
    const first = this.chunks[0]!;
    let out: Uint8Array;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = new Uint8Array(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0]!;
        const k = Math.min(c.length, n - filled);
        out.set(c.subarray(0, k), filled);
        filled += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}

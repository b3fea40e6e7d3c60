import { describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreProtocolError } from './errors.ts';
import { latin1, latin1Bytes } from './payload.ts';
import { encodeError, encodeFrame, encodeWatchEvent, XsFrameDecoder, type XsFrame } from './wire.ts';

function frames(): { list: XsFrame[]; decoder: XsFrameDecoder } {
  const list: XsFrame[] = [];
  return { list, decoder: new XsFrameDecoder((f) => list.push(f)) };
}

const stream = (): Uint8Array => {
  const parts = [
    encodeFrame(XS.XS_READ, 7, 0, latin1Bytes('/a/b\0')),
    encodeFrame(XS.XS_TRANSACTION_START, 8, 0, new Uint8Array(0)),
    encodeFrame(XS.XS_WRITE, 0xffffffff, 3, new Uint8Array(4096).fill(0x61)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
};

const expected = [
  { type: XS.XS_READ, reqId: 7, txId: 0, len: 5 },
  { type: XS.XS_TRANSACTION_START, reqId: 8, txId: 0, len: 0 },
  { type: XS.XS_WRITE, reqId: 0xffffffff, txId: 3, len: 4096 },
];
const summary = (fs: XsFrame[]) => fs.map((f) => ({ type: f.type, reqId: f.reqId, txId: f.txId, len: f.payload.byteLength }));

describe('XsFrameDecoder', () => {
  it('decodes a stream given whole', () => {
    const { list, decoder } = frames();
    decoder.push(stream());
    expect(summary(list)).toEqual(expected);
    expect(latin1(list[0]!.payload)).toBe('/a/b\0');
    expect(decoder.wanted()).toBe(16);
  });

  it('decodes the same stream byte by byte', () => {
    const { list, decoder } = frames();
    const s = stream();
    for (let i = 0; i < s.byteLength; i++) decoder.push(s.subarray(i, i + 1));
    expect(summary(list)).toEqual(expected);
    expect(list[2]!.payload.every((b) => b === 0x61)).toBe(true);
  });

  it('wanted() counts down header then payload', () => {
    const { decoder } = frames();
    const f = encodeFrame(XS.XS_READ, 1, 0, latin1Bytes('/x\0'));
    decoder.push(f.subarray(0, 10));
    expect(decoder.wanted()).toBe(6);
    decoder.push(f.subarray(10, 17));
    expect(decoder.wanted()).toBe(2);
  });

  it('a payload over XENSTORE_PAYLOAD_MAX is a latched protocol error', () => {
    const { list, decoder } = frames();
    const header = encodeFrame(XS.XS_WRITE, 1, 0, new Uint8Array(0));
    new DataView(header.buffer).setUint32(12, 4097, true);
    expect(() => decoder.push(header)).toThrow(XenstoreProtocolError);
    expect(decoder.error).toBeInstanceOf(XenstoreProtocolError);
    expect(() => decoder.push(encodeFrame(XS.XS_READ, 2, 0, latin1Bytes('/\0')))).toThrow(XenstoreProtocolError);
    expect(list).toEqual([]);
  });

  it('a lying length of 0xffffffff is refused from the header alone', () => {
    const { decoder } = frames();
    const header = new Uint8Array(16);
    new DataView(header.buffer).setUint32(12, 0xffffffff, true);
    expect(() => decoder.push(header)).toThrow(XenstoreProtocolError);
  });
});

describe('encoders', () => {
  it('frame: little-endian header then payload', () => {
    const f = encodeFrame(XS.XS_READ, 0x01020304, 5, latin1Bytes('ok'));
    expect([...f]).toEqual([2, 0, 0, 0, 4, 3, 2, 1, 5, 0, 0, 0, 2, 0, 0, 0, 0x6f, 0x6b]);
  });

  it('error reply: XS_ERROR with "EINVAL\\0", ids echoed', () => {
    const f = encodeError('EINVAL', 9, 4);
    const dv = new DataView(f.buffer);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)]).toEqual([XS.XS_ERROR, 9, 4, 7]);
    expect(latin1(f.subarray(16))).toBe('EINVAL\0');
  });

  it('watch event: XS_WATCH_EVENT, req_id 0, "path\\0token\\0"', () => {
    const f = encodeWatchEvent('/a', 'tok');
    const dv = new DataView(f.buffer);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true)]).toEqual([XS.XS_WATCH_EVENT, 0, 0]);
    expect(latin1(f.subarray(16))).toBe('/a\0tok\0');
  });
});

import { describe, expect, it } from 'vitest';
import { XS } from '../../ring-buffer/xs-wire.ts';
import { XenstoreArgumentError, XenstoreProtocolError } from './errors.ts';
import { frame } from './testing/fake-xenstore.ts';
import {
  type XsMessage,
  XsMessageDecoder,
  encodeMessage,
  expectOk,
  formatPermission,
  parseErrorName,
  parsePermission,
  parseSingleString,
  parseStringList,
  parseTransactionId,
  requestPayload,
  xsTypeName,
} from './wire.ts';

const enc = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

describe('encodeMessage', () => {
  it('lays out xsd_sockmsg little-endian, payload right after the 16 bytes', () => {
    const m = encodeMessage(XS.XS_READ, 0x01020304, 7, enc.encode('/a\0'));
    expect([...m]).toEqual([2, 0, 0, 0, 4, 3, 2, 1, 7, 0, 0, 0, 3, 0, 0, 0, 0x2f, 0x61, 0]);
    expect(m).toEqual(frame(XS.XS_READ, 0x01020304, 7, '/a\0'));
  });

  it('refuses a payload over XENSTORE_PAYLOAD_MAX and takes one exactly at it', () => {
    expect(encodeMessage(XS.XS_WRITE, 1, 0, new Uint8Array(4096)).byteLength).toBe(4112);
    expect(() => encodeMessage(XS.XS_WRITE, 1, 0, new Uint8Array(4097))).toThrow(XenstoreArgumentError);
  });
});

describe('XsMessageDecoder', () => {
  const stream = concat([
    frame(XS.XS_READ, 1, 0, 'value'),
    frame(XS.XS_WATCH_EVENT, 0, 0, '/a/b\0tok\0'),
    frame(XS.XS_WRITE, 2, 5, ''),
    frame(XS.XS_DIRECTORY, 3, 0, new Uint8Array(4096).fill(0x61)),
  ]);

  function decodeAll(chunks: Uint8Array[]): XsMessage[] {
    const out: XsMessage[] = [];
    const d = new XsMessageDecoder((m) => out.push(m));
    for (const c of chunks) d.push(c);
    return out;
  }

  it('decodes the same messages whole, byte by byte, and in odd chunks', () => {
    const whole = decodeAll([stream]);
    expect(whole.map((m) => [m.type, m.reqId, m.txId, m.payload.byteLength])).toEqual([
      [XS.XS_READ, 1, 0, 5],
      [XS.XS_WATCH_EVENT, 0, 0, 9],
      [XS.XS_WRITE, 2, 5, 0],
      [XS.XS_DIRECTORY, 3, 0, 4096],
    ]);
    const bytes = [...stream].map((b) => new Uint8Array([b]));
    expect(decodeAll(bytes)).toEqual(whole);
    const odd: Uint8Array[] = [];
    for (let at = 0; at < stream.byteLength; at += 7) odd.push(stream.subarray(at, at + 7));
    expect(decodeAll(odd)).toEqual(whole);
  });

  it('hands out private copies: reusing the input buffer does not change a decoded payload', () => {
    const buf = frame(XS.XS_READ, 1, 0, 'abc');
    const [m] = decodeAll([buf]);
    buf.fill(0);
    expect(new TextDecoder().decode(m?.payload)).toBe('abc');
  });

  it('refuses a header announcing more than XENSTORE_PAYLOAD_MAX before any payload arrives, and stays broken', () => {
    const h = frame(XS.XS_READ, 1, 0, '');
    new DataView(h.buffer).setUint32(12, 4097, true);
    const d = new XsMessageDecoder(() => undefined);
    expect(() => d.push(h)).toThrow(XenstoreProtocolError);
    expect(() => d.push(frame(XS.XS_READ, 2, 0, 'x'))).toThrow(/XENSTORE_PAYLOAD_MAX/);
  });

  it('refuses unknown message types, including the removed XS_RESTRICT (20)', () => {
    for (const t of [20, 23, 0xffff, 0x80000000]) {
      const d = new XsMessageDecoder(() => undefined);
      expect(() => d.push(frame(t, 1, 0, '')), String(t)).toThrow(/unknown message type/);
    }
  });
});

describe('payload grammar', () => {
  it('terminates each string with a NUL and appends the raw tail', () => {
    expect([...requestPayload(['/a', 'tok'])]).toEqual([0x2f, 0x61, 0, 0x74, 0x6f, 0x6b, 0]);
    expect([...requestPayload(['/a'], new Uint8Array([1, 0, 2]))]).toEqual([0x2f, 0x61, 0, 1, 0, 2]);
    expect([...requestPayload([''])]).toEqual([0]);
    expect(() => requestPayload(['/a\0/b'])).toThrow(XenstoreArgumentError);
  });

  it('splits string lists and requires the terminating NUL', () => {
    expect(parseStringList(new Uint8Array(0), 'x')).toEqual([]);
    expect(parseStringList(enc.encode('a\0bc\0\0'), 'x')).toEqual(['a', 'bc', '']);
    expect(() => parseStringList(enc.encode('a\0b'), 'x')).toThrow(XenstoreProtocolError);
  });

  it('reads single strings with or without a final NUL, never with one inside', () => {
    expect(parseSingleString(enc.encode('OK\0'), 'x')).toBe('OK');
    expect(parseSingleString(enc.encode('OK'), 'x')).toBe('OK');
    expect(() => parseSingleString(enc.encode('O\0K\0'), 'x')).toThrow(XenstoreProtocolError);
    expect(() => expectOk(enc.encode('KO\0'), 'x')).toThrow(/expected OK/);
  });

  it('accepts errno names only', () => {
    expect(parseErrorName(enc.encode('ENOENT\0'), 'x')).toBe('ENOENT');
    expect(parseErrorName(enc.encode('E2BIG\0'), 'x')).toBe('E2BIG');
    expect(parseErrorName(enc.encode('EQUOTA\0'), 'x')).toBe('EQUOTA');
    for (const bad of ['', 'enoent', 'ENOENT ', 'X', 'E', `E${'A'.repeat(40)}`]) {
      expect(() => parseErrorName(enc.encode(`${bad}\0`), 'x'), bad).toThrow(XenstoreProtocolError);
    }
  });

  it('parses transaction ids strictly and refuses 0', () => {
    expect(parseTransactionId(enc.encode('42\0'))).toBe(42);
    expect(parseTransactionId(enc.encode('4294967295\0'))).toBe(0xffffffff);
    for (const bad of ['0', '-1', '4294967296', 'x', '', ' 1']) {
      expect(() => parseTransactionId(enc.encode(`${bad}\0`)), bad).toThrow(XenstoreProtocolError);
    }
  });

  it('formats and parses <perm-as-string>', () => {
    expect(formatPermission({ domid: 5, access: 'read' })).toBe('r5');
    expect(formatPermission({ domid: 0, access: 'none' })).toBe('n0');
    expect(parsePermission('b65535')).toEqual({ domid: 65535, access: 'both' });
    expect(parsePermission('w3')).toEqual({ domid: 3, access: 'write' });
    for (const bad of ['x1', 'r', 'r65536', 'r-1', 'r01', 'rw1', '']) expect(() => parsePermission(bad), bad).toThrow(XenstoreProtocolError);
    expect(() => formatPermission({ domid: 70000, access: 'read' })).toThrow(XenstoreArgumentError);
  });

  it('names message types as xs_wire.h does', () => {
    expect(xsTypeName(XS.XS_TRANSACTION_START)).toBe('XS_TRANSACTION_START');
    expect(xsTypeName(0)).toBe('XS_CONTROL');
    expect(xsTypeName(99)).toBe('XS_#99');
  });
});

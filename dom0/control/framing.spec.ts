import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { ControlFrameTooLargeError, ControlProtocolError } from './errors.ts';
import { CONTROL_MAX_FRAME_SIZE, decodeFrameBody, encodeFrame, FrameDecoder } from './framing.ts';

const MESSAGES: unknown[] = [
  { id: 1, command: { op: 'list' } },
  { id: 2, ok: true, result: { domains: [{ domid: 1, name: 'web', phase: 'running' }] } },
  { event: { kind: 'phase', domid: 3, name: 'x', from: null, to: 'creating' } },
  { console: { domid: 3, data: new Uint8Array([0, 1, 2, 255, 10]) } },
  { id: 4294967295, ok: false, error: { code: 'Busy', message: 'später' } },
];

function collect(max?: number): { decoder: FrameDecoder; got: unknown[] } {
  const got: unknown[] = [];
  return { decoder: new FrameDecoder((m) => got.push(m), max === undefined ? {} : { maxFrameSize: max }), got };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The frame the wire format says: u32 BE length, then the msgpack body. */
function rawFrame(body: Uint8Array): Uint8Array {
  const f = new Uint8Array(4 + body.length);
  new DataView(f.buffer).setUint32(0, body.length);
  f.set(body, 4);
  return f;
}

describe('encodeFrame', () => {
  it('writes a big-endian u32 length, then the msgpack body', () => {
    const frame = encodeFrame({ id: 7, command: { op: 'info' } });
    const body = pack({ id: 7, command: { op: 'info' } });
    expect([...frame.subarray(0, 4)]).toEqual([0, 0, 0, body.length]);
    expect(decodeFrameBody(frame.subarray(4))).toEqual({ id: 7, command: { op: 'info' } });
  });

  it('refuses to send a frame the peer would refuse', () => {
    expect(() => encodeFrame({ blob: new Uint8Array(100) }, 64)).toThrow(ControlFrameTooLargeError);
  });
});

describe('FrameDecoder', () => {
  const stream = concat(MESSAGES.map((m) => encodeFrame(m)));

  it('decodes a stream given whole', () => {
    const { decoder, got } = collect();
    decoder.push(stream);
    expect(got).toEqual(MESSAGES);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('decodes the same stream given byte by byte', () => {
    const { decoder, got } = collect();
    const counts: number[] = [];
    for (let i = 0; i < stream.length; i++) {
      decoder.push(stream.subarray(i, i + 1));
      counts.push(got.length);
    }
    // Each message arrives with the last byte of its frame, not before.
    const ends = MESSAGES.map((_, k) => concat(MESSAGES.slice(0, k + 1).map((m) => encodeFrame(m))).length - 1);
    expect(ends.map((e) => counts[e])).toEqual(MESSAGES.map((_, k) => k + 1));
    expect(ends.map((e) => counts[e - 1])).toEqual(MESSAGES.map((_, k) => k));
    expect(got).toEqual(MESSAGES);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('decodes it split at every point', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { decoder, got } = collect();
      decoder.push(stream.subarray(0, cut));
      decoder.push(stream.subarray(cut));
      expect(got).toEqual(MESSAGES);
    }
  });

  it('gives console bytes as a copy that does not alias the input', () => {
    const { decoder, got } = collect();
    const frame = encodeFrame(MESSAGES[3]);
    decoder.push(frame);
    frame.fill(0);
    expect((got[0] as { console: { data: Uint8Array } }).console.data).toEqual(new Uint8Array([0, 1, 2, 255, 10]));
  });

  it('refuses a hostile length from its header alone, and stays failed', () => {
    const { decoder, got } = collect();
    decoder.push(encodeFrame(MESSAGES[0]));
    const header = new Uint8Array([0xff, 0xff, 0xff, 0xff]);
    expect(() => decoder.push(header)).toThrow(ControlFrameTooLargeError);
    expect(decoder.error).toBeInstanceOf(ControlFrameTooLargeError);
    expect(decoder.error?.message).toBe(`frame of 4294967295 bytes announced; the limit is ${CONTROL_MAX_FRAME_SIZE}`);
    // Latched: even a good frame is refused now, with the same error.
    expect(() => decoder.push(encodeFrame(MESSAGES[0]))).toThrow(decoder.error);
    expect(got).toEqual([MESSAGES[0]]);
    expect(decoder.pendingBytes).toBe(0);
  });

  it('takes a frame exactly at the limit and refuses one byte more', () => {
    const body = pack({ x: 'x'.repeat(100) });
    const ok = collect(body.length);
    ok.decoder.push(rawFrame(body));
    expect(ok.got).toEqual([{ x: 'x'.repeat(100) }]);
    const tooBig = collect(body.length - 1);
    expect(() => tooBig.decoder.push(rawFrame(body).subarray(0, 4))).toThrow(ControlFrameTooLargeError);
  });

  it('refuses empty frames, garbage and trailing bytes as protocol errors', () => {
    const cases: Uint8Array[] = [
      rawFrame(new Uint8Array(0)),
      rawFrame(new Uint8Array([0xc1])), // 0xc1 is never used in msgpack
      rawFrame(concat([pack({ a: 1 }), pack({ b: 2 })])),
      rawFrame(pack({ a: 1 }).subarray(0, 2)), // a map cut short
      rawFrame(pack(5)),
      rawFrame(pack([{ a: 1 }])),
      rawFrame(pack(null)),
    ];
    for (const frame of cases) {
      const { decoder, got } = collect();
      expect(() => decoder.push(frame)).toThrow(ControlProtocolError);
      expect(got).toEqual([]);
    }
  });

  it('does not latch when the consumer throws', () => {
    const got: unknown[] = [];
    const decoder = new FrameDecoder((m) => {
      if (got.push(m) === 1) throw new Error('consumer failed');
    });
    expect(() => decoder.push(encodeFrame({ n: 1 }))).toThrow('consumer failed');
    decoder.push(encodeFrame({ n: 2 }));
    expect(got).toEqual([{ n: 1 }, { n: 2 }]);
    expect(decoder.error).toBeUndefined();
  });
});

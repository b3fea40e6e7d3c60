import { describe, expect, it } from 'vitest';
import { ByteRingReader, ByteRingWriter } from './byte-ring.ts';
import { consoleBackend, consoleFrontend, xenconsInterface } from './console-interface.ts';
import { ByteRingOverflowError, RingLayoutError } from './errors.ts';
import { XENSTORE, xenstoreClient, xenstoreDomainInterface, xenstoreServer } from './xenstore-interface.ts';
import { XS, xsdSockmsg } from './xs-wire.ts';
import { prng } from './testing/prng.ts';

const enc = new TextEncoder();
const dec = new TextDecoder();

function page(shared = true): Uint8Array {
  return new Uint8Array(shared ? new SharedArrayBuffer(4096) : new ArrayBuffer(4096));
}

function u32(p: Uint8Array, off: number): number {
  return new DataView(p.buffer, p.byteOffset).getUint32(off, true);
}
function setU32(p: Uint8Array, off: number, v: number): void {
  new DataView(p.buffer, p.byteOffset).setUint32(off, v >>> 0, true);
}

describe('console page (xencons_interface)', () => {
  for (const shared of [true, false]) {
    it(`carries input to the guest and output from it (${shared ? 'SharedArrayBuffer' : 'ArrayBuffer'})`, () => {
      const p = page(shared);
      const back = consoleBackend(p);
      const front = consoleFrontend(p);
      expect(back.input.write(enc.encode('ls\n'))).toBe(3);
      expect(front.input.available()).toBe(3);
      expect(dec.decode(front.input.read())).toBe('ls\n');
      expect(front.output.write(enc.encode('bin etc\n'))).toBe(8);
      expect(dec.decode(back.output.read())).toBe('bin etc\n');
      // The words sit where the C struct puts them.
      expect([u32(p, 3072), u32(p, 3076), u32(p, 3080), u32(p, 3084)]).toEqual([3, 3, 8, 8]);
      expect(dec.decode(p.subarray(0, 3))).toBe('ls\n');
      expect(dec.decode(p.subarray(1024, 1032))).toBe('bin etc\n');
    });
  }

  it('has the sizes of the C arrays: 1024 in, 2048 out', () => {
    const back = consoleBackend(page());
    expect(back.input.size).toBe(1024);
    expect(back.output.size).toBe(2048);
    expect(xenconsInterface.size).toBe(3088);
  });

  it('writes partially when full and reports the count', () => {
    const p = page();
    const back = consoleBackend(p);
    const front = consoleFrontend(p);
    const big = new Uint8Array(1500).fill(0x41);
    expect(back.input.write(big)).toBe(1024);
    expect(back.input.free()).toBe(0);
    expect(back.input.pending()).toBe(1024);
    expect(back.input.write(big)).toBe(0);
    expect(front.input.read(1000).byteLength).toBe(1000);
    expect(back.input.free()).toBe(1000);
    expect(back.input.write(big.subarray(1024))).toBe(476);
    expect(front.input.available()).toBe(500);
  });

  it('reads byte by byte and in odd chunks, across the end of the buffer', () => {
    const p = page();
    const back = consoleBackend(p);
    const front = consoleFrontend(p);
    back.input.write(new Uint8Array(1000));
    front.input.read(); // both indices at 1000: the next message wraps at 1024
    const msg = enc.encode('the quick brown fox jumps over the lazy dog, twice over the wrap');
    expect(back.input.write(msg)).toBe(msg.byteLength);
    const got: number[] = [];
    const one = new Uint8Array(1);
    while (front.input.readInto(one) === 1) got.push(one[0] ?? -1);
    expect(dec.decode(Uint8Array.from(got))).toBe(dec.decode(msg));
    expect(front.input.readInto(one)).toBe(0);
    expect(front.input.read().byteLength).toBe(0);
  });

  it('keeps free-running indices working across 2^32', () => {
    const p = page();
    setU32(p, 3080, 0xfffffff0); // out_cons
    setU32(p, 3084, 0xfffffff0); // out_prod
    const back = consoleBackend(p);
    const front = consoleFrontend(p);
    let text = '';
    for (let i = 0; i < 10; i++) {
      const chunk = `line ${i} ${'x'.repeat(i * 7)}\n`;
      expect(front.output.write(enc.encode(chunk))).toBe(chunk.length);
      text += dec.decode(back.output.read());
    }
    expect(text.split('\n').length).toBe(11);
    expect(front.output.prod).toBeLessThan(0x1000);
    expect(u32(p, 3084)).toBe(front.output.prod);
    expect(u32(p, 3080)).toBe(front.output.prod);
  });

  it('attaches to a ring already in use: each end starts from the index on the page', () => {
    const p = page();
    setU32(p, 3072, 500);
    setU32(p, 3076, 503);
    p.set(enc.encode('abc'), 500);
    const front = consoleFrontend(p);
    expect(dec.decode(front.input.read())).toBe('abc');
  });

  it('latches ByteRingOverflowError when the producer claims more than the ring holds', () => {
    const p = page();
    const front = consoleFrontend(p);
    setU32(p, 3076, 1025); // in_prod: 1025 bytes in a 1024-byte ring
    let err: unknown = null;
    try {
      front.input.available();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ByteRingOverflowError);
    const o = err as ByteRingOverflowError;
    expect([o.ring, o.cons, o.prod, o.ringSize]).toEqual(['xencons.in', 0, 1025, 1024]);
    setU32(p, 3076, 3);
    expect(() => front.input.read()).toThrow(err as Error);
    expect(front.input.error).toBe(err);
    front.input.resync();
    expect(front.input.read().byteLength).toBe(3);
  });

  it('latches when the consumer claims to be ahead of the producer', () => {
    const p = page();
    const back = consoleBackend(p);
    back.input.write(enc.encode('hello'));
    setU32(p, 3072, 9); // in_cons past in_prod = 5
    expect(() => back.input.write(enc.encode('!'))).toThrow(ByteRingOverflowError);
    expect(() => back.input.free()).toThrow(ByteRingOverflowError);
  });

  it('refuses pages that cannot hold the interface', () => {
    expect(() => consoleBackend(new Uint8Array(3000))).toThrow(RingLayoutError);
    expect(() => consoleBackend(new Uint8Array(4100).subarray(2))).toThrow(RingLayoutError);
    const words = new Uint32Array(4);
    expect(() => new ByteRingReader({ name: 'odd', data: new Uint8Array(1000), words, consWord: 0, prodWord: 1 })).toThrow(RingLayoutError);
    expect(() => new ByteRingWriter({ name: 'bad', data: new Uint8Array(1024), words, consWord: 0, prodWord: 9 })).toThrow(RingLayoutError);
  });
});

describe('XenStore page (xenstore_domain_interface)', () => {
  it('carries a request from the guest and a reply back', () => {
    const p = page();
    const guest = xenstoreClient(p);
    const daemon = xenstoreServer(p);
    const payload = enc.encode('device/vbd\0');
    const hdr = xsdSockmsg.encode({ type: XS.XS_DIRECTORY, req_id: 7, tx_id: 0, len: payload.byteLength });
    expect(guest.requests.write(hdr)).toBe(16);
    expect(guest.requests.write(payload)).toBe(payload.byteLength);
    const got = daemon.requests.read();
    expect(xsdSockmsg.decode(got)).toEqual({ type: XS.XS_DIRECTORY, req_id: 7, tx_id: 0, len: 11 });
    expect(dec.decode(got.subarray(16))).toBe('device/vbd\0');
    daemon.responses.write(xsdSockmsg.encode({ type: XS.XS_DIRECTORY, req_id: 7, tx_id: 0, len: 0 }));
    expect(xsdSockmsg.decode(guest.responses.read()).req_id).toBe(7);
    expect([u32(p, 2048), u32(p, 2052), u32(p, 2056), u32(p, 2060)]).toEqual([27, 27, 16, 16]);
    expect(guest.requests.size).toBe(XENSTORE.XENSTORE_RING_SIZE);
    expect(xenstoreDomainInterface.size).toBe(2076);
  });

  it('exposes server_features, connection and error at their offsets', () => {
    const p = page();
    const daemon = xenstoreServer(p);
    const guest = xenstoreClient(p);
    daemon.control.serverFeatures = XENSTORE.XENSTORE_SERVER_FEATURE_RECONNECTION | XENSTORE.XENSTORE_SERVER_FEATURE_ERROR;
    guest.control.connection = XENSTORE.XENSTORE_RECONNECT;
    daemon.control.error = XENSTORE.XENSTORE_ERROR_RINGIDX;
    expect([u32(p, 2064), u32(p, 2068), u32(p, 2072)]).toEqual([3, 1, 2]);
    expect(guest.control.serverFeatures).toBe(3);
    expect(daemon.control.connection).toBe(1);
    expect(guest.control.error).toBe(2);
  });

  it('detects a request ring overrun by a hostile guest', () => {
    const p = page();
    const daemon = xenstoreServer(p);
    setU32(p, 2052, 0xffffff00); // req_prod far ahead of req_cons = 0
    expect(() => daemon.requests.available()).toThrow(ByteRingOverflowError);
    expect(daemon.requests.error?.ring).toBe('xenstore.req');
  });
});

describe('byte rings against a hostile peer', () => {
  it('fails only with ByteRingOverflowError, exactly when prod - cons > size, over 5000 random states', () => {
    const rnd = prng(0xc0ffee);
    let overflows = 0;
    let bytes = 0;
    for (let trial = 0; trial < 5000; trial++) {
      const whole = new Uint8Array(new SharedArrayBuffer(4096 + 512)).fill(0x5a);
      const p = whole.subarray(256, 256 + 4096);
      const start = rnd();
      setU32(p, 3080, start);
      setU32(p, 3084, start);
      const back = consoleBackend(p);
      const front = consoleFrontend(p);
      let latched: ByteRingOverflowError | null = null;
      for (let step = 0; step < 20 && latched === null; step++) {
        // The hostile guest writes some output honestly, then maybe lies about out_prod.
        front.output.write(new Uint8Array(rnd() % 300).fill(0x42));
        if (rnd() % 4 === 0) {
          setU32(p, 3084, rnd() % 2 === 0 ? rnd() : (back.output.cons + (rnd() % 2100)) >>> 0);
          // The liar's own writer adopts the lie, so its next honest write continues from it.
          front.output.resync();
        }
        const prod = u32(p, 3084);
        const legal = ((prod - back.output.cons) >>> 0) <= 2048;
        try {
          const got = back.output.read(rnd() % 3000);
          if (!legal) throw new Error('impossible out_prod accepted');
          if (got.byteLength > 2048) throw new Error('read more than the ring holds');
          bytes += got.byteLength;
        } catch (e) {
          if (!(e instanceof ByteRingOverflowError)) throw e;
          if (legal) throw new Error(`legal out_prod ${prod} refused`);
          latched = e;
        }
      }
      if (latched === null) {
        setU32(p, 3084, (back.output.cons - 1) >>> 0);
        expect(() => back.output.available()).toThrow(ByteRingOverflowError);
      }
      overflows++;
      expect(whole.subarray(0, 256).every((b) => b === 0x5a) && whole.subarray(256 + 4096).every((b) => b === 0x5a)).toBe(true);
    }
    expect(overflows).toBe(5000);
    expect(bytes).toBeGreaterThan(100_000);
  });
});

import { describe, expect, it } from 'vitest';
import { RingLayoutError } from './errors.ts';
import {
  SRING_HEADER_SIZE,
  XEN_PAGE_SIZE,
  initSharedRing,
  readSharedIndices,
  ringBytesForPageOrder,
  ringGeometry,
  ringSize,
  roundDownPow2,
  slotOffset,
  sringIndexWords,
} from './sring.ts';

describe('roundDownPow2 (__RD32)', () => {
  it('rounds down to a power of two across the uint32 range', () => {
    expect(roundDownPow2(0)).toBe(0);
    expect(roundDownPow2(1)).toBe(1);
    expect(roundDownPow2(2)).toBe(2);
    expect(roundDownPow2(3)).toBe(2);
    expect(roundDownPow2(36)).toBe(32);
    expect(roundDownPow2(0x10000)).toBe(0x10000);
    expect(roundDownPow2(0x1ffff)).toBe(0x10000);
    expect(roundDownPow2(0x80000000)).toBe(0x80000000);
    expect(roundDownPow2(0xffffffff)).toBe(0x80000000);
  });
  it('rejects values __RD32 cannot take', () => {
    expect(() => roundDownPow2(-1)).toThrow(RangeError);
    expect(() => roundDownPow2(2 ** 32)).toThrow(RangeError);
    expect(() => roundDownPow2(1.5)).toThrow(RangeError);
  });
});

describe('ringSize', () => {
  it('matches the well-known one-page ring sizes', () => {
    expect(ringSize(XEN_PAGE_SIZE, 112)).toBe(32); // blkif: (4096-64)/112 = 36
    expect(ringSize(XEN_PAGE_SIZE, 12)).toBe(256); // netif tx: 336
    expect(ringSize(XEN_PAGE_SIZE, 8)).toBe(256); // netif rx: 504
    expect(ringSize(XEN_PAGE_SIZE, 64)).toBe(32); // 63 fit
    expect(ringSize(XEN_PAGE_SIZE, 1)).toBe(2048); // 4032 fit
  });
  it('grows with the ring page order', () => {
    expect(ringSize(ringBytesForPageOrder(0), 112)).toBe(32);
    expect(ringSize(ringBytesForPageOrder(1), 112)).toBe(64); // 72 fit
    expect(ringSize(ringBytesForPageOrder(2), 112)).toBe(128); // 145 fit
    expect(ringSize(ringBytesForPageOrder(4), 112)).toBe(512); // 584 fit
    expect(ringSize(ringBytesForPageOrder(3), 12)).toBe(2048); // 2725 fit
  });
  it('is 0 when not one entry fits, and exact at the boundary', () => {
    expect(ringSize(0, 8)).toBe(0);
    expect(ringSize(SRING_HEADER_SIZE, 8)).toBe(0);
    expect(ringSize(SRING_HEADER_SIZE + 7, 8)).toBe(0);
    expect(ringSize(SRING_HEADER_SIZE + 8, 8)).toBe(1);
    expect(ringSize(SRING_HEADER_SIZE + 16, 8)).toBe(2);
    expect(ringSize(SRING_HEADER_SIZE + 23, 8)).toBe(2);
  });
  it('rejects nonsense arguments', () => {
    expect(() => ringSize(-1, 8)).toThrow(RangeError);
    expect(() => ringSize(4096, 0)).toThrow(RangeError);
    expect(() => ringSize(4096, 2.5)).toThrow(RangeError);
  });
  it('knows page orders', () => {
    expect(ringBytesForPageOrder(0)).toBe(4096);
    expect(ringBytesForPageOrder(4)).toBe(65536);
    expect(() => ringBytesForPageOrder(-1)).toThrow(RangeError);
    expect(() => ringBytesForPageOrder(21)).toThrow(RangeError);
  });
});

describe('initSharedRing (SHARED_RING_INIT)', () => {
  it('zeroes producers, sets both events to 1, clears padding, leaves entries alone', () => {
    const mem = new Uint8Array(new SharedArrayBuffer(XEN_PAGE_SIZE)).fill(0xa5);
    initSharedRing(mem);
    expect(readSharedIndices(mem)).toEqual({ reqProd: 0, reqEvent: 1, rspProd: 0, rspEvent: 1 });
    expect([...mem.subarray(16, SRING_HEADER_SIZE)].every((b) => b === 0)).toBe(true);
    expect([...mem.subarray(SRING_HEADER_SIZE)].every((b) => b === 0xa5)).toBe(true);
  });
  it('stores the indices little-endian at offsets 0, 4, 8, 12', () => {
    const mem = new Uint8Array(XEN_PAGE_SIZE);
    initSharedRing(mem);
    const dv = new DataView(mem.buffer);
    expect([dv.getUint32(0, true), dv.getUint32(4, true), dv.getUint32(8, true), dv.getUint32(12, true)]).toEqual([0, 1, 0, 1]);
  });
  it('works on a view into the middle of a larger buffer', () => {
    const big = new Uint8Array(3 * XEN_PAGE_SIZE).fill(0xff);
    initSharedRing(big.subarray(XEN_PAGE_SIZE, 2 * XEN_PAGE_SIZE));
    expect(big[XEN_PAGE_SIZE - 1]).toBe(0xff);
    expect(big[XEN_PAGE_SIZE]).toBe(0);
    expect(big[XEN_PAGE_SIZE + 4]).toBe(1);
  });
});

describe('ring geometry', () => {
  it('refuses views that cannot hold a ring', () => {
    expect(() => sringIndexWords(new Uint8Array(32))).toThrow(RingLayoutError);
    expect(() => sringIndexWords(new Uint8Array(4100).subarray(2, 4098))).toThrow(RingLayoutError);
    expect(() => ringGeometry(new Uint8Array(SRING_HEADER_SIZE + 100), 112)).toThrow(RingLayoutError);
    expect(() => ringGeometry(new Uint8Array(4096), 0)).toThrow(RingLayoutError);
    expect(() => ringGeometry(new Uint8Array(4096), 8, { pages: 2 })).toThrow(RingLayoutError);
    expect(() => ringGeometry(new Uint8Array(4096), 8, { startIndex: -1 })).toThrow(RingLayoutError);
    expect(() => ringGeometry(new Uint8Array(4096), 8, { startIndex: 2 ** 32 })).toThrow(RingLayoutError);
  });
  it('uses exactly the requested pages of a bigger view', () => {
    const g = ringGeometry(new Uint8Array(8 * XEN_PAGE_SIZE), 112, { pages: 4 });
    expect(g.mem.byteLength).toBe(4 * XEN_PAGE_SIZE);
    expect(g.size).toBe(128);
  });
  it('maps free-running indices onto slots inside the ring', () => {
    const g = ringGeometry(new Uint8Array(XEN_PAGE_SIZE), 112);
    expect(slotOffset(g, 0)).toBe(64);
    expect(slotOffset(g, 31)).toBe(64 + 31 * 112);
    expect(slotOffset(g, 32)).toBe(64);
    expect(slotOffset(g, 0xffffffff)).toBe(64 + 31 * 112);
    expect(slotOffset(g, 0xffffffff) + 112).toBeLessThanOrEqual(XEN_PAGE_SIZE);
  });
});

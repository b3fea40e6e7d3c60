import { describe, expect, it } from 'vitest';
import { LayoutError } from '../../ring-buffer/layout.ts';
import { SharedInfoView, VcpuInfoView } from './shared-info.ts';

/** The 64-bit words the guest sees, read as the guest's unsigned longs. */
function u64(bytes: Uint8Array, offset: number): bigint {
  return new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(offset, true);
}

describe('SharedInfoView bit operations', () => {
  it.each([0, 1, 31, 32, 63, 64, 127, 4095])('port %i lands in the right bit of the right 64-bit word', (port) => {
    const page = new Uint8Array(4096);
    const s = new SharedInfoView(page);
    expect(s.testAndSetPending(port)).toBe(false);
    expect(s.testAndSetPending(port)).toBe(true);
    const word = Math.floor(port / 64);
    expect(u64(page, 0x800 + word * 8)).toBe(1n << BigInt(port % 64));
    expect(s.isPending(port)).toBe(true);
    s.clearPending(port);
    expect(u64(page, 0x800 + word * 8)).toBe(0n);
    s.setMask(port);
    expect(u64(page, 0xa00 + word * 8)).toBe(1n << BigInt(port % 64));
    expect(s.isMasked(port)).toBe(true);
    expect(s.testAndClearMask(port)).toBe(true);
    expect(s.testAndClearMask(port)).toBe(false);
  });

  it('leaves the guest other bits of a word alone', () => {
    const page = new Uint8Array(4096);
    const dv = new DataView(page.buffer);
    dv.setBigUint64(0xa00, 0xffff_ffff_ffff_ffffn, true);
    const s = new SharedInfoView(page);
    s.testAndClearMask(31);
    s.testAndClearMask(63);
    expect(dv.getBigUint64(0xa00, true)).toBe(0x7fff_ffff_7fff_ffffn);
  });

  it('refuses ports outside the 2-level bitmaps and misaligned views', () => {
    const s = new SharedInfoView(new Uint8Array(4096));
    expect(() => s.testAndSetPending(4096)).toThrow(LayoutError);
    expect(() => s.isMasked(-1)).toThrow(LayoutError);
    expect(() => new SharedInfoView(new Uint8Array(new ArrayBuffer(4104), 4, 4096))).toThrow(LayoutError);
    expect(() => new SharedInfoView(new Uint8Array(3000))).toThrow(LayoutError);
    expect(() => s.vcpuInfoSlot(32)).toThrow(LayoutError);
  });
});

describe('VcpuInfoView', () => {
  it('sets upcall_pending once and selector bits in the 64-bit word', () => {
    const bytes = new Uint8Array(64);
    const v = new VcpuInfoView(bytes);
    expect(v.testAndSetUpcallPending()).toBe(false);
    expect(v.testAndSetUpcallPending()).toBe(true);
    expect(bytes[0]).toBe(1);
    expect(v.testAndSetSelector(63)).toBe(false);
    expect(v.testAndSetSelector(0)).toBe(false);
    expect(v.testAndSetSelector(63)).toBe(true);
    expect(u64(bytes, 8)).toBe((1n << 63n) | 1n);
    expect(v.pendingSelector).toBe((1n << 63n) | 1n);
    expect(() => v.testAndSetSelector(64)).toThrow(LayoutError);
  });

  it('marks everything pending and copies itself word by word', () => {
    const a = new VcpuInfoView(new Uint8Array(64));
    a.bytes.fill(7, 32); // time
    a.markAllPending();
    const b = new VcpuInfoView(new Uint8Array(64));
    a.copyTo(b);
    expect(b.bytes).toEqual(a.bytes);
    expect(b.upcallPending).toBe(true);
    expect(b.pendingSelector).toBe(0xffff_ffff_ffff_ffffn);
  });
});

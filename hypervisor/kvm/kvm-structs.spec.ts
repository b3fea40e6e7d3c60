import { describe, expect, it } from 'vitest';
import { KVM_REGS, KVM_SREGS } from './kvm-structs.ts';
import { LayoutError, defineStruct } from '../../ring-buffer/layout.ts';

describe('KVM structs through ring-buffer/layout.ts', () => {
  it('round-trips nested structs and arrays', () => {
    const sregs = KVM_SREGS.zero();
    sregs.cs.base = 0xffff_0000n;
    sregs.cs.selector = 0xf000;
    sregs.tr.type = 11;
    sregs.idt.limit = 0xffff;
    sregs.efer = 0x500n;
    sregs.interrupt_bitmap = [1n, 0n, 0n, 1n << 63n];
    const bytes = KVM_SREGS.encode(sregs);
    expect(bytes.length).toBe(312);
    expect(new DataView(bytes.buffer).getUint16(12, true)).toBe(0xf000);
    expect(new DataView(bytes.buffer).getBigUint64(280 + 24, true)).toBe(1n << 63n);
    expect(KVM_SREGS.decode(bytes)).toEqual(sregs);
  });

  it('decodes at an offset of a bigger buffer and encodes into one, zeroing undeclared bytes', () => {
    const buf = new Uint8Array(16 + KVM_REGS.size).fill(0xee);
    const regs = KVM_REGS.zero();
    regs.rip = 0xfff0n;
    regs.rflags = 2n;
    KVM_REGS.encode(regs, buf, 16);
    expect(buf[15]).toBe(0xee);
    expect(KVM_REGS.decode(buf, 16)).toEqual(regs);
    const padded = defineStruct('p', 8, { a: { offset: 0, type: 'u16' } });
    const target = new Uint8Array(8).fill(0xff);
    padded.encode({ a: 1 }, target);
    expect([...target]).toEqual([1, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('refuses values that do not fit their member', () => {
    const l = defineStruct('t', 8, { a: { offset: 0, type: 'u8' }, b: { offset: 4, type: 'i32' } });
    expect(() => l.encode({ a: 256, b: 0 })).toThrow(LayoutError);
    expect(() => l.encode({ a: 1.5, b: 0 })).toThrow(LayoutError);
    expect(() => l.encode({ a: 0, b: 2 ** 31 })).toThrow(LayoutError);
    expect(() => KVM_REGS.encode({ ...KVM_REGS.zero(), rax: -1n })).toThrow(/rax: -1 does not fit u64/);
    expect(l.decode(l.encode({ a: 255, b: -1 }))).toEqual({ a: 255, b: -1 });
  });

  it('rejects reads and writes past the buffer', () => {
    expect(() => KVM_REGS.decode(new Uint8Array(100))).toThrow(LayoutError);
    expect(() => KVM_REGS.encode(KVM_REGS.zero(), new Uint8Array(144), 8)).toThrow(LayoutError);
  });

  it('rejects overlapping, misaligned and oversized declarations', () => {
    expect(() => defineStruct('o', 8, { a: { offset: 0, type: 'u64' }, b: { offset: 4, type: 'u32' } })).toThrow(/overlaps/);
    expect(() => defineStruct('m', 8, { a: { offset: 2, type: 'u32' } })).toThrow(/aligned/);
    expect(() => defineStruct('s', 4, { a: { offset: 0, type: 'u64' } })).toThrow(/past the struct's/);
    expect(() => defineStruct('c', 8, { a: { offset: 0, type: 'u32', count: 3 } })).toThrow(/past the struct's/);
  });
});

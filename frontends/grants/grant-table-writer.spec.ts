import { describe, expect, it } from 'vitest';
import { GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRIES_V1_PER_FRAME, GTF, grantEntryV1 } from '../../ring-buffer/grant-table.ts';
import { GrantRefInvalidError, GrantRefsExhaustedError } from './errors.ts';
import { GrantTableWriter } from './grant-table-writer.ts';

function frames(n: number): Uint8Array[] {
  const buf = new SharedArrayBuffer(n * 4096);
  return Array.from({ length: n }, (_, i) => new Uint8Array(buf, i * 4096, 4096));
}

function entry(fs: Uint8Array[], ref: number) {
  const f = fs[Math.floor(ref / GRANT_ENTRIES_V1_PER_FRAME)]!;
  return grantEntryV1.decode(f, (ref % GRANT_ENTRIES_V1_PER_FRAME) * grantEntryV1.size);
}

function setFlags(fs: Uint8Array[], ref: number, bits: number): void {
  const f = fs[Math.floor(ref / GRANT_ENTRIES_V1_PER_FRAME)]!;
  const w = new Uint16Array(f.buffer, f.byteOffset, 2048);
  Atomics.or(w, (ref % GRANT_ENTRIES_V1_PER_FRAME) * 4, bits);
}

describe('GrantTableWriter', () => {
  it('never hands out the reserved refs and writes domid, frame and flags', () => {
    const fs = frames(1);
    const w = new GrantTableWriter(fs);
    const ref = w.grantAccess(0, 0x1234, false);
    expect(ref).toBeGreaterThanOrEqual(GNTTAB_NR_RESERVED_ENTRIES);
    expect(entry(fs, ref)).toEqual({ flags: GTF.GTF_permit_access, domid: 0, frame: 0x1234 });
    const ro = w.grantAccess(7, 0xabcdef, true);
    expect(entry(fs, ro)).toEqual({ flags: GTF.GTF_permit_access | GTF.GTF_readonly, domid: 7, frame: 0xabcdef });
  });

  it('allocates every non-reserved ref across frames once, then reports exhaustion', () => {
    const fs = frames(2);
    const w = new GrantTableWriter(fs);
    const refs = new Set<number>();
    const total = 2 * GRANT_ENTRIES_V1_PER_FRAME - GNTTAB_NR_RESERVED_ENTRIES;
    for (let i = 0; i < total; i++) refs.add(w.grantAccess(0, i, false));
    expect(refs.size).toBe(total);
    expect(Math.min(...refs)).toBe(GNTTAB_NR_RESERVED_ENTRIES);
    expect(Math.max(...refs)).toBe(2 * GRANT_ENTRIES_V1_PER_FRAME - 1);
    expect(() => w.grantAccess(0, 1, false)).toThrow(GrantRefsExhaustedError);
    // The ref in the second frame really landed in the second frame.
    expect(entry(fs, GRANT_ENTRIES_V1_PER_FRAME + 3).flags).toBe(GTF.GTF_permit_access);
  });

  it('endAccess refuses while the grantee has GTF_reading or GTF_writing set', () => {
    const fs = frames(1);
    const w = new GrantTableWriter(fs);
    const ref = w.grantAccess(0, 42, false);
    setFlags(fs, ref, GTF.GTF_reading);
    expect(w.endAccess(ref)).toBe(false);
    expect(entry(fs, ref).flags).toBe(GTF.GTF_permit_access | GTF.GTF_reading);
    expect(w.endAccessAndFree(ref)).toBe(false);
    setFlags(fs, ref, GTF.GTF_writing);
    // Clearing reading alone is not enough.
    const f = new Uint16Array(fs[0]!.buffer, 0, 2048);
    Atomics.and(f, ref * 4, ~GTF.GTF_reading & 0xffff);
    expect(w.endAccess(ref)).toBe(false);
    Atomics.and(f, ref * 4, ~GTF.GTF_writing & 0xffff);
    expect(w.endAccess(ref)).toBe(true);
    expect(entry(fs, ref).flags).toBe(0);
  });

  it('frees refs for reuse and rejects reserved, foreign and still-granted refs', () => {
    const fs = frames(1);
    const w = new GrantTableWriter(fs);
    const before = w.freeCount;
    const ref = w.grantAccess(0, 1, false);
    expect(() => w.freeRef(ref)).toThrow(GrantRefInvalidError);
    expect(w.endAccessAndFree(ref)).toBe(true);
    expect(w.freeCount).toBe(before);
    expect(w.grantAccess(0, 2, false)).toBe(ref);
    expect(() => w.endAccess(3)).toThrow(GrantRefInvalidError);
    expect(() => w.endAccess(500)).toThrow(GrantRefInvalidError);
    expect(w.grantedRefs()).toEqual([ref]);
  });
});

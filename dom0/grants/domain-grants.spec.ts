import { describe, expect, it } from 'vitest';
import { GTF, grantEntryV1 } from '../../ring-buffer/grant-table.ts';
import { DomainGrants, GrantRefusedError } from './domain-grants.ts';

const PAGE = 4096;

function setup() {
  const frames = new Uint8Array(new SharedArrayBuffer(2 * PAGE));
  const ram = new Uint8Array(new SharedArrayBuffer(64 * PAGE));
  // Guest RAM: frames 0..31 at file offset 0, frames 0x100..0x11f at file offset 32 pages.
  const regions = [
    { base: 0, size: 32 * PAGE, fileOffset: 0 },
    { base: 0x100 * PAGE, size: 32 * PAGE, fileOffset: 32 * PAGE },
  ];
  const grants = new DomainGrants({ frames, ram, regions });
  const grant = (ref: number, v: { flags: number; domid: number; frame: number }): void => {
    frames.set(grantEntryV1.encode(v), ref * grantEntryV1.size);
  };
  const entry = (ref: number) => grantEntryV1.decode(frames.slice(ref * 8, ref * 8 + 8));
  return { frames, ram, grants, grant, entry };
}

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof GrantRefusedError) return err.reason;
    throw err;
  }
  return 'mapped';
}

describe('DomainGrants (Dom0 mapping a guest grant)', () => {
  it('maps exactly the granted page, marks it reading/writing while mapped, and clears the marks', () => {
    const { ram, grants, grant, entry } = setup();
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x101 });
    ram[33 * PAGE + 5] = 0xab;
    const r = grants.map(8, 'read');
    expect(r.bytes.length).toBe(PAGE);
    expect(r.bytes[5]).toBe(0xab);
    expect(entry(8).flags).toBe(GTF.GTF_permit_access | GTF.GTF_reading);
    const w = grants.map(8, 'write');
    w.bytes[6] = 0xcd;
    expect(ram[33 * PAGE + 6]).toBe(0xcd);
    expect(entry(8).flags).toBe(GTF.GTF_permit_access | GTF.GTF_reading | GTF.GTF_writing);
    w.unmap();
    expect(entry(8).flags).toBe(GTF.GTF_permit_access | GTF.GTF_reading);
    r.unmap();
    r.unmap(); // twice is harmless
    expect(entry(8).flags).toBe(GTF.GTF_permit_access);
    expect(grants.pinnedRefs).toBe(0);
  });

  it('refuses what the entry does not allow, and pins nothing when it does', () => {
    const { grants, grant, entry } = setup();
    grant(9, { flags: 0, domid: 0, frame: 1 });
    grant(10, { flags: GTF.GTF_permit_access, domid: 3, frame: 1 });
    grant(11, { flags: GTF.GTF_permit_access | GTF.GTF_readonly, domid: 0, frame: 1 });
    grant(12, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x80 }); // between the two regions
    grant(13, { flags: GTF.GTF_accept_transfer, domid: 0, frame: 1 });
    expect(refusal(() => grants.map(9, 'read'))).toBe('not-granted');
    expect(refusal(() => grants.map(10, 'read'))).toBe('not-granted');
    expect(refusal(() => grants.map(11, 'write'))).toBe('readonly');
    expect(refusal(() => grants.map(11, 'read'))).toBe('mapped');
    expect(refusal(() => grants.map(12, 'read'))).toBe('bad-frame');
    expect(entry(12).flags).toBe(GTF.GTF_permit_access); // the failed map left no mark
    expect(refusal(() => grants.map(13, 'read'))).toBe('not-granted');
    expect(refusal(() => grants.map(2 * 512, 'read'))).toBe('bad-ref');
    expect(refusal(() => grants.map(-1, 'read'))).toBe('bad-ref');
  });

  it('stillGranted() re-reads the entry: revoked, made read-only, re-pointed or unmapped is no longer granted', () => {
    const { frames, grants, grant } = setup();
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x101 });
    const w = grants.map(8, 'write');
    const r = grants.map(8, 'read');
    expect(w.stillGranted()).toBe(true);
    grant(8, { flags: GTF.GTF_permit_access | GTF.GTF_readonly, domid: 0, frame: 0x101 });
    expect(w.stillGranted()).toBe(false); // a writable mapping needs a writable grant
    expect(r.stillGranted()).toBe(true);
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x102 });
    expect(r.stillGranted()).toBe(false); // another frame
    grant(8, { flags: GTF.GTF_permit_access, domid: 4, frame: 0x101 });
    expect(r.stillGranted()).toBe(false);
    frames.fill(0, 8 * 8, 9 * 8); // revoked
    expect(r.stillGranted()).toBe(false);
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x101 });
    expect(r.stillGranted()).toBe(true);
    r.unmap();
    w.unmap();
    expect(r.stillGranted()).toBe(false);
    expect(grants.pinnedRefs).toBe(0);
  });
});

describe('DomainGrants.copy (GNTTABOP_copy)', () => {
  it('copies between a granted page and Dom0 bytes, and between two granted pages, pinning only during the copy', () => {
    const { ram, grants, grant, entry } = setup();
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x101 });
    grant(9, { flags: GTF.GTF_permit_access | GTF.GTF_readonly, domid: 0, frame: 3 });
    ram.fill(0x5a, 3 * PAGE + 100, 3 * PAGE + 200);
    const mine = new Uint8Array(300);
    grants.copy({ source: { ref: 9, offset: 100 }, dest: { bytes: mine, offset: 10 }, len: 100 });
    expect(mine.subarray(10, 110).every((b) => b === 0x5a)).toBe(true);
    expect(mine[9]).toBe(0);
    expect(mine[110]).toBe(0);
    mine.fill(0xc3);
    grants.copy({ source: { bytes: mine, offset: 0 }, dest: { ref: 8, offset: PAGE - 300 }, len: 300 });
    expect(ram.subarray(33 * PAGE + PAGE - 300, 34 * PAGE).every((b) => b === 0xc3)).toBe(true);
    expect(ram[33 * PAGE + PAGE - 301]).toBe(0);
    grants.copy({ source: { ref: 9, offset: 150 }, dest: { ref: 8, offset: 0 }, len: 10 });
    expect(ram.subarray(33 * PAGE, 33 * PAGE + 10).every((b) => b === 0x5a)).toBe(true);
    expect(entry(8).flags).toBe(GTF.GTF_permit_access);
    expect(entry(9).flags).toBe(GTF.GTF_permit_access | GTF.GTF_readonly);
    expect(grants.pinnedRefs).toBe(0);
  });

  it('refuses what the entries or the arguments do not allow, leaving nothing pinned and nothing written', () => {
    const { ram, grants, grant, entry } = setup();
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x101 });
    grant(9, { flags: GTF.GTF_permit_access | GTF.GTF_readonly, domid: 0, frame: 3 });
    grant(10, { flags: GTF.GTF_permit_access, domid: 5, frame: 4 });
    grant(11, { flags: 0, domid: 0, frame: 4 });
    grant(12, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x80 });
    const mine = new Uint8Array(PAGE).fill(0xee);
    const copy = (op: Parameters<typeof grants.copy>[0]): string => refusal(() => grants.copy(op));
    expect(copy({ source: { bytes: mine, offset: 0 }, dest: { ref: 9, offset: 0 }, len: 8 })).toBe('readonly');
    expect(copy({ source: { ref: 10, offset: 0 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('not-granted');
    expect(copy({ source: { ref: 11, offset: 0 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('not-granted');
    expect(copy({ source: { ref: 12, offset: 0 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('bad-frame');
    expect(copy({ source: { ref: 4096, offset: 0 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('bad-ref');
    expect(copy({ source: { ref: 8, offset: PAGE - 7 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('bad-copy-arg');
    expect(copy({ source: { ref: 8, offset: -1 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('bad-copy-arg');
    expect(copy({ source: { ref: 8, offset: 0 }, dest: { bytes: mine, offset: PAGE - 4 }, len: 8 })).toBe('bad-copy-arg');
    expect(copy({ source: { ref: 8, offset: 0 }, dest: { bytes: mine, offset: 0 }, len: PAGE + 1 })).toBe('bad-copy-arg');
    expect(copy({ source: { ref: 8, offset: 0.5 }, dest: { bytes: mine, offset: 0 }, len: 8 })).toBe('bad-copy-arg');
    // The source pinned, then the dest refused: the source is released again.
    expect(copy({ source: { ref: 8, offset: 0 }, dest: { ref: 9, offset: 0 }, len: 8 })).toBe('readonly');
    expect(entry(8).flags).toBe(GTF.GTF_permit_access);
    expect(grants.pinnedRefs).toBe(0);
    expect(ram.subarray(3 * PAGE, 4 * PAGE).every((b) => b === 0)).toBe(true);
    expect(mine.every((b) => b === 0xee)).toBe(true);
  });

  it('leaves a mapping held meanwhile pinned', () => {
    const { grants, grant, entry } = setup();
    grant(8, { flags: GTF.GTF_permit_access, domid: 0, frame: 0x101 });
    const m = grants.map(8, 'write');
    grants.copy({ source: { bytes: new Uint8Array(4), offset: 0 }, dest: { ref: 8, offset: 0 }, len: 4 });
    expect(entry(8).flags).toBe(GTF.GTF_permit_access | GTF.GTF_reading | GTF.GTF_writing);
    m.unmap();
    expect(entry(8).flags).toBe(GTF.GTF_permit_access);
  });
});

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
});

// blkback's ring against a fake frontend: a FrontRing on the same page, data pages granted
// through a fake grant mapper that enforces each grant's access, an in-memory disk.
import { describe, expect, it } from 'vitest';
import { BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, blkifRequest, blkifRequestDiscard, blkifRequestIndirect, blkifRequestSegment, blkifResponse } from '../../ring-buffer/blkif.ts';
import { FrontRing } from '../../ring-buffer/front-ring.ts';
import { SRING_WORD, initSharedRing, sringIndexWords } from '../../ring-buffer/sring.ts';
import { BlkifRing } from './blkif-ring.ts';
import type { BlockStorage, GrantMapper } from './interfaces.ts';

const PAGE = 4096;

class MemDisk implements BlockStorage {
  readonly bytes: Uint8Array;
  flushes = 0;
  constructor(
    sectors: number,
    readonly readOnly = false,
  ) {
    this.bytes = new Uint8Array(sectors * 512);
  }
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, dest: Uint8Array): void {
    dest.set(this.bytes.subarray(offset, offset + dest.length));
  }
  write(offset: number, src: Uint8Array): void {
    this.bytes.set(src, offset);
  }
  flush(): void {
    this.flushes++;
  }
  discard(offset: number, length: number): boolean {
    this.bytes.fill(0, offset, offset + length);
    return true;
  }
  close(): void {}
}

/** ref -> page, and whether the frontend granted it read-only. */
function fakeGrants(pages: Map<number, { bytes: Uint8Array; readonly: boolean }>): GrantMapper & { mapped: number } {
  const g = {
    mapped: 0,
    map(ref: number, access: 'read' | 'write') {
      const p = pages.get(ref);
      if (p === undefined) throw new Error(`ref ${ref} not granted`);
      if (access === 'write' && p.readonly) throw new Error(`ref ${ref} is read-only`);
      g.mapped++;
      return { bytes: p.bytes, unmap: () => void g.mapped-- };
    },
  };
  return g;
}

function setup(disk = new MemDisk(64), discard = false) {
  const ringPage = new Uint8Array(new SharedArrayBuffer(PAGE));
  initSharedRing(ringPage);
  const front = new FrontRing(ringPage, BLKIF_RING_ENTRY_SIZE);
  const pages = new Map<number, { bytes: Uint8Array; readonly: boolean }>();
  for (let ref = 8; ref < 20; ref++) pages.set(ref, { bytes: new Uint8Array(PAGE), readonly: ref >= 16 });
  const grants = fakeGrants(pages);
  let notified = 0;
  const back = new BlkifRing(ringPage, disk, grants, () => void notified++, undefined, undefined, discard);
  const request = (r: { operation: number; nr_segments: number; id: bigint; sector_number: bigint; seg: Array<{ gref: number; first_sect: number; last_sect: number }> }): void => {
    const entry = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
    entry.set(blkifRequest.encode({ handle: 0, ...r }));
    front.putRequest(entry);
  };
  const responses = (): Array<{ id: bigint; operation: number; status: number; stale: boolean }> => {
    front.pushRequests();
    back.kick();
    const out = [];
    while (front.unconsumedResponses() > 0) {
      const e = front.takeResponse();
      out.push({ ...blkifResponse.decode(e), stale: e.subarray(16).some((b) => b !== 0) });
    }
    return out;
  };
  const raw = (encoded: Uint8Array): void => {
    const entry = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
    entry.set(encoded);
    front.putRequest(entry);
  };
  return { ringPage, front, back, disk, pages, grants, request, raw, responses, notified: () => notified };
}

describe('BlkifRing (blkback serving one ring)', () => {
  it('writes and reads back byte for byte, across segments, and unmaps every grant', () => {
    const t = setup();
    t.pages.get(8)!.bytes.fill(0xa1, 0, 4096);
    t.pages.get(9)!.bytes.fill(0xb2, 512, 1024);
    t.request({ operation: BLKIF_OP.BLKIF_OP_WRITE, nr_segments: 2, id: 7n, sector_number: 10n, seg: [{ gref: 8, first_sect: 0, last_sect: 7 }, { gref: 9, first_sect: 1, last_sect: 1 }] });
    expect(t.responses()).toEqual([{ id: 7n, operation: BLKIF_OP.BLKIF_OP_WRITE, status: BLKIF_RSP.BLKIF_RSP_OKAY, stale: false }]);
    expect(t.disk.bytes.subarray(10 * 512, 18 * 512).every((b) => b === 0xa1)).toBe(true);
    expect(t.disk.bytes.subarray(18 * 512, 19 * 512).every((b) => b === 0xb2)).toBe(true);
    t.request({ operation: BLKIF_OP.BLKIF_OP_READ, nr_segments: 1, id: 8n, sector_number: 17n, seg: [{ gref: 10, first_sect: 2, last_sect: 3 }] });
    expect(t.responses()[0]!.status).toBe(BLKIF_RSP.BLKIF_RSP_OKAY);
    const got = t.pages.get(10)!.bytes;
    expect(got.subarray(1024, 1536).every((b) => b === 0xa1)).toBe(true);
    expect(got.subarray(1536, 2048).every((b) => b === 0xb2)).toBe(true);
    expect(got.subarray(0, 1024).every((b) => b === 0)).toBe(true);
    expect(t.grants.mapped).toBe(0);
    expect(t.back.stats).toMatchObject({ reads: 1, writes: 1, bytesRead: 1024, bytesWritten: 4608, errors: 0 });
  });

  it('flushes the storage before answering a flush', () => {
    const t = setup();
    t.request({ operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, nr_segments: 0, id: 1n, sector_number: 0n, seg: [] });
    expect(t.responses()[0]!.status).toBe(BLKIF_RSP.BLKIF_RSP_OKAY);
    expect(t.disk.flushes).toBe(1);
  });

  it('answers each bad request with an error of its own, before any I/O, and goes on serving', () => {
    const t = setup();
    const before = t.disk.bytes.slice();
    const w = (id: bigint, over: Partial<{ operation: number; nr_segments: number; sector_number: bigint; seg: Array<{ gref: number; first_sect: number; last_sect: number }> }>) =>
      t.request({ operation: BLKIF_OP.BLKIF_OP_WRITE, nr_segments: 1, id, sector_number: 0n, seg: [{ gref: 8, first_sect: 0, last_sect: 0 }], ...over });
    w(1n, { seg: [{ gref: 8, first_sect: 3, last_sect: 2 }] }); // first > last
    w(2n, { seg: [{ gref: 8, first_sect: 0, last_sect: 8 }] }); // past the page
    w(3n, { sector_number: 64n }); // past the disk
    w(4n, { sector_number: 63n, seg: [{ gref: 8, first_sect: 0, last_sect: 1 }] }); // straddles the end
    w(5n, { nr_segments: 0, seg: [] });
    w(6n, { nr_segments: 12 });
    w(7n, { seg: [{ gref: 99, first_sect: 0, last_sect: 0 }] }); // not granted
    w(8n, { operation: 42 });
    w(9n, { operation: BLKIF_OP.BLKIF_OP_DISCARD });
    t.request({ operation: BLKIF_OP.BLKIF_OP_READ, nr_segments: 1, id: 10n, sector_number: 0n, seg: [{ gref: 16, first_sect: 0, last_sect: 0 }] }); // read into a read-only grant
    w(11n, {}); // a good one still works
    const r = t.responses();
    expect(r.map((x) => [x.id, x.status])).toEqual([
      [1n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [2n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [3n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [4n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [5n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [6n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [7n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [8n, BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP],
      [9n, BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP],
      [10n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [11n, BLKIF_RSP.BLKIF_RSP_OKAY],
    ]);
    expect(r.every((x) => !x.stale)).toBe(true); // response slots carry no request bytes
    expect(t.disk.bytes.subarray(512).every((b, i) => b === before[512 + i])).toBe(true);
    expect(t.grants.mapped).toBe(0);
  });

  it('refuses writes to a read-only disk and leaves it untouched', () => {
    const t = setup(new MemDisk(64, true));
    t.pages.get(8)!.bytes.fill(0xee);
    t.request({ operation: BLKIF_OP.BLKIF_OP_WRITE, nr_segments: 1, id: 1n, sector_number: 0n, seg: [{ gref: 8, first_sect: 0, last_sect: 7 }] });
    expect(t.responses()[0]!.status).toBe(BLKIF_RSP.BLKIF_RSP_ERROR);
    expect(t.disk.bytes.every((b) => b === 0)).toBe(true);
  });

  it('stops serving (only this ring) when the frontend publishes an impossible producer index', () => {
    const t = setup();
    t.request({ operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, nr_segments: 0, id: 1n, sector_number: 0n, seg: [] });
    t.front.pushRequests();
    Atomics.store(sringIndexWords(t.ringPage), SRING_WORD.req_prod, 1000);
    t.back.kick();
    expect(t.back.error?.message).toMatch(/req_prod/);
    expect(t.disk.flushes).toBe(0);
    t.back.kick(); // harmless afterwards
  });

  it('discards (the range reads as zeros) only when offered, and only inside the disk', () => {
    const t = setup(new MemDisk(64), true);
    t.disk.bytes.fill(0x77);
    const discard = (id: bigint, sector: bigint, nr: bigint) => t.raw(blkifRequestDiscard.encode({ operation: BLKIF_OP.BLKIF_OP_DISCARD, flag: 0, handle: 0, id, sector_number: sector, nr_sectors: nr }));
    discard(1n, 8n, 8n);
    discard(2n, 60n, 8n); // past the end
    discard(3n, 0n, 0n);
    expect(t.responses().map((r) => r.status)).toEqual([BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_RSP.BLKIF_RSP_ERROR, BLKIF_RSP.BLKIF_RSP_ERROR]);
    expect(t.disk.bytes.subarray(8 * 512, 16 * 512).every((b) => b === 0)).toBe(true);
    expect(t.disk.bytes[16 * 512]).toBe(0x77);
    const off = setup();
    off.raw(blkifRequestDiscard.encode({ operation: BLKIF_OP.BLKIF_OP_DISCARD, flag: 0, handle: 0, id: 9n, sector_number: 0n, nr_sectors: 8n }));
    expect(off.responses()[0]!.status).toBe(BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP);
  });

  it('serves indirect requests from descriptors copied once out of read-only indirect pages', () => {
    const t = setup();
    // Indirect page: ref 16 (granted read-only, as Linux grants them); 12 one-sector segments over refs 8..11.
    const ind = t.pages.get(16)!.bytes;
    for (let i = 0; i < 12; i++) ind.set(blkifRequestSegment.encode({ gref: 8 + (i % 4), first_sect: Math.floor(i / 4), last_sect: Math.floor(i / 4) }), i * 8);
    for (let ref = 8; ref < 12; ref++) t.pages.get(ref)!.bytes.fill(ref);
    const indirect = (id: bigint, over: Partial<{ indirect_op: number; nr_segments: number; sector_number: bigint }>) =>
      t.raw(blkifRequestIndirect.encode({ operation: BLKIF_OP.BLKIF_OP_INDIRECT, indirect_op: BLKIF_OP.BLKIF_OP_WRITE, nr_segments: 12, id, sector_number: 4n, handle: 0, indirect_grefs: [16, 0, 0, 0, 0, 0, 0, 0], ...over }));
    indirect(1n, {});
    indirect(2n, { nr_segments: 257 });
    indirect(3n, { indirect_op: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE });
    indirect(4n, { sector_number: 60n });
    // Responses name the operation performed (WRITE), as Linux's blkfront checks.
    expect(t.responses().map((r) => [r.id, r.status, r.operation])).toEqual([
      [1n, BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_OP.BLKIF_OP_WRITE],
      [2n, BLKIF_RSP.BLKIF_RSP_ERROR, BLKIF_OP.BLKIF_OP_WRITE],
      [3n, BLKIF_RSP.BLKIF_RSP_ERROR, BLKIF_OP.BLKIF_OP_INDIRECT],
      [4n, BLKIF_RSP.BLKIF_RSP_ERROR, BLKIF_OP.BLKIF_OP_WRITE],
    ]);
    // Sector 4+i holds the byte of ref 8+(i%4).
    for (let i = 0; i < 12; i++) expect(t.disk.bytes[(4 + i) * 512], `sector ${4 + i}`).toBe(8 + (i % 4));
    expect(t.disk.bytes[16 * 512]).toBe(0);
    expect(t.grants.mapped).toBe(0);
    expect(t.back.stats.indirect).toBe(2);
  });

  it('notifies once per batch, only when the frontend asked', () => {
    const t = setup();
    for (let i = 0; i < 5; i++) t.request({ operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, nr_segments: 0, id: BigInt(i), sector_number: 0n, seg: [] });
    expect(t.responses()).toHaveLength(5);
    expect(t.notified()).toBe(1);
    expect(t.back.stats.maxBatch).toBe(5);
  });
});

// blkback's ring against a fake frontend: a FrontRing on the same page, data pages granted
// through a fake grant mapper that enforces each grant's access, an in-memory disk.
import { describe, expect, it } from 'vitest';
import { BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, blkifRequest, blkifRequestDiscard, blkifRequestIndirect, blkifRequestSegment, blkifResponse } from '../../ring-buffer/blkif.ts';
import { FrontRing } from '../../ring-buffer/front-ring.ts';
import { SRING_WORD, initSharedRing, sringIndexWords } from '../../ring-buffer/sring.ts';
import { BlkifRing, type BlkifRingOptions } from './blkif-ring.ts';
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

/**
 * ref -> page, and whether the frontend granted it read-only; the spec may change or delete an
 * entry later (the guest revoking or regranting), which stillGranted() then sees.
 */
function fakeGrants(pages: Map<number, { bytes: Uint8Array; readonly: boolean }>): GrantMapper & { mapped: number; maps: number } {
  const g = {
    mapped: 0,
    maps: 0,
    map(ref: number, access: 'read' | 'write') {
      const p = pages.get(ref);
      if (p === undefined) throw new Error(`ref ${ref} not granted`);
      if (access === 'write' && p.readonly) throw new Error(`ref ${ref} is read-only`);
      g.mapped++;
      g.maps++;
      let live = true;
      return {
        bytes: p.bytes,
        unmap: () => {
          if (live) g.mapped--;
          live = false;
        },
        stillGranted: () => {
          const now = pages.get(ref);
          return live && now !== undefined && now.bytes === p.bytes && !(access === 'write' && now.readonly);
        },
      };
    },
  };
  return g;
}

function setup(disk = new MemDisk(64), discard = false, more: Partial<BlkifRingOptions> = {}) {
  const ringPage = new Uint8Array(new SharedArrayBuffer(PAGE));
  initSharedRing(ringPage);
  const front = new FrontRing(ringPage, BLKIF_RING_ENTRY_SIZE);
  const pages = new Map<number, { bytes: Uint8Array; readonly: boolean }>();
  for (let ref = 8; ref < 20; ref++) pages.set(ref, { bytes: new Uint8Array(PAGE), readonly: ref >= 16 });
  const grants = fakeGrants(pages);
  let notified = 0;
  const back = new BlkifRing(ringPage, { storage: disk, grants, notify: () => void notified++, discard, ...more });
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

describe('BlkifRing with persistent grants', () => {
  const seg = (gref: number) => [{ gref, first_sect: 0, last_sect: 7 }];
  const rw = (operation: number, id: bigint, sector: bigint, gref: number) => ({ operation, nr_segments: 1, id, sector_number: sector, seg: seg(gref) });

  it('maps a page once, writable, and reuses the mapping for later requests in either direction until stop()', () => {
    const t = setup(new MemDisk(64), false, { persistent: true });
    t.pages.get(8)!.bytes.fill(0x11);
    t.request(rw(BLKIF_OP.BLKIF_OP_WRITE, 1n, 0n, 8));
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 2n, 8n, 8)); // sector 8 is zeros: the page is written into
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 3n, 0n, 9));
    expect(t.responses().map((r) => r.status)).toEqual([BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_RSP.BLKIF_RSP_OKAY]);
    expect(t.disk.bytes[0]).toBe(0x11);
    expect(t.pages.get(8)!.bytes.every((b) => b === 0)).toBe(true);
    expect(t.pages.get(9)!.bytes.every((b) => b === 0x11)).toBe(true);
    expect(t.grants.maps).toBe(2);
    expect(t.grants.mapped).toBe(2); // kept
    expect(t.back.persistentGrants).toBe(2);
    expect(t.back.stats).toMatchObject({ grantMaps: 2, persistentGrants: 2, persistentHits: 1 });
    t.back.stop();
    expect(t.grants.mapped).toBe(0);
    expect(t.back.stats.persistentGrants).toBe(0);
  });

  it('keeps at most maxPersistentGrants per ring and maps the rest per request', () => {
    const t = setup(new MemDisk(64), false, { persistent: true, maxPersistentGrants: 2 });
    t.request({ operation: BLKIF_OP.BLKIF_OP_WRITE, nr_segments: 3, id: 1n, sector_number: 0n, seg: [...seg(8), ...seg(9), ...seg(10)] });
    expect(t.responses()[0]!.status).toBe(BLKIF_RSP.BLKIF_RSP_OKAY);
    expect(t.back.persistentGrants).toBe(2);
    expect(t.grants.mapped).toBe(2);
    t.request(rw(BLKIF_OP.BLKIF_OP_WRITE, 2n, 0n, 10));
    t.request(rw(BLKIF_OP.BLKIF_OP_WRITE, 3n, 0n, 8));
    expect(t.responses().map((r) => r.status)).toEqual([BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_RSP.BLKIF_RSP_OKAY]);
    expect(t.grants.maps).toBe(4); // 8, 9, 10 and 10 again; 8 was kept
    expect(t.grants.mapped).toBe(2);
    t.back.stop();
    expect(t.grants.mapped).toBe(0);
  });

  it('a guest that revokes a kept grant, or regrants it read-only, gets error responses, and the ring goes on', () => {
    const t = setup(new MemDisk(64), false, { persistent: true });
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 1n, 0n, 8));
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 2n, 0n, 9));
    expect(t.responses().map((r) => r.status)).toEqual([BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_RSP.BLKIF_RSP_OKAY]);
    expect(t.grants.mapped).toBe(2);
    t.pages.delete(8); // revoked
    const p9 = t.pages.get(9)!;
    t.pages.set(9, { bytes: p9.bytes, readonly: true }); // regranted read-only
    p9.bytes.fill(0x99);
    t.request(rw(BLKIF_OP.BLKIF_OP_WRITE, 3n, 0n, 8)); // revoked: no mapping at all
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 4n, 0n, 9)); // would write into a read-only page
    t.request(rw(BLKIF_OP.BLKIF_OP_WRITE, 5n, 16n, 9)); // reading a read-only page is allowed, per request
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 6n, 0n, 10)); // others unaffected
    expect(t.responses().map((r) => [r.id, r.status])).toEqual([
      [3n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [4n, BLKIF_RSP.BLKIF_RSP_ERROR],
      [5n, BLKIF_RSP.BLKIF_RSP_OKAY],
      [6n, BLKIF_RSP.BLKIF_RSP_OKAY],
    ]);
    expect(p9.bytes.every((b) => b === 0x99)).toBe(true); // never written after the regrant
    expect(t.disk.bytes[16 * 512]).toBe(0x99);
    expect(t.back.error).toBeNull();
    expect(t.back.stats.persistentRevoked).toBe(2);
    expect(t.back.persistentGrants).toBe(1); // ref 10
    t.back.stop();
    expect(t.grants.mapped).toBe(0);
  });

  it('a page granted read-only from the start is only ever read, per request', () => {
    const t = setup(new MemDisk(64), false, { persistent: true });
    t.pages.get(16)!.bytes.fill(0x16);
    t.request(rw(BLKIF_OP.BLKIF_OP_WRITE, 1n, 0n, 16));
    t.request(rw(BLKIF_OP.BLKIF_OP_READ, 2n, 8n, 16));
    expect(t.responses().map((r) => r.status)).toEqual([BLKIF_RSP.BLKIF_RSP_OKAY, BLKIF_RSP.BLKIF_RSP_ERROR]);
    expect(t.disk.bytes[0]).toBe(0x16);
    expect(t.back.persistentGrants).toBe(0);
    expect(t.grants.mapped).toBe(0);
  });
});

describe('BlkifRing sharing the event loop', () => {
  it('serves a bounded number of requests per turn and the rest after setImmediate, in order', async () => {
    const t = setup(new MemDisk(64), false, { maxRequestsPerTurn: 4 });
    for (let i = 0; i < 10; i++) t.request({ operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, nr_segments: 0, id: BigInt(i), sector_number: 0n, seg: [] });
    expect(t.responses().map((r) => r.id)).toEqual([0n, 1n, 2n, 3n]);
    t.back.kick(); // a notification meanwhile changes nothing: the continuation is due
    expect(t.front.unconsumedResponses()).toBe(0);
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    const rest: bigint[] = [];
    while (t.front.unconsumedResponses() > 0) rest.push(blkifResponse.decode(t.front.takeResponse()).id);
    expect(rest).toEqual([4n, 5n, 6n, 7n, 8n, 9n]);
    expect(t.disk.flushes).toBe(10);
    expect(t.back.stats.yields).toBe(2);
  });

  it('bounds the bytes per turn too, and serves nothing once stopped', async () => {
    const t = setup(new MemDisk(64), false, { maxBytesPerTurn: 8192 });
    for (let i = 0; i < 4; i++) t.request({ operation: BLKIF_OP.BLKIF_OP_WRITE, nr_segments: 1, id: BigInt(i), sector_number: BigInt(i * 8), seg: [{ gref: 8, first_sect: 0, last_sect: 7 }] });
    expect(t.responses().map((r) => r.id)).toEqual([0n, 1n]);
    t.back.stop();
    await new Promise((r) => setTimeout(r, 5));
    expect(t.front.unconsumedResponses()).toBe(0);
    expect(t.back.stats.writes).toBe(2);
  });
});

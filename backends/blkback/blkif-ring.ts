// One blkif ring served: every request copied off once, checked (request.ts), carried out against
// the storage through grant mappings of exactly the pages it names, answered in a zeroed slot
// (no stale bytes), responses pushed and the frontend notified once per batch when the ring asks.
// An impossible producer index latches in the ring library and stops this ring only.
import { BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, blkifResponse } from '../../ring-buffer/blkif.ts';
import { BackRing } from '../../ring-buffer/back-ring.ts';
import type { BlockStorage, GrantMapper, GrantMapping } from './interfaces.ts';
import { SECTOR_SIZE, checkSegments, indirectSegments, parseRequest, type BlkRequest, type Segment } from './request.ts';

export interface BlkStats {
  requests: number;
  reads: number;
  writes: number;
  flushes: number;
  discards: number;
  indirect: number;
  bytesRead: number;
  bytesWritten: number;
  errors: number;
  batches: number;
  maxBatch: number;
  notificationsIn: number;
  notificationsOut: number;
}

export function emptyStats(): BlkStats {
  return { requests: 0, reads: 0, writes: 0, flushes: 0, discards: 0, indirect: 0, bytesRead: 0, bytesWritten: 0, errors: 0, batches: 0, maxBatch: 0, notificationsIn: 0, notificationsOut: 0 };
}

export class BlkifRing {
  private readonly ring: BackRing;
  private readonly entry = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
  private readonly slot = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
  private readonly sectors: bigint;
  private failure: Error | null = null;

  constructor(
    page: Uint8Array,
    private readonly storage: BlockStorage,
    private readonly grants: GrantMapper,
    private readonly notify: () => void,
    readonly stats: BlkStats = emptyStats(),
    private readonly log: (line: string) => void = () => undefined,
    /** Whether discard was offered to the frontend (feature-discard). */
    private readonly discard = false,
  ) {
    this.ring = new BackRing(page, BLKIF_RING_ENTRY_SIZE);
    this.sectors = BigInt(storage.size / SECTOR_SIZE);
  }

  get error(): Error | null {
    return this.failure;
  }

  /** The frontend notified us: serve until the ring is empty and the final check says so. */
  kick(): void {
    if (this.failure) return;
    this.stats.notificationsIn++;
    try {
      let batch = 0;
      do {
        while (this.ring.unconsumedRequests() > 0) {
          this.ring.takeRequest(this.entry);
          this.respond(this.handle());
          batch++;
        }
        // One publication per batch; the frontend is told only if it asked (rsp_event).
        if (this.ring.pushResponsesAndCheckNotify()) {
          this.stats.notificationsOut++;
          this.notify();
        }
      } while (this.ring.finalCheckForRequests());
      if (batch > 0) {
        this.stats.batches++;
        this.stats.maxBatch = Math.max(this.stats.maxBatch, batch);
      }
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      this.log(`blkif ring stopped: ${this.failure.message}`);
    }
  }

  private handle(): { id: bigint; operation: number; status: number } {
    this.stats.requests++;
    const parsed = parseRequest(this.entry, { sectors: this.sectors, readOnly: this.storage.readOnly, discard: this.discard });
    if (!parsed.ok) {
      this.stats.errors++;
      this.log(`request ${parsed.id} refused: ${parsed.reason}`);
      return { id: parsed.id, operation: parsed.operation, status: parsed.unsupported ? BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP : BLKIF_RSP.BLKIF_RSP_ERROR };
    }
    const req = parsed.request;
    try {
      this.execute(req);
      return { id: req.id, operation: req.operation, status: BLKIF_RSP.BLKIF_RSP_OKAY };
    } catch (err) {
      this.stats.errors++;
      this.log(`request ${req.id} failed: ${err instanceof Error ? err.message : String(err)}`);
      return { id: req.id, operation: req.operation, status: BLKIF_RSP.BLKIF_RSP_ERROR };
    }
  }

  private execute(req: BlkRequest): void {
    switch (req.kind) {
      case 'flush':
        this.stats.flushes++;
        this.storage.flush();
        return;
      case 'discard':
        this.stats.discards++;
        if (!this.storage.discard(Number(req.sector) * SECTOR_SIZE, Number(req.count) * SECTOR_SIZE)) throw new Error('the image cannot punch holes');
        return;
      case 'indirect': {
        this.stats.indirect++;
        const segments = this.readIndirect(req.pages, req.nrSegments);
        const problem = checkSegments(segments, req.sector, this.sectors);
        if (problem !== null) throw new Error(problem);
        this.transfer(req.op, req.sector, segments);
        return;
      }
      case 'rw':
        this.transfer(req.op, req.sector, req.segments);
    }
  }

  /** The indirect pages, mapped read-only just long enough to copy the descriptors once. */
  private readIndirect(refs: readonly number[], n: number): Segment[] {
    const copies: Uint8Array[] = [];
    for (const ref of refs) {
      const m = this.grants.map(ref, 'read');
      try {
        copies.push(m.bytes.slice());
      } finally {
        m.unmap();
      }
    }
    return indirectSegments(copies, n);
  }

  private transfer(op: 'read' | 'write', sector: bigint, segments: readonly Segment[]): void {
    const req = { op, sector, segments };
    // Map every page first: a refused grant fails the request before any byte moves.
    const maps: GrantMapping[] = [];
    try {
      for (const s of req.segments) maps.push(this.grants.map(s.gref, req.op === 'read' ? 'write' : 'read'));
      const offset = Number(req.sector) * SECTOR_SIZE;
      const views = req.segments.map((s, i) => maps[i]!.bytes.subarray(s.firstSect * SECTOR_SIZE, (s.lastSect + 1) * SECTOR_SIZE));
      const length = views.reduce((n, v) => n + v.length, 0);
      // The segments are consecutive on the disk: one vectored system call when the storage has it.
      if (req.op === 'read') {
        if (this.storage.readv) this.storage.readv(offset, views);
        else views.reduce((at, v) => (this.storage.read(at, v), at + v.length), offset);
        this.stats.bytesRead += length;
      } else {
        if (this.storage.writev) this.storage.writev(offset, views);
        else views.reduce((at, v) => (this.storage.write(at, v), at + v.length), offset);
        this.stats.bytesWritten += length;
      }
      if (req.op === 'read') this.stats.reads++;
      else this.stats.writes++;
    } finally {
      for (const m of maps) m.unmap();
    }
  }

  private respond(r: { id: bigint; operation: number; status: number }): void {
    this.slot.fill(0);
    this.slot.set(blkifResponse.encode(r));
    this.ring.putResponse(this.slot);
  }
}

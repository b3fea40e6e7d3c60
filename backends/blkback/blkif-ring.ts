// One blkif ring served: every request copied off once, checked (request.ts), carried out against
// the storage through grant mappings of exactly the pages it names (kept across requests when
// persistent grants were negotiated: persistent-grants.ts), answered in a zeroed slot (no stale
// bytes), responses pushed and the frontend notified once per batch when the ring asks.
// An impossible producer index latches in the ring library and stops this ring only.
//
// I/O is synchronous (the storage's preadv/pwritev), so one turn of xltsd's event loop serves at
// most a budget of requests and bytes; the rest of the ring is served after setImmediate, which
// lets the daemon's other work (xenstore, other rings and guests) run in between. Responses are
// still written in the order the requests were taken (blkif would allow any order: ids match them).
import { BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, blkifResponse } from '../../ring-buffer/blkif.ts';
import { BackRing } from '../../ring-buffer/back-ring.ts';
import type { BlockStorage, GrantMapper } from './interfaces.ts';
import { GrantPool, type GrantPoolStats, type PageLease } from './persistent-grants.ts';
import { SECTOR_SIZE, checkSegments, indirectSegments, parseRequest, type BlkRequest, type Segment } from './request.ts';

export interface BlkStats extends GrantPoolStats {
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
  /** Times a ring stopped for the turn with requests left (served after setImmediate). */
  yields: number;
}

export function emptyStats(): BlkStats {
  return {
    requests: 0,
    reads: 0,
    writes: 0,
    flushes: 0,
    discards: 0,
    indirect: 0,
    bytesRead: 0,
    bytesWritten: 0,
    errors: 0,
    batches: 0,
    maxBatch: 0,
    notificationsIn: 0,
    notificationsOut: 0,
    yields: 0,
    grantMaps: 0,
    persistentGrants: 0,
    persistentHits: 0,
    persistentRevoked: 0,
  };
}

/** Requests, and bytes moved, served in one turn of the event loop before yielding. */
export const MAX_REQUESTS_PER_TURN = 64;
export const MAX_BYTES_PER_TURN = 8 * 1024 * 1024;

export interface BlkifRingOptions {
  readonly storage: BlockStorage;
  readonly grants: GrantMapper;
  /** Sends an event to the frontend. */
  readonly notify: () => void;
  /** Counters to add to (a device's queues share one object). */
  readonly stats?: BlkStats;
  readonly log?: (line: string) => void;
  /** Whether discard was offered to the frontend (feature-discard). */
  readonly discard?: boolean;
  /** Both ends wrote feature-persistent=1: keep data-page mappings across requests. */
  readonly persistent?: boolean;
  readonly maxPersistentGrants?: number;
  readonly maxRequestsPerTurn?: number;
  readonly maxBytesPerTurn?: number;
}

export class BlkifRing {
  private readonly ring: BackRing;
  private readonly entry = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
  private readonly slot = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
  private readonly sectors: bigint;
  private readonly storage: BlockStorage;
  private readonly pool: GrantPool;
  private readonly log: (line: string) => void;
  private readonly discard: boolean;
  private readonly maxRequests: number;
  private readonly maxBytes: number;
  private failure: Error | null = null;
  private stopped = false;
  private continuation: ReturnType<typeof setImmediate> | null = null;
  /** Bytes moved in the current turn. */
  private turnBytes = 0;
  readonly stats: BlkStats;

  /** `pages`: the ring's shared pages, consecutive, as one view. */
  constructor(
    pages: Uint8Array,
    private readonly o: BlkifRingOptions,
  ) {
    this.ring = new BackRing(pages, BLKIF_RING_ENTRY_SIZE);
    this.storage = o.storage;
    this.sectors = BigInt(o.storage.size / SECTOR_SIZE);
    this.stats = o.stats ?? emptyStats();
    this.log = o.log ?? (() => undefined);
    this.discard = o.discard === true;
    this.maxRequests = o.maxRequestsPerTurn ?? MAX_REQUESTS_PER_TURN;
    this.maxBytes = o.maxBytesPerTurn ?? MAX_BYTES_PER_TURN;
    this.pool = new GrantPool({ grants: o.grants, persistent: o.persistent === true, maxPersistent: o.maxPersistentGrants, stats: this.stats, log: this.log });
  }

  get error(): Error | null {
    return this.failure;
  }

  /** Persistent grants this ring keeps mapped. */
  get persistentGrants(): number {
    return this.pool.size;
  }

  /** Slots in the ring (RING_SIZE). */
  get size(): number {
    return this.ring.size;
  }

  /** The frontend notified us: serve until the ring is empty and the final check says so. */
  kick(): void {
    if (this.failure || this.stopped) return;
    this.stats.notificationsIn++;
    // A continuation is already due: it serves whatever this notification announced.
    if (this.continuation !== null) return;
    this.serve();
  }

  /** The ring is let go (disconnect): nothing more is served, kept mappings are unmapped. */
  stop(): void {
    this.stopped = true;
    if (this.continuation !== null) clearImmediate(this.continuation);
    this.continuation = null;
    this.pool.releaseAll();
  }

  private serve(): void {
    this.continuation = null;
    if (this.failure || this.stopped) return;
    this.turnBytes = 0;
    try {
      let batch = 0;
      let more = false;
      do {
        while (!more && this.ring.unconsumedRequests() > 0) {
          if (batch >= this.maxRequests || this.turnBytes >= this.maxBytes) {
            more = true;
            break;
          }
          this.ring.takeRequest(this.entry);
          this.respond(this.handle());
          batch++;
        }
        // One publication per batch; the frontend is told only if it asked (rsp_event).
        if (this.ring.pushResponsesAndCheckNotify()) {
          this.stats.notificationsOut++;
          this.o.notify();
        }
        // With requests left over the final check (which arms req_event) waits for the next turn.
      } while (!more && this.ring.finalCheckForRequests());
      if (batch > 0) {
        this.stats.batches++;
        this.stats.maxBatch = Math.max(this.stats.maxBatch, batch);
      }
      if (more) {
        this.stats.yields++;
        this.continuation = setImmediate(() => this.serve());
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

  /** The indirect pages, mapped read-only (or kept, when persistent) to copy the descriptors once. */
  private readIndirect(refs: readonly number[], n: number): Segment[] {
    const copies: Uint8Array[] = [];
    for (const ref of refs) {
      const lease = this.pool.acquire(ref, 'read');
      try {
        copies.push(lease.bytes.slice());
      } finally {
        lease.release();
      }
    }
    return indirectSegments(copies, n);
  }

  private transfer(op: 'read' | 'write', sector: bigint, segments: readonly Segment[]): void {
    // Every page first: a refused grant fails the request before any byte moves. A read from
    // the disk writes into the guest's pages; a write only reads them.
    const leases: PageLease[] = [];
    try {
      for (const s of segments) leases.push(this.pool.acquire(s.gref, op === 'read' ? 'write' : 'read'));
      const offset = Number(sector) * SECTOR_SIZE;
      const views = segments.map((s, i) => leases[i]!.bytes.subarray(s.firstSect * SECTOR_SIZE, (s.lastSect + 1) * SECTOR_SIZE));
      const length = views.reduce((n, v) => n + v.length, 0);
      // The segments are consecutive on the disk: one vectored system call when the storage has it.
      if (op === 'read') {
        if (this.storage.readv) this.storage.readv(offset, views);
        else views.reduce((at, v) => (this.storage.read(at, v), at + v.length), offset);
        this.stats.bytesRead += length;
        this.stats.reads++;
      } else {
        if (this.storage.writev) this.storage.writev(offset, views);
        else views.reduce((at, v) => (this.storage.write(at, v), at + v.length), offset);
        this.stats.bytesWritten += length;
        this.stats.writes++;
      }
      this.turnBytes += length;
    } finally {
      for (const l of leases) l.release();
    }
  }

  private respond(r: { id: bigint; operation: number; status: number }): void {
    this.slot.fill(0);
    this.slot.set(blkifResponse.encode(r));
    this.ring.putResponse(this.slot);
  }
}

// The data pages of one ring, as Linux's blkback reaches them (xen_blkbk_map):
//   - without persistent grants, each page is mapped for the request that names it (read-only
//     when the backend only reads it: a write to disk) and unmapped when the request is done;
//   - with persistent grants (both ends wrote feature-persistent=1) the first use of a grant maps
//     it writable (the frontend grants persistent pages read-write, for either direction) and the
//     mapping is kept for later requests naming the same ref, up to a bound per ring (Linux's
//     xen_blkif_max_pgrants, 1056); beyond the bound pages are mapped per request again.
//     Every kept mapping is let go when the ring is (disconnect, close).
// Trust: Xen keeps a mapped page mapped whatever the guest writes into its grant entry later.
// We are stricter: before each reuse the kept mapping re-reads the entry (stillGranted); a ref
// the guest revoked, made read-only or pointed at another frame is unmapped and forgotten, and
// the request maps it afresh, failing (an error response) if the entry no longer allows it.
import type { GrantAccess, GrantMapper, GrantMapping } from './interfaces.ts';

/** Linux's blkback: xen_blkif_max_pgrants (persistent grants kept per ring). */
export const MAX_PERSISTENT_GRANTS = 1056;

/** A data page held for one request. */
export interface PageLease {
  readonly bytes: Uint8Array;
  /** Unmaps a per-request mapping; a kept (persistent) one stays. */
  release(): void;
}

/** Counters a pool adds to (the ring's statistics, shared by a device's queues). */
export interface GrantPoolStats {
  /** Data and indirect pages mapped (each a grant map, persistent or not). */
  grantMaps: number;
  /** Persistent grants kept mapped right now. */
  persistentGrants: number;
  /** Pages served from a kept mapping, without mapping again. */
  persistentHits: number;
  /** Kept mappings dropped because the guest's entry no longer granted them. */
  persistentRevoked: number;
}

export interface GrantPoolOptions {
  readonly grants: GrantMapper;
  readonly persistent: boolean;
  readonly maxPersistent?: number;
  readonly stats: GrantPoolStats;
  readonly log?: (line: string) => void;
}

export class GrantPool {
  private readonly kept = new Map<number, GrantMapping>();
  private readonly max: number;

  constructor(private readonly o: GrantPoolOptions) {
    this.max = o.persistent ? (o.maxPersistent ?? MAX_PERSISTENT_GRANTS) : 0;
  }

  /** Persistent grants this ring keeps mapped. */
  get size(): number {
    return this.kept.size;
  }

  /** The page of `ref` for `access` ('write': the backend writes into it). Throws when refused. */
  acquire(ref: number, access: GrantAccess): PageLease {
    const held = this.kept.get(ref);
    if (held !== undefined) {
      if (held.stillGranted()) {
        this.o.stats.persistentHits++;
        return { bytes: held.bytes, release: noop };
      }
      this.drop(ref, held);
      this.o.stats.persistentRevoked++;
      this.o.log?.(`persistent grant ${ref} is no longer granted read-write to us (revoked, read-only or moved); unmapped`);
    }
    if (this.kept.size < this.max) {
      // Persistent mappings are writable: the page may serve a read and then a write.
      let m: GrantMapping | null = null;
      try {
        m = this.o.grants.map(ref, 'write');
      } catch {
        // Not granted read-write (a hostile or confused frontend): per request below, with the
        // access this request needs, which fails it if that is refused too.
      }
      if (m !== null) {
        this.o.stats.grantMaps++;
        this.kept.set(ref, m);
        this.o.stats.persistentGrants++;
        return { bytes: m.bytes, release: noop };
      }
    }
    const m = this.o.grants.map(ref, access);
    this.o.stats.grantMaps++;
    return { bytes: m.bytes, release: () => m.unmap() };
  }

  /** Unmaps every kept mapping (the ring is let go). */
  releaseAll(): void {
    for (const [ref, m] of this.kept) this.drop(ref, m);
  }

  private drop(ref: number, m: GrantMapping): void {
    this.kept.delete(ref);
    this.o.stats.persistentGrants--;
    m.unmap();
  }
}

function noop(): void {}

// One blkif request, copied off the ring once and checked before any I/O (XSA-155: never parse in
// place). A request that fails a check gets an error response for itself only.
import { BLKIF, BLKIF_OP, blkifRequest } from '../../ring-buffer/blkif.ts';

export const SECTOR_SIZE = 512;
const SECTORS_PER_PAGE = 8;

export interface Segment {
  readonly gref: number;
  readonly firstSect: number;
  readonly lastSect: number;
}

export type BlkRequest =
  | { readonly kind: 'rw'; readonly op: 'read' | 'write'; readonly id: bigint; readonly operation: number; readonly sector: bigint; readonly segments: readonly Segment[] }
  | { readonly kind: 'flush'; readonly id: bigint; readonly operation: number };

export type ParsedRequest = { readonly ok: true; readonly request: BlkRequest } | { readonly ok: false; readonly id: bigint; readonly operation: number; readonly reason: string; readonly unsupported: boolean };

/** Checks the request in `entry` (a private copy of a ring slot) against a disk of `sectors` sectors. */
export function parseRequest(entry: Uint8Array, sectors: bigint, readOnly: boolean): ParsedRequest {
  const r = blkifRequest.decode(entry);
  const bad = (reason: string, unsupported = false): ParsedRequest => ({ ok: false, id: r.id, operation: r.operation, reason, unsupported });
  switch (r.operation) {
    case BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE:
    case BLKIF_OP.BLKIF_OP_WRITE_BARRIER:
      return { ok: true, request: { kind: 'flush', id: r.id, operation: r.operation } };
    case BLKIF_OP.BLKIF_OP_READ:
    case BLKIF_OP.BLKIF_OP_WRITE:
      break;
    case BLKIF_OP.BLKIF_OP_DISCARD:
    case BLKIF_OP.BLKIF_OP_INDIRECT:
      return bad(`operation ${r.operation} was not offered`, true);
    default:
      return bad(`unknown operation ${r.operation}`, true);
  }
  const write = r.operation === BLKIF_OP.BLKIF_OP_WRITE;
  if (write && readOnly) return bad('write to a read-only disk');
  if (r.nr_segments < 1 || r.nr_segments > BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST) return bad(`nr_segments ${r.nr_segments}`);
  const segments: Segment[] = [];
  let total = 0n;
  for (let i = 0; i < r.nr_segments; i++) {
    const s = r.seg[i]!;
    if (s.first_sect > s.last_sect || s.last_sect >= SECTORS_PER_PAGE) return bad(`segment ${i}: sectors ${s.first_sect}..${s.last_sect} of a page`);
    segments.push({ gref: s.gref, firstSect: s.first_sect, lastSect: s.last_sect });
    total += BigInt(s.last_sect - s.first_sect + 1);
  }
  if (r.sector_number >= sectors || r.sector_number + total > sectors) return bad(`sectors ${r.sector_number}+${total} past the end of the ${sectors}-sector disk`);
  return { ok: true, request: { kind: 'rw', op: write ? 'write' : 'read', id: r.id, operation: r.operation, sector: r.sector_number, segments } };
}

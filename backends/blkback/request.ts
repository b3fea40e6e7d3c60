// One blkif request, copied off the ring once and checked before any I/O (XSA-155: never parse in
// place). A request that fails a check gets an error response for itself only. Indirect requests
// name pages of segment descriptors: those are mapped read-only, copied once, and the copies are
// checked exactly as direct segments are.
import { BLKIF, BLKIF_OP, BLKIF_SEGMENTS_PER_INDIRECT_FRAME, blkifRequest, blkifRequestDiscard, blkifRequestIndirect, blkifRequestSegment } from '../../ring-buffer/blkif.ts';

export const SECTOR_SIZE = 512;
const SECTORS_PER_PAGE = 8;
/** What feature-max-indirect-segments offers (Linux's blkback offers the same). */
export const MAX_INDIRECT_SEGMENTS = 256;

export interface Segment {
  readonly gref: number;
  readonly firstSect: number;
  readonly lastSect: number;
}

export type BlkRequest =
  | { readonly kind: 'rw'; readonly op: 'read' | 'write'; readonly id: bigint; readonly operation: number; readonly sector: bigint; readonly segments: readonly Segment[] }
  | { readonly kind: 'indirect'; readonly op: 'read' | 'write'; readonly id: bigint; readonly operation: number; readonly sector: bigint; readonly nrSegments: number; readonly pages: readonly number[] }
  | { readonly kind: 'flush'; readonly id: bigint; readonly operation: number }
  | { readonly kind: 'discard'; readonly id: bigint; readonly operation: number; readonly sector: bigint; readonly count: bigint };

export type Refusal = { readonly ok: false; readonly id: bigint; readonly operation: number; readonly reason: string; readonly unsupported: boolean };
export type ParsedRequest = { readonly ok: true; readonly request: BlkRequest } | Refusal;

export interface DiskFacts {
  readonly sectors: bigint;
  readonly readOnly: boolean;
  readonly discard: boolean;
}

/** Checks the request in `entry` (a private copy of a ring slot) against the disk. */
export function parseRequest(entry: Uint8Array, disk: DiskFacts): ParsedRequest {
  const r = blkifRequest.decode(entry);
  const bad = (reason: string, unsupported = false): Refusal => ({ ok: false, id: r.id, operation: r.operation, reason, unsupported });
  switch (r.operation) {
    case BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE:
    case BLKIF_OP.BLKIF_OP_WRITE_BARRIER:
      return { ok: true, request: { kind: 'flush', id: r.id, operation: r.operation } };
    case BLKIF_OP.BLKIF_OP_DISCARD: {
      if (!disk.discard) return bad('discard was not offered', true);
      if (disk.readOnly) return bad('discard on a read-only disk');
      const d = blkifRequestDiscard.decode(entry);
      if (d.nr_sectors === 0n || d.sector_number >= disk.sectors || d.nr_sectors > disk.sectors - d.sector_number) return bad(`discard ${d.sector_number}+${d.nr_sectors} past the end`);
      return { ok: true, request: { kind: 'discard', id: d.id, operation: d.operation, sector: d.sector_number, count: d.nr_sectors } };
    }
    case BLKIF_OP.BLKIF_OP_INDIRECT: {
      const x = blkifRequestIndirect.decode(entry);
      if (x.indirect_op !== BLKIF_OP.BLKIF_OP_READ && x.indirect_op !== BLKIF_OP.BLKIF_OP_WRITE) return bad(`indirect operation ${x.indirect_op}`);
      // The response of an indirect request carries the operation it performed (Linux's blkfront
      // disables the disk on "response has wrong operation" otherwise).
      const answer = (reason: string): Refusal => ({ ok: false, id: x.id, operation: x.indirect_op, reason, unsupported: false });
      const write = x.indirect_op === BLKIF_OP.BLKIF_OP_WRITE;
      if (write && disk.readOnly) return answer('write to a read-only disk');
      if (x.nr_segments < 1 || x.nr_segments > MAX_INDIRECT_SEGMENTS) return answer(`indirect nr_segments ${x.nr_segments}`);
      const pages = Math.ceil(x.nr_segments / BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
      return { ok: true, request: { kind: 'indirect', op: write ? 'write' : 'read', id: x.id, operation: x.indirect_op, sector: x.sector_number, nrSegments: x.nr_segments, pages: x.indirect_grefs.slice(0, pages) } };
    }
    case BLKIF_OP.BLKIF_OP_READ:
    case BLKIF_OP.BLKIF_OP_WRITE:
      break;
    default:
      return bad(`unknown operation ${r.operation}`, true);
  }
  const write = r.operation === BLKIF_OP.BLKIF_OP_WRITE;
  if (write && disk.readOnly) return bad('write to a read-only disk');
  if (r.nr_segments < 1 || r.nr_segments > BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST) return bad(`nr_segments ${r.nr_segments}`);
  const segments = r.seg.slice(0, r.nr_segments).map((s) => ({ gref: s.gref, firstSect: s.first_sect, lastSect: s.last_sect }));
  const problem = checkSegments(segments, r.sector_number, disk.sectors);
  if (problem !== null) return bad(problem);
  return { ok: true, request: { kind: 'rw', op: write ? 'write' : 'read', id: r.id, operation: r.operation, sector: r.sector_number, segments } };
}

/** Reads `n` segment descriptors from private copies of the indirect pages. */
export function indirectSegments(pages: readonly Uint8Array[], n: number): Segment[] {
  const out: Segment[] = [];
  for (let i = 0; i < n; i++) {
    const page = pages[Math.floor(i / BLKIF_SEGMENTS_PER_INDIRECT_FRAME)]!;
    const at = (i % BLKIF_SEGMENTS_PER_INDIRECT_FRAME) * blkifRequestSegment.size;
    const s = blkifRequestSegment.decode(page.subarray(at, at + blkifRequestSegment.size));
    out.push({ gref: s.gref, firstSect: s.first_sect, lastSect: s.last_sect });
  }
  return out;
}

/** null when every segment stays inside its page and the whole transfer inside the disk. */
export function checkSegments(segments: readonly Segment[], sector: bigint, sectors: bigint): string | null {
  let total = 0n;
  for (const [i, s] of segments.entries()) {
    if (s.firstSect > s.lastSect || s.lastSect >= SECTORS_PER_PAGE) return `segment ${i}: sectors ${s.firstSect}..${s.lastSect} of a page`;
    total += BigInt(s.lastSect - s.firstSect + 1);
  }
  if (sector >= sectors || sector + total > sectors) return `sectors ${sector}+${total} past the end of the ${sectors}-sector disk`;
  return null;
}

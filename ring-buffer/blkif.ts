// Block device ring protocol (io/blkif.h): constants and the request/response wire layouts.
// Layouts follow the x86_64 ABI (blkif_request is 112 bytes; the i386 ABI differs and is not
// supported). Offsets are checked against the installed Xen headers by layout-c-headers.spec.ts.
import { defineStruct } from './layout.ts';

export const BLKIF_OP = {
  BLKIF_OP_READ: 0,
  BLKIF_OP_WRITE: 1,
  BLKIF_OP_WRITE_BARRIER: 2,
  BLKIF_OP_FLUSH_DISKCACHE: 3,
  BLKIF_OP_RESERVED_1: 4,
  BLKIF_OP_DISCARD: 5,
  BLKIF_OP_INDIRECT: 6,
} as const;
export type BlkifOp = (typeof BLKIF_OP)[keyof typeof BLKIF_OP];

export const BLKIF = {
  /** Segments that fit in one direct request. */
  BLKIF_MAX_SEGMENTS_PER_REQUEST: 11,
  /** Grant references of indirect segment pages in one BLKIF_OP_INDIRECT request. */
  BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST: 8,
  /** blkif_request_discard.flag bit. */
  BLKIF_DISCARD_SECURE: 1,
} as const;

export const BLKIF_RSP = {
  BLKIF_RSP_EOPNOTSUPP: -2,
  BLKIF_RSP_ERROR: -1,
  BLKIF_RSP_OKAY: 0,
} as const;
export type BlkifRsp = (typeof BLKIF_RSP)[keyof typeof BLKIF_RSP];

/** The "info" bits a backend advertises for a virtual disk. */
export const VDISK = {
  VDISK_CDROM: 0x1,
  VDISK_REMOVABLE: 0x2,
  VDISK_READONLY: 0x4,
} as const;

/**
 * struct blkif_request_segment {
 *     grant_ref_t gref;                  // the I/O buffer's frame
 *     uint8_t     first_sect, last_sect; // 512-byte sectors of that frame, inclusive
 * };                                     // 8 bytes (2 of tail padding)
 */
export const blkifRequestSegment = defineStruct('blkif_request_segment', 8, {
  gref: { offset: 0, type: 'u32' },
  first_sect: { offset: 4, type: 'u8' },
  last_sect: { offset: 5, type: 'u8' },
});

/**
 * struct blkif_request {
 *     uint8_t        operation;    // BLKIF_OP_*
 *     uint8_t        nr_segments;
 *     blkif_vdev_t   handle;       // uint16_t
 *     uint64_t       id;           // echoed in the response
 *     blkif_sector_t sector_number;
 *     struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
 * };                               // 112 bytes on x86_64
 */
export const blkifRequest = defineStruct('blkif_request', 112, {
  operation: { offset: 0, type: 'u8' },
  nr_segments: { offset: 1, type: 'u8' },
  handle: { offset: 2, type: 'u16' },
  id: { offset: 8, type: 'u64' },
  sector_number: { offset: 16, type: 'u64' },
  seg: { offset: 24, type: blkifRequestSegment, count: BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST },
});

/**
 * struct blkif_request_discard {
 *     uint8_t        operation;    // BLKIF_OP_DISCARD
 *     uint8_t        flag;         // BLKIF_DISCARD_SECURE or 0
 *     blkif_vdev_t   handle;
 *     uint64_t       id;
 *     blkif_sector_t sector_number;
 *     uint64_t       nr_sectors;
 * };                               // 32 bytes, shares the ring slot with blkif_request
 */
export const blkifRequestDiscard = defineStruct('blkif_request_discard', 32, {
  operation: { offset: 0, type: 'u8' },
  flag: { offset: 1, type: 'u8' },
  handle: { offset: 2, type: 'u16' },
  id: { offset: 8, type: 'u64' },
  sector_number: { offset: 16, type: 'u64' },
  nr_sectors: { offset: 24, type: 'u64' },
});

/**
 * struct blkif_request_indirect {
 *     uint8_t        operation;    // BLKIF_OP_INDIRECT
 *     uint8_t        indirect_op;  // BLKIF_OP_READ or BLKIF_OP_WRITE
 *     uint16_t       nr_segments;  // segments across all indirect pages
 *     uint64_t       id;
 *     blkif_sector_t sector_number;
 *     blkif_vdev_t   handle;
 *     grant_ref_t    indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
 * };                               // 64 bytes on x86_64 (i386 adds a pad)
 */
export const blkifRequestIndirect = defineStruct('blkif_request_indirect', 64, {
  operation: { offset: 0, type: 'u8' },
  indirect_op: { offset: 1, type: 'u8' },
  nr_segments: { offset: 2, type: 'u16' },
  id: { offset: 8, type: 'u64' },
  sector_number: { offset: 16, type: 'u64' },
  handle: { offset: 24, type: 'u16' },
  indirect_grefs: { offset: 28, type: 'u32', count: BLKIF.BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST },
});

/**
 * struct blkif_response {
 *     uint64_t id;         // copied from the request
 *     uint8_t  operation;  // copied from the request
 *     int16_t  status;     // BLKIF_RSP_*
 * };                       // 16 bytes
 */
export const blkifResponse = defineStruct('blkif_response', 16, {
  id: { offset: 0, type: 'u64' },
  operation: { offset: 8, type: 'u8' },
  status: { offset: 10, type: 'i16' },
});

/** A blkif ring slot holds the union of request and response: the request is the larger. */
export const BLKIF_RING_ENTRY_SIZE = Math.max(blkifRequest.size, blkifRequestDiscard.size, blkifRequestIndirect.size, blkifResponse.size);

/** Segments per indirect page: a 4096-byte page of blkif_request_segment. */
export const BLKIF_SEGMENTS_PER_INDIRECT_FRAME = 4096 / blkifRequestSegment.size;

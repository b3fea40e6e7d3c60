// The shared ring page (io/ring.h, DEFINE_RING_TYPES): a 64-byte header of four free-running
// uint32 indices plus padding, then a power-of-two array of fixed-size entries. A ring may span
// 2^order contiguous pages (blkif/netif "ring-page-order"); nothing else changes.
//
//   struct __name##_sring {
//       RING_IDX req_prod, req_event;
//       RING_IDX rsp_prod, rsp_event;
//       union { struct { uint8_t smartpoll_active; } netif;
//               struct { uint8_t msg; } tapif_user;
//               uint8_t pvt_pad[4]; } pvt;
//       uint8_t __pad[44];
//       union __name##_sring_entry ring[1]; /* variable-length */
//   };
import { RingLayoutError } from './errors.ts';
import { defineStruct } from './layout.ts';

/** Page size of every ring protocol, whatever the guest's own page size (XEN_PAGE_SHIFT 12). */
export const XEN_PAGE_SHIFT = 12;
export const XEN_PAGE_SIZE = 1 << XEN_PAGE_SHIFT;

/**
 * The header in front of the entries. The C struct is per ring type; every one has the same
 * header, and the C-header test checks it against blkif's (entries start at offsetof(ring)).
 * The index words are never encoded or decoded through this layout (they are read and written
 * one at a time with Atomics); the layout is their single declaration of offsets.
 */
export const sringHeader = defineStruct(
  'sring',
  64,
  {
    req_prod: { offset: 0, type: 'u32' },
    req_event: { offset: 4, type: 'u32' },
    rsp_prod: { offset: 8, type: 'u32' },
    rsp_event: { offset: 12, type: 'u32' },
    // netif.smartpoll_active / tapif_user.msg / pvt_pad[4]: private to each protocol.
    pvt: { offset: 16, type: { bytes: 4 }, c: 'pvt.pvt_pad' },
    __pad: { offset: 20, type: { pad: 44 } },
  },
  { type: 'struct blkif_sring', sizeExpr: 'offsetof(struct blkif_sring, ring)' },
);

/** Size of the header in front of the entries. */
export const SRING_HEADER_SIZE = sringHeader.size;

/** Index of each header word in a Uint32Array laid over the header (offset / 4). */
export const SRING_WORD = {
  req_prod: sringHeader.fields.req_prod.offset / 4,
  req_event: sringHeader.fields.req_event.offset / 4,
  rsp_prod: sringHeader.fields.rsp_prod.offset / 4,
  rsp_event: sringHeader.fields.rsp_event.offset / 4,
} as const;

/** The largest power of two <= x, for 0 <= x < 2^32 (io/ring.h's __RD32); 0 for 0. */
export function roundDownPow2(x: number): number {
  if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) {
    throw new RangeError(`__RD32 takes a uint32, got ${x}`);
  }
  if (x === 0) return 0;
  return 2 ** (31 - Math.clz32(x));
}

/**
 * Number of entries in a ring of `bytes` bytes (header included) whose entries are `entrySize`
 * bytes: as many as fit, rounded down to a power of two so an index is masked with size - 1.
 * 0 when not even one entry fits.
 */
export function ringSize(bytes: number, entrySize: number): number {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new RangeError(`ring bytes must be a non-negative integer, got ${bytes}`);
  if (!Number.isSafeInteger(entrySize) || entrySize <= 0) throw new RangeError(`entry size must be a positive integer, got ${entrySize}`);
  if (bytes < SRING_HEADER_SIZE) return 0;
  // Cap at 2^31 entries: with uint32 free-running indices a bigger ring could not tell full from empty.
  return Math.min(roundDownPow2(Math.min(Math.floor((bytes - SRING_HEADER_SIZE) / entrySize), 0xffffffff)), 2 ** 31);
}

/** Bytes spanned by a ring of 2^order pages (the xenstore key ring-page-order). */
export function ringBytesForPageOrder(order: number): number {
  // Xen's backends cap the order far lower (blkback: 4); 20 only keeps the arithmetic sane.
  if (!Number.isInteger(order) || order < 0 || order > 20) throw new RangeError(`ring page order must be 0..20, got ${order}`);
  return XEN_PAGE_SIZE * 2 ** order;
}

/**
 * The four index words of a sring as a Uint32Array, for Atomics. Works on any backing store
 * (SharedArrayBuffer, or a plain ArrayBuffer such as an mmap'd file seen through koffi), as long
 * as the header is 4-byte aligned in it.
 */
export function sringIndexWords(mem: Uint8Array): Uint32Array {
  if (mem.byteLength < SRING_HEADER_SIZE) {
    throw new RingLayoutError(`a shared ring needs at least ${SRING_HEADER_SIZE} bytes, the view has ${mem.byteLength}`);
  }
  if (mem.byteOffset % 4 !== 0) {
    throw new RingLayoutError(`a shared ring must start 4-byte aligned, the view starts at byte ${mem.byteOffset}`);
  }
  return new Uint32Array(mem.buffer, mem.byteOffset, 4);
}

/**
 * SHARED_RING_INIT: both producers 0, both event indices 1 (so the very first message is
 * notified), private and padding bytes zero. Only the front end initialises a ring; the entries
 * are left alone.
 */
export function initSharedRing(mem: Uint8Array): void {
  const words = sringIndexWords(mem);
  mem.fill(0, sringHeader.fields.pvt.offset, SRING_HEADER_SIZE);
  Atomics.store(words, SRING_WORD.req_prod, 0);
  Atomics.store(words, SRING_WORD.rsp_prod, 0);
  Atomics.store(words, SRING_WORD.req_event, 1);
  Atomics.store(words, SRING_WORD.rsp_event, 1);
}

/** A snapshot of the four shared indices, each read once. For diagnostics and tests. */
export interface SharedRingIndices {
  readonly reqProd: number;
  readonly reqEvent: number;
  readonly rspProd: number;
  readonly rspEvent: number;
}

export function readSharedIndices(mem: Uint8Array): SharedRingIndices {
  const words = sringIndexWords(mem);
  return {
    reqProd: Atomics.load(words, SRING_WORD.req_prod),
    reqEvent: Atomics.load(words, SRING_WORD.req_event),
    rspProd: Atomics.load(words, SRING_WORD.rsp_prod),
    rspEvent: Atomics.load(words, SRING_WORD.rsp_event),
  };
}

/** Options shared by FrontRing and BackRing. */
export interface RingAttachOptions {
  /**
   * Use exactly this many pages from the start of the view (2^ring-page-order); by default the
   * whole view is the ring.
   */
  readonly pages?: number;
  /**
   * FRONT_RING_ATTACH / BACK_RING_ATTACH: start the private indices at this value instead of 0,
   * to reattach to a ring whose shared producers already stand there.
   */
  readonly startIndex?: number;
}

/** The parts of a ring both ends compute the same way from a view and an entry size. */
export interface RingGeometry {
  readonly mem: Uint8Array;
  readonly words: Uint32Array;
  readonly size: number;
  readonly mask: number;
  readonly entrySize: number;
  readonly startIndex: number;
}

/** Validates a view and entry size and derives the ring's geometry. Reads nothing shared. */
export function ringGeometry(view: Uint8Array, entrySize: number, options: RingAttachOptions = {}): RingGeometry {
  if (!Number.isSafeInteger(entrySize) || entrySize <= 0) {
    throw new RingLayoutError(`entry size must be a positive integer, got ${entrySize}`);
  }
  let mem = view;
  if (options.pages !== undefined) {
    const { pages } = options;
    if (!Number.isSafeInteger(pages) || pages <= 0) throw new RingLayoutError(`page count must be a positive integer, got ${pages}`);
    const bytes = pages * XEN_PAGE_SIZE;
    if (bytes > view.byteLength) {
      throw new RingLayoutError(`${pages} ring pages need ${bytes} bytes, the view has ${view.byteLength}`);
    }
    mem = view.subarray(0, bytes);
  }
  const words = sringIndexWords(mem);
  const size = ringSize(mem.byteLength, entrySize);
  if (size === 0) {
    throw new RingLayoutError(`a ring of ${mem.byteLength} bytes has no room for one ${entrySize}-byte entry`);
  }
  const startIndex = options.startIndex ?? 0;
  if (!Number.isInteger(startIndex) || startIndex < 0 || startIndex > 0xffffffff) {
    throw new RingLayoutError(`start index must be a uint32, got ${startIndex}`);
  }
  return { mem, words, size, mask: size - 1, entrySize, startIndex };
}

/** Byte offset of the slot that free-running index `idx` maps to. Always inside the view. */
export function slotOffset(g: RingGeometry, idx: number): number {
  return SRING_HEADER_SIZE + (idx & g.mask) * g.entrySize;
}

/** `to - from` on free-running uint32 ring indices: how many entries lie between them. */
export function idxDistance(from: number, to: number): number {
  return (to - from) >>> 0;
}

/** `idx + n` on free-running uint32 ring indices. */
export function idxAdd(idx: number, n: number): number {
  return (idx + n) >>> 0;
}

/**
 * Copies one entry into slot `idx`. Shorter entries (a response smaller than the ring's union
 * entry) leave the slot's tail as it was, as a C struct assignment does.
 */
export function writeSlot(g: RingGeometry, idx: number, entry: Uint8Array): void {
  if (entry.byteLength > g.entrySize) {
    throw new RingLayoutError(`a ${entry.byteLength}-byte entry does not fit a ${g.entrySize}-byte slot`);
  }
  g.mem.set(entry, slotOffset(g, idx));
}

/**
 * Copies slot `idx` out of shared memory, once, into a private buffer (RING_COPY_REQUEST):
 * everything the caller decodes comes from this copy, which the peer cannot change under it.
 * Hot paths pass a reused `into`: a fresh buffer per entry (slice) costs ~300 ns because V8
 * keeps typed arrays over 64 bytes off its heap, while set() of a subarray is a plain memmove.
 */
export function readSlot(g: RingGeometry, idx: number, into?: Uint8Array): Uint8Array {
  const off = slotOffset(g, idx);
  if (into === undefined) return g.mem.slice(off, off + g.entrySize);
  if (into.byteLength < g.entrySize) {
    throw new RingLayoutError(`a ${into.byteLength}-byte buffer cannot hold a ${g.entrySize}-byte entry`);
  }
  into.set(g.mem.subarray(off, off + g.entrySize));
  return into;
}

// A domain's grant table, version 1: up to maxFrames pages of 8-byte grant entries that the guest
// writes and Dom0's backends read when they map or copy a granted page. The frames are not guest
// RAM: an auto-translated guest (PVH) asks for each one to appear at a guest frame of its choice
// with XENMEM_add_to_physmap(XENMAPSPACE_grant_table, idx, gpfn); Linux picks addresses in a hole
// of its physical map (CONFIG_XEN_UNPOPULATED_ALLOC). Where the frames live and how a frame is
// made to appear there belongs to the CPU engine (a KVM memory slot per frame in the shim), so it
// is injected as a GrantFrameBacking. This module keeps the bookkeeping Xen does: which frame is
// where, how many frames the table has (nr_frames grows as the guest maps higher indices).
//
// Dom0's side (GNTTABOP_map_grant_ref, unmap, copy, with the reading/writing flags) works on the
// same frames and comes with the backends.
import { InvalidArgumentError, XEN_EINVAL, XenAbiError } from './errors.ts';

/** Bit of add_to_physmap's idx that names a v2 status frame instead of a grant frame. */
export const XENMAPIDX_grant_table_status = 0x8000_0000;
/** Xen's default gnttab_max_frames (xl's max_grant_frames). */
export const DEFAULT_MAX_GRANT_FRAMES = 64;
export const GRANT_ENTRY_V1_SIZE = 8;
export const GRANT_ENTRIES_PER_FRAME = 4096 / GRANT_ENTRY_V1_SIZE;

/** The engine's part: the frames' memory and their placement in the guest's physical space. */
export interface GrantFrameBacking {
  readonly maxFrames: number;
  /**
   * Makes frame `idx` appear at guest frame `gpfn`, moving it if it was elsewhere. Throws
   * GrantFramePlacementError when the address cannot take it (guest RAM, another device).
   */
  place(idx: number, gpfn: number): void;
}

/** The guest asked for a grant frame where none can go. -EINVAL to the guest. */
export class GrantFramePlacementError extends XenAbiError {
  override readonly name = 'GrantFramePlacementError';
  readonly errno = XEN_EINVAL;
}

export class GrantTable {
  private readonly placed = new Map<number, number>();

  constructor(private readonly backing: GrantFrameBacking | null) {}

  /** GNTTABOP_query_size's max_nr_frames: 0 without a backing (the guest then has no grants). */
  get maxFrames(): number {
    return this.backing?.maxFrames ?? 0;
  }

  /** GNTTABOP_query_size's nr_frames: Xen starts a table with one frame and grows it on use. */
  get nrFrames(): number {
    let n = this.backing === null ? 0 : 1;
    for (const idx of this.placed.keys()) n = Math.max(n, idx + 1);
    return n;
  }

  /** Where frame `idx` is in the guest's physical space, if it was placed. */
  gpfnOf(idx: number): number | undefined {
    return this.placed.get(idx);
  }

  /** XENMEM_add_to_physmap with XENMAPSPACE_grant_table. */
  addToPhysmap(idx: number, gpfn: number): void {
    if (this.backing === null) throw new InvalidArgumentError('this domain has no grant table frames');
    if ((idx & XENMAPIDX_grant_table_status) !== 0) throw new InvalidArgumentError(`grant status frame ${idx & ~XENMAPIDX_grant_table_status} (status frames exist only in grant table v2)`);
    if (!Number.isInteger(idx) || idx < 0 || idx >= this.backing.maxFrames) throw new InvalidArgumentError(`grant frame ${idx} is beyond max_grant_frames ${this.backing.maxFrames}`);
    if (this.placed.get(idx) === gpfn) return;
    for (const [other, at] of this.placed) {
      if (at === gpfn && other !== idx) throw new GrantFramePlacementError(`gpfn 0x${gpfn.toString(16)} already holds grant frame ${other}`);
    }
    this.backing.place(idx, gpfn);
    this.placed.set(idx, gpfn);
  }
}

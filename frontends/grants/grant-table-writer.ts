// The guest's side of grant table v1: it owns the frames, hands out refs and writes entries that
// Dom0 (or the hypervisor on Dom0's behalf) reads and marks GTF_reading / GTF_writing while it
// maps or copies the page. The flags word is the only one both sides write, so it alone goes
// through Atomics; domid and frame are ours and must be visible before the entry turns valid.
import { GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRIES_V1_PER_FRAME, GTF, grantEntryV1 } from '../../ring-buffer/grant-table.ts';
import { GrantRefInvalidError, GrantRefsExhaustedError } from './errors.ts';

const FLAGS_WORD = grantEntryV1.offsetOf('flags') / 2;
const DOMID_WORD = grantEntryV1.offsetOf('domid') / 2;
const FRAME_OFFSET = grantEntryV1.offsetOf('frame');
const WORDS_PER_ENTRY = grantEntryV1.size / 2;

export class GrantTableWriter {
  /** Refs the writer can hand out, reserved ones included (they are never handed out). */
  readonly capacity: number;
  private readonly flags: Uint16Array[];
  private readonly views: DataView[];
  /** LIFO free list, as Linux keeps gnttab_free_head: recently freed refs are reused first. */
  private readonly free: number[] = [];
  private readonly granted = new Set<number>();

  constructor(frames: readonly Uint8Array[]) {
    for (const f of frames) {
      if (f.byteLength !== 4096) throw new RangeError(`grant frame is ${f.byteLength} bytes, not 4096`);
    }
    this.flags = frames.map((f) => new Uint16Array(f.buffer, f.byteOffset, 2048));
    this.views = frames.map((f) => new DataView(f.buffer, f.byteOffset, 4096));
    this.capacity = frames.length * GRANT_ENTRIES_V1_PER_FRAME;
    for (let ref = this.capacity - 1; ref >= GNTTAB_NR_RESERVED_ENTRIES; ref--) this.free.push(ref);
  }

  /** Refs still available. */
  get freeCount(): number {
    return this.free.length;
  }

  /** gnttab_grant_foreign_access: a fresh ref letting `domid` map `gfn`, read-only if asked. */
  grantAccess(domid: number, gfn: number, readonly: boolean): number {
    const ref = this.free.pop();
    if (ref === undefined) throw new GrantRefsExhaustedError(this.capacity);
    this.granted.add(ref);
    this.writeEntry(ref, domid, gfn, readonly);
    return ref;
  }

  /** Re-points a ref we already hold (gnttab_grant_foreign_access_ref on a claimed ref). */
  regrant(ref: number, domid: number, gfn: number, readonly: boolean): void {
    this.mustHold(ref);
    this.writeEntry(ref, domid, gfn, readonly);
  }

  /**
   * gnttab_end_foreign_access_ref: clears the flags only if the grantee is not using the page.
   * Returns false (entry untouched, ref still ours) while GTF_reading or GTF_writing is set.
   */
  endAccess(ref: number): boolean {
    this.mustHold(ref);
    const { words, index } = this.locate(ref);
    let seen = Atomics.load(words, index + FLAGS_WORD);
    for (;;) {
      if ((seen & (GTF.GTF_reading | GTF.GTF_writing)) !== 0) return false;
      // The grantee may set a busy bit between our load and our clear: compare-and-swap closes it.
      const before = Atomics.compareExchange(words, index + FLAGS_WORD, seen, 0);
      if (before === seen) return true;
      seen = before;
    }
  }

  /** Returns a ref whose access has ended to the free list. */
  freeRef(ref: number): void {
    this.mustHold(ref);
    const { words, index } = this.locate(ref);
    if ((Atomics.load(words, index + FLAGS_WORD) & GTF.GTF_type_mask) !== GTF.GTF_invalid) {
      throw new GrantRefInvalidError(ref, 'still granted: end access first');
    }
    this.granted.delete(ref);
    this.free.push(ref);
  }

  /** endAccess then freeRef; false (and nothing freed) while the grantee uses the page. */
  endAccessAndFree(ref: number): boolean {
    if (!this.endAccess(ref)) return false;
    this.freeRef(ref);
    return true;
  }

  /** Refs currently granted by this writer. */
  grantedRefs(): number[] {
    return [...this.granted];
  }

  private writeEntry(ref: number, domid: number, gfn: number, readonly: boolean): void {
    if (!Number.isInteger(domid) || domid < 0 || domid > 0xffff) throw new RangeError(`domid ${domid} out of range`);
    if (!Number.isInteger(gfn) || gfn < 0 || gfn > 0xffffffff) throw new RangeError(`gfn ${gfn} does not fit grant_entry_v1.frame`);
    const { words, index, view, byteOffset } = this.locate(ref);
    // Frame and domid first; the seq-cst flags store below is the wmb() Linux issues before
    // making the entry valid, so a grantee that sees permit_access sees the right frame.
    view.setUint32(byteOffset + FRAME_OFFSET, gfn, true);
    Atomics.store(words, index + DOMID_WORD, domid);
    Atomics.store(words, index + FLAGS_WORD, GTF.GTF_permit_access | (readonly ? GTF.GTF_readonly : 0));
  }

  private mustHold(ref: number): void {
    if (ref < GNTTAB_NR_RESERVED_ENTRIES) throw new GrantRefInvalidError(ref, 'reserved');
    if (!this.granted.has(ref)) throw new GrantRefInvalidError(ref, 'not allocated by this writer');
  }

  private locate(ref: number): { words: Uint16Array; index: number; view: DataView; byteOffset: number } {
    const frame = Math.floor(ref / GRANT_ENTRIES_V1_PER_FRAME);
    const slot = ref % GRANT_ENTRIES_V1_PER_FRAME;
    const words = this.flags[frame];
    const view = this.views[frame];
    if (words === undefined || view === undefined) throw new GrantRefInvalidError(ref, 'beyond the grant frames');
    return { words, index: slot * WORDS_PER_ENTRY, view, byteOffset: slot * grantEntryV1.size };
  }
}

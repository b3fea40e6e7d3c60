// Dom0's view of one guest's grant table (v1): the only way xltsd's backends reach guest memory.
// A mapping is granted exactly as Xen grants it to a Dom0 backend:
//   - the entry is read once per attempt and must say permit_access, for domain 0, and not
//     readonly when the backend will write into the page;
//   - GTF_reading (and GTF_writing for a writable mapping) are set with a compare-and-swap on
//     the entry's flags+domid word, so a guest that changes the entry meanwhile is seen; after a
//     bounded number of failed attempts the map fails with 'busy' (a guest flipping its entry
//     cannot livelock Dom0);
//   - the frame is read after the entry is pinned, and must be a page of the guest's RAM;
//   - the bits are cleared when the last mapping of that grant goes (pin counts per ref).
// The returned view is exactly that one page of the guest's RAM file. A mapping kept across
// requests (blkback's persistent grants) can ask stillGranted() before each use: Xen would keep
// the page mapped whatever the guest later writes into its entry, we re-read the entry and let
// the backend drop a grant the guest revoked, made read-only, or pointed at another frame.
//
// Grant copy (GNTTABOP_copy): bytes move between a granted page and Dom0's own memory (or
// between two granted pages) without a mapping outliving the call: each guest side is checked
// as a map is (dest needs a writable grant), pinned transiently, copied, and released; offset
// and length must stay within the page.
import { GTF, GRANT_ENTRIES_V1_PER_FRAME } from '../../ring-buffer/grant-table.ts';
import type { RamRegion } from '../../hypervisor/shim/dom0-link.ts';

export type GrantAccessKind = 'read' | 'write';
export type GrantRefusal = 'bad-ref' | 'not-granted' | 'readonly' | 'busy' | 'bad-frame' | 'bad-copy-arg';

/** The guest's grant entry does not allow what a backend asked. */
export class GrantRefusedError extends Error {
  override readonly name = 'GrantRefusedError';
  constructor(
    readonly ref: number,
    readonly reason: GrantRefusal,
    detail: string,
  ) {
    super(`grant ref ${ref}: ${detail}`);
  }
}

export interface GrantMapping {
  /** The granted page (4096 bytes of the guest's RAM). */
  readonly bytes: Uint8Array;
  unmap(): void;
  /**
   * Re-reads the guest's entry (once): still permit_access for Dom0, still writable when mapped
   * for writing, still the frame mapped. False after unmap().
   */
  stillGranted(): boolean;
}

/** One side of a grant copy: a guest's granted page, or Dom0's own bytes. */
export type GrantCopySide = { readonly ref: number; readonly offset: number } | { readonly bytes: Uint8Array; readonly offset: number };

/** GNTTABOP_copy's gnttab_copy, for one guest: `len` bytes from source to dest. */
export interface GrantCopy {
  readonly source: GrantCopySide;
  readonly dest: GrantCopySide;
  readonly len: number;
}

const PAGE = 4096;
const DOM0 = 0;
/** CAS attempts before a map gives up on a guest that keeps changing its entry (Xen: 4). */
const MAX_PIN_ATTEMPTS = 4;

export interface DomainGrantsOptions {
  /** The grant frames, contiguous (the <ram>.gnttab file the shim made). */
  readonly frames: Uint8Array;
  /** The guest's RAM file, and where guest frames sit in it. */
  readonly ram: Uint8Array;
  readonly regions: readonly RamRegion[];
}

export class DomainGrants {
  private readonly words: Uint32Array;
  private readonly nrEntries: number;
  /** Pins per ref: [readers, writers]. */
  private readonly pins = new Map<number, [number, number]>();

  constructor(private readonly o: DomainGrantsOptions) {
    if (o.frames.byteOffset % 4 !== 0 || o.frames.byteLength % PAGE !== 0) throw new RangeError('grant frames must be whole, aligned pages');
    this.words = new Uint32Array(o.frames.buffer, o.frames.byteOffset, o.frames.byteLength / 4);
    this.nrEntries = (o.frames.byteLength / PAGE) * GRANT_ENTRIES_V1_PER_FRAME;
  }

  /** Maps grant `ref` for reading ('read') or for writing into the page ('write'). */
  map(ref: number, access: GrantAccessKind): GrantMapping {
    const { page, frame } = this.pin(ref, access);
    let mapped = true;
    return {
      bytes: page,
      unmap: () => {
        if (!mapped) return;
        mapped = false;
        this.release(ref, access);
      },
      stillGranted: () => mapped && this.entryAllows(Atomics.load(this.words, ref * 2), access) === null && Atomics.load(this.words, ref * 2 + 1) === frame,
    };
  }

  /**
   * GNTTABOP_copy for one op: each guest side checked and pinned ('read' for the source,
   * 'write' for the dest) only for the copy; throws GrantRefusedError (nothing stays pinned).
   */
  copy(op: GrantCopy): void {
    const { source, dest, len } = op;
    if (!Number.isInteger(len) || len < 0 || len > PAGE) throw new GrantRefusedError(-1, 'bad-copy-arg', `copy length ${len}`);
    const pinned: Array<[number, GrantAccessKind]> = [];
    try {
      const side = (s: GrantCopySide, access: GrantAccessKind): Uint8Array => {
        const ref = 'ref' in s ? s.ref : -1;
        if (!Number.isInteger(s.offset) || s.offset < 0 || s.offset + len > ('ref' in s ? PAGE : s.bytes.byteLength)) {
          throw new GrantRefusedError(ref, 'bad-copy-arg', `offset ${s.offset} + length ${len} outside the ${'ref' in s ? 'page' : 'buffer'}`);
        }
        if (!('ref' in s)) return s.bytes.subarray(s.offset, s.offset + len);
        const { page } = this.pin(s.ref, access);
        pinned.push([s.ref, access]);
        return page.subarray(s.offset, s.offset + len);
      };
      const from = side(source, 'read');
      const to = side(dest, 'write');
      to.set(from);
    } finally {
      for (const [ref, access] of pinned) this.release(ref, access);
    }
  }

  /** Null when the entry word (flags | domid << 16) lets Dom0 have `access`; else why not. */
  private entryAllows(word: number, access: GrantAccessKind): [GrantRefusal, string] | null {
    const flags = word & 0xffff;
    const domid = word >>> 16;
    if ((flags & GTF.GTF_type_mask) !== GTF.GTF_permit_access) return ['not-granted', 'not a permit_access entry'];
    if (domid !== DOM0) return ['not-granted', `granted to domain ${domid}, not to Dom0`];
    if (access === 'write' && (flags & GTF.GTF_readonly) !== 0) return ['readonly', 'granted read-only'];
    return null;
  }

  /** Checks the entry, marks it in use with a bounded CAS, then reads and checks the frame. */
  private pin(ref: number, access: GrantAccessKind): { page: Uint8Array; frame: number } {
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.nrEntries) throw new GrantRefusedError(ref, 'bad-ref', `outside the ${this.nrEntries}-entry table`);
    const w = ref * 2; // flags (u16) and domid (u16) in the first 32-bit word of the entry
    const want = access === 'write' ? GTF.GTF_reading | GTF.GTF_writing : GTF.GTF_reading;
    let pinned = false;
    for (let attempt = 0; attempt < MAX_PIN_ATTEMPTS && !pinned; attempt++) {
      const word = Atomics.load(this.words, w);
      const refused = this.entryAllows(word, access);
      if (refused !== null) throw new GrantRefusedError(ref, refused[0], refused[1]);
      pinned = Atomics.compareExchange(this.words, w, word, (word | want) >>> 0) === word;
    }
    if (!pinned) throw new GrantRefusedError(ref, 'busy', `the guest changed the entry ${MAX_PIN_ATTEMPTS} times while it was being mapped`);
    const counts = this.pins.get(ref) ?? [0, 0];
    counts[0]++;
    if (access === 'write') counts[1]++;
    this.pins.set(ref, counts);
    const frame = Atomics.load(this.words, w + 1);
    try {
      return { page: this.page(frame, ref), frame };
    } catch (err) {
      this.release(ref, access);
      throw err;
    }
  }

  /** Pins held, for leak checks: a disconnected backend must leave none. */
  get pinnedRefs(): number {
    return this.pins.size;
  }

  private release(ref: number, access: GrantAccessKind): void {
    const counts = this.pins.get(ref);
    if (counts === undefined) return;
    counts[0]--;
    if (access === 'write') counts[1]--;
    let clear = 0;
    if (counts[1] === 0) clear |= GTF.GTF_writing;
    if (counts[0] === 0) {
      clear |= GTF.GTF_reading;
      this.pins.delete(ref);
    }
    if (clear !== 0) Atomics.and(this.words, ref * 2, ~clear >>> 0);
  }

  private page(gfn: number, ref: number): Uint8Array {
    const at = gfn * PAGE;
    const r = this.o.regions.find((x) => at >= x.base && at + PAGE <= x.base + x.size);
    if (r === undefined) throw new GrantRefusedError(ref, 'bad-frame', `frame 0x${gfn.toString(16)} is not guest RAM`);
    return this.o.ram.subarray(r.fileOffset + (at - r.base), r.fileOffset + (at - r.base) + PAGE);
  }
}

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
// The returned view is exactly that one page of the guest's RAM file.
import { GTF, GRANT_ENTRIES_V1_PER_FRAME } from '../../ring-buffer/grant-table.ts';
import type { RamRegion } from '../../hypervisor/shim/dom0-link.ts';

export type GrantAccessKind = 'read' | 'write';
export type GrantRefusal = 'bad-ref' | 'not-granted' | 'readonly' | 'busy' | 'bad-frame';

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
    if (!Number.isInteger(ref) || ref < 0 || ref >= this.nrEntries) throw new GrantRefusedError(ref, 'bad-ref', `outside the ${this.nrEntries}-entry table`);
    const w = ref * 2; // flags (u16) and domid (u16) in the first 32-bit word of the entry
    const want = access === 'write' ? GTF.GTF_reading | GTF.GTF_writing : GTF.GTF_reading;
    let pinned = false;
    for (let attempt = 0; attempt < MAX_PIN_ATTEMPTS && !pinned; attempt++) {
      const word = Atomics.load(this.words, w);
      const flags = word & 0xffff;
      const domid = word >>> 16;
      if ((flags & GTF.GTF_type_mask) !== GTF.GTF_permit_access) throw new GrantRefusedError(ref, 'not-granted', 'not a permit_access entry');
      if (domid !== DOM0) throw new GrantRefusedError(ref, 'not-granted', `granted to domain ${domid}, not to Dom0`);
      if (access === 'write' && (flags & GTF.GTF_readonly) !== 0) throw new GrantRefusedError(ref, 'readonly', 'granted read-only');
      pinned = Atomics.compareExchange(this.words, w, word, (word | want) >>> 0) === word;
    }
    if (!pinned) throw new GrantRefusedError(ref, 'busy', `the guest changed the entry ${MAX_PIN_ATTEMPTS} times while it was being mapped`);
    const counts = this.pins.get(ref) ?? [0, 0];
    counts[0]++;
    if (access === 'write') counts[1]++;
    this.pins.set(ref, counts);
    let page: Uint8Array;
    try {
      page = this.page(Atomics.load(this.words, w + 1), ref);
    } catch (err) {
      this.release(ref, access);
      throw err;
    }
    let mapped = true;
    return {
      bytes: page,
      unmap: () => {
        if (!mapped) return;
        mapped = false;
        this.release(ref, access);
      },
    };
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

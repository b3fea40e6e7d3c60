// A small blkif backend for the frontend's specs: its own xenstore connection (watching the
// frontend's state), a BackRing over the guest's ring pages, a Uint8Array disk, and grant
// checking done the way Xen does it for Dom0: an entry must permit access to us, a read-only
// grant cannot be written, and GTF_reading / GTF_writing stay set while a page is mapped
// (persistent grants and ring pages stay mapped until the frontend closes).
// It is deliberately not backends/blkback: it shares only the wire layouts.
import { BLKIF, BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, BLKIF_SEGMENTS_PER_INDIRECT_FRAME, blkifRequest, blkifRequestDiscard, blkifRequestIndirect, blkifRequestSegment, blkifResponse } from '../../../ring-buffer/blkif.ts';
import { BackRing } from '../../../ring-buffer/back-ring.ts';
import { GRANT_ENTRIES_V1_PER_FRAME, GTF, grantEntryV1 } from '../../../ring-buffer/grant-table.ts';
import { XenbusState, formatXenbusState, parseXenbusState } from '../../../ring-buffer/xenbus.ts';
import type { XenstoreClient } from '../../xenbus/client.ts';
import type { FakeEventChannels, FakeGuestMemory } from './fake-guest.ts';

export interface FakeBlkbackFeatures {
  maxRingPageOrder?: number;
  maxQueues?: number;
  persistent?: boolean;
  flushCache?: boolean;
  discard?: boolean;
  maxIndirectSegments?: number;
  sectorSize?: number;
}

export class GrantViolation extends Error {
  constructor(ref: number, why: string) {
    super(`grant ${ref}: ${why}`);
    this.name = 'GrantViolation';
  }
}

interface BackQueue {
  ring: BackRing;
  port: number;
  refs: number[];
}

export class FakeBlkback {
  readonly disk: Uint8Array;
  readonly ops: number[] = [];
  readonly segmentCounts: number[] = [];
  readonly perQueue: number[] = [];
  readonly violations: Error[] = [];
  /** Number of times the backend woke and took a batch, and the requests in each batch. */
  readonly batches: number[] = [];
  /** Flags of every grant entry as the backend found it when mapping. */
  readonly seenGrantFlags: number[] = [];
  /** Lets a test turn the backend hostile: rewrites each response before it goes on the ring. */
  tamper: ((rsp: { id: bigint; operation: number; status: number }) => { id: bigint; operation: number; status: number }) | null = null;
  private queues: BackQueue[] = [];
  private readonly mapped = new Map<number, number>();
  private readonly persistentRefs = new Set<number>();
  private readonly domid = 0;
  private watchToken = '';
  private persistentInUse = false;

  constructor(
    private readonly xs: XenstoreClient,
    private readonly memory: FakeGuestMemory,
    private readonly grantFrames: Uint8Array[],
    private readonly evtchn: FakeEventChannels,
    readonly frontendDir: string,
    readonly backendDir: string,
    diskSectors: number,
    readonly features: FakeBlkbackFeatures = {},
  ) {
    this.disk = new Uint8Array(diskSectors * 512);
  }

  /** The toolstack's part plus probe: both directories, then InitWait with our features. */
  async start(frontDomid: number): Promise<void> {
    const f = this.features;
    const xs = this.xs;
    await xs.write(`${this.frontendDir}/backend`, this.backendDir);
    await xs.write(`${this.frontendDir}/backend-id`, String(this.domid));
    await xs.write(`${this.frontendDir}/state`, formatXenbusState(XenbusState.XenbusStateInitialising));
    await xs.write(`${this.backendDir}/frontend`, this.frontendDir);
    await xs.write(`${this.backendDir}/frontend-id`, String(frontDomid));
    if (f.maxRingPageOrder !== undefined) await xs.write(`${this.backendDir}/max-ring-page-order`, String(f.maxRingPageOrder));
    if (f.maxQueues !== undefined) await xs.write(`${this.backendDir}/multi-queue-max-queues`, String(f.maxQueues));
    if (f.persistent === true) await xs.write(`${this.backendDir}/feature-persistent`, '1');
    await xs.write(`${this.backendDir}/state`, formatXenbusState(XenbusState.XenbusStateInitWait));
    this.watchToken = xs.uniqueToken('fake-blkback');
    await xs.watch(`${this.frontendDir}/state`, this.watchToken, () => void this.onFrontendState().catch((e: unknown) => this.violations.push(e as Error)));
  }

  /** Grants currently mapped by us. */
  mappedCount(): number {
    return this.mapped.size;
  }

  private async state(s: XenbusState): Promise<void> {
    await this.xs.write(`${this.backendDir}/state`, formatXenbusState(s));
  }

  private async onFrontendState(): Promise<void> {
    const raw = await this.xs.read(`${this.frontendDir}/state`).catch(() => '');
    const p = parseXenbusState(raw);
    if (!p.ok) return;
    const back = parseXenbusState(await this.xs.read(`${this.backendDir}/state`));
    if (p.value === XenbusState.XenbusStateInitialised && back.ok && back.value === XenbusState.XenbusStateInitWait) await this.connect();
    if (p.value === XenbusState.XenbusStateClosing && back.ok && back.value === XenbusState.XenbusStateConnected) await this.state(XenbusState.XenbusStateClosing);
    if (p.value === XenbusState.XenbusStateClosed && back.ok && back.value !== XenbusState.XenbusStateClosed) {
      this.disconnect();
      await this.state(XenbusState.XenbusStateClosed);
    }
  }

  private async connect(): Promise<void> {
    const xs = this.xs;
    const fd = this.frontendDir;
    const read = (k: string): Promise<string | null> => xs.read(`${fd}/${k}`).catch(() => null);
    const order = Number((await read('ring-page-order')) ?? '0');
    const nq = Number((await read('multi-queue-num-queues')) ?? '1');
    if ((await read('protocol')) !== 'x86_64-abi') throw new Error('frontend did not write protocol x86_64-abi');
    this.persistentInUse = this.features.persistent === true && (await read('feature-persistent')) === '1';
    for (let q = 0; q < nq; q++) {
      const sub = nq === 1 ? '' : `queue-${q}/`;
      const refs: number[] = [];
      if (order === 0) refs.push(Number(await read(`${sub}ring-ref`)));
      else for (let i = 0; i < 2 ** order; i++) refs.push(Number(await read(`${sub}ring-ref${i}`)));
      const port = Number(await read(`${sub}event-channel`));
      const gfns = refs.map((r) => this.map(r, true));
      gfns.forEach((g, i) => {
        if (g !== gfns[0]! + i) throw new Error('fake backend needs ring pages at consecutive gfns');
      });
      const ring = new BackRing(this.memory.pages(gfns[0]!, refs.length), BLKIF_RING_ENTRY_SIZE, { pages: refs.length });
      const bq: BackQueue = { ring, port, refs };
      this.queues.push(bq);
      this.perQueue.push(0);
      this.evtchn.backendBind(port, () => this.serve(bq, q));
    }
    const f = this.features;
    const bd = this.backendDir;
    await xs.write(`${bd}/sectors`, String(this.disk.byteLength / 512));
    await xs.write(`${bd}/sector-size`, String(f.sectorSize ?? 512));
    await xs.write(`${bd}/info`, '0');
    if (f.flushCache === true) await xs.write(`${bd}/feature-flush-cache`, '1');
    if (f.discard === true) await xs.write(`${bd}/feature-discard`, '1');
    if (f.maxIndirectSegments !== undefined) await xs.write(`${bd}/feature-max-indirect-segments`, String(f.maxIndirectSegments));
    await this.state(XenbusState.XenbusStateConnected);
  }

  private disconnect(): void {
    for (const q of this.queues) {
      this.evtchn.backendUnbind(q.port);
      for (const r of q.refs) this.unmap(r);
    }
    for (const r of this.persistentRefs) this.unmap(r);
    this.persistentRefs.clear();
    this.queues = [];
  }

  private flagsOf(ref: number): { words: Uint16Array; index: number; view: DataView; off: number } {
    const frame = this.grantFrames[Math.floor(ref / GRANT_ENTRIES_V1_PER_FRAME)];
    if (frame === undefined) throw new GrantViolation(ref, 'beyond the grant table');
    const off = (ref % GRANT_ENTRIES_V1_PER_FRAME) * grantEntryV1.size;
    return { words: new Uint16Array(frame.buffer, frame.byteOffset, 2048), index: off / 2, view: new DataView(frame.buffer, frame.byteOffset, 4096), off };
  }

  /** GNTTABOP_map_grant_ref's checks; returns the gfn and leaves the busy bits set. */
  private map(ref: number, writable: boolean): number {
    const { words, index, view, off } = this.flagsOf(ref);
    const flags = Atomics.load(words, index);
    this.seenGrantFlags.push(flags);
    if ((flags & GTF.GTF_type_mask) !== GTF.GTF_permit_access) throw new GrantViolation(ref, `not permit_access (flags ${flags})`);
    if (view.getUint16(off + 2, true) !== this.domid) throw new GrantViolation(ref, 'granted to another domain');
    if (writable && (flags & GTF.GTF_readonly) !== 0) throw new GrantViolation(ref, 'read-only grant mapped for writing');
    Atomics.or(words, index, GTF.GTF_reading | (writable ? GTF.GTF_writing : 0));
    this.mapped.set(ref, (this.mapped.get(ref) ?? 0) + 1);
    return view.getUint32(off + 4, true);
  }

  private unmap(ref: number): void {
    const n = (this.mapped.get(ref) ?? 0) - 1;
    if (n > 0) {
      this.mapped.set(ref, n);
      return;
    }
    this.mapped.delete(ref);
    const { words, index } = this.flagsOf(ref);
    Atomics.and(words, index, ~(GTF.GTF_reading | GTF.GTF_writing) & 0xffff);
  }

  /** Maps a data page for one request, or once for good when grants are persistent. */
  private page(ref: number, writable: boolean): Uint8Array {
    if (this.persistentInUse) {
      if (!this.persistentRefs.has(ref)) {
        this.map(ref, true);
        this.persistentRefs.add(ref);
      }
      const { view, off } = this.flagsOf(ref);
      return this.memory.page(view.getUint32(off + 4, true));
    }
    return this.memory.page(this.map(ref, writable));
  }

  private release(ref: number): void {
    if (!this.persistentInUse) this.unmap(ref);
  }

  private serve(q: BackQueue, qi: number): void {
    let batch = 0;
    do {
      while (q.ring.unconsumedRequests() > 0) {
        const slot = q.ring.takeRequest();
        batch++;
        this.perQueue[qi]!++;
        const honest = this.handle(slot);
        const rsp = this.tamper === null ? honest : this.tamper(honest);
        q.ring.putResponse(blkifResponse.encode(rsp, new Uint8Array(BLKIF_RING_ENTRY_SIZE)));
      }
      if (q.ring.pushResponsesAndCheckNotify()) this.evtchn.backendNotify(q.port);
    } while (q.ring.finalCheckForRequests());
    this.batches.push(batch);
  }

  private handle(slot: Uint8Array): { id: bigint; operation: number; status: number } {
    const op = slot[0]!;
    this.ops.push(op);
    const id = blkifRequest.decode(slot).id;
    try {
      switch (op) {
        case BLKIF_OP.BLKIF_OP_READ:
        case BLKIF_OP.BLKIF_OP_WRITE: {
          const r = blkifRequest.decode(slot);
          if (r.nr_segments === 0 || r.nr_segments > BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST) throw new Error(`nr_segments ${r.nr_segments}`);
          this.transfer(op, Number(r.sector_number), r.seg.slice(0, r.nr_segments));
          break;
        }
        case BLKIF_OP.BLKIF_OP_INDIRECT: {
          const r = blkifRequestIndirect.decode(slot);
          const max = this.features.maxIndirectSegments ?? 0;
          if (r.nr_segments > max) throw new Error(`indirect nr_segments ${r.nr_segments} > ${max}`);
          const segs = [];
          const pages = Math.ceil(r.nr_segments / BLKIF_SEGMENTS_PER_INDIRECT_FRAME);
          for (let p = 0; p < pages; p++) {
            const ref = r.indirect_grefs[p]!;
            const page = this.page(ref, false).slice();
            this.release(ref);
            for (let j = 0; j < BLKIF_SEGMENTS_PER_INDIRECT_FRAME && segs.length < r.nr_segments; j++) segs.push(blkifRequestSegment.decode(page, j * blkifRequestSegment.size));
          }
          this.transfer(r.indirect_op, Number(r.sector_number), segs);
          // Linux's blkback answers with the operation performed, not BLKIF_OP_INDIRECT.
          return { id: r.id, operation: r.indirect_op, status: BLKIF_RSP.BLKIF_RSP_OKAY };
        }
        case BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE:
          if (this.features.flushCache !== true) return { id, operation: op, status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP };
          break;
        case BLKIF_OP.BLKIF_OP_DISCARD: {
          const d = blkifRequestDiscard.decode(slot);
          if (this.features.discard !== true) return { id, operation: op, status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP };
          const from = Number(d.sector_number) * 512;
          const to = from + Number(d.nr_sectors) * 512;
          if (to > this.disk.byteLength) throw new Error('discard beyond the disk');
          this.disk.fill(0, from, to);
          break;
        }
        default:
          return { id, operation: op, status: BLKIF_RSP.BLKIF_RSP_EOPNOTSUPP };
      }
    } catch (e) {
      this.violations.push(e as Error);
      return { id, operation: op, status: BLKIF_RSP.BLKIF_RSP_ERROR };
    }
    return { id, operation: op, status: BLKIF_RSP.BLKIF_RSP_OKAY };
  }

  private transfer(op: number, sector: number, segs: { gref: number; first_sect: number; last_sect: number }[]): void {
    this.segmentCounts.push(segs.length);
    let at = sector * 512;
    for (const s of segs) {
      if (s.first_sect > s.last_sect || s.last_sect > 7) throw new Error(`segment sectors ${s.first_sect}..${s.last_sect}`);
      const len = (s.last_sect - s.first_sect + 1) * 512;
      if (at + len > this.disk.byteLength) throw new Error('request beyond the disk');
      // A read fills the guest's page: the grant must be writable.
      const page = this.page(s.gref, op === BLKIF_OP.BLKIF_OP_READ);
      const inPage = page.subarray(s.first_sect * 512, s.first_sect * 512 + len);
      if (op === BLKIF_OP.BLKIF_OP_READ) inPage.set(this.disk.subarray(at, at + len));
      else this.disk.set(inPage, at);
      this.release(s.gref);
      at += len;
    }
  }
}

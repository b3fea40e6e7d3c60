// A blkif frontend built from the parts it is given (xenstore client, event channels, grant
// writer, page allocator), so it runs against the fake backend in tests and inside a process
// guest for real. Behaviour follows Linux's xen-blkfront: features read at InitWait, rings and
// channels published in one transaction, Initialised, wait for Connected, then I/O.
//
// Trust: the backend may write anything into the ring pages and the xenstore nodes. Responses
// are copied off the ring once (FrontRing) and matched by id to requests we made; an unknown id
// or a mismatched operation kills the device rather than completing the wrong promise.
import { BLKIF, BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, BLKIF_SEGMENTS_PER_INDIRECT_FRAME, blkifRequest, blkifRequestDiscard, blkifRequestIndirect, blkifRequestSegment, blkifResponse } from '../../ring-buffer/blkif.ts';
import { FrontRing } from '../../ring-buffer/front-ring.ts';
import { XEN_PAGE_SIZE, initSharedRing } from '../../ring-buffer/sring.ts';
import { XENBUS_KEY, XEN_IO_PROTO_ABI_NATIVE, XenbusState, featureKey, parseXenbusUnsigned, queueKey, ringRefKey } from '../../ring-buffer/xenbus.ts';
import type { XenstoreClient } from '../xenbus/client.ts';
import { switchState, waitForState } from '../xenbus/handshake.ts';
import type { GrantTableWriter } from '../grants/grant-table-writer.ts';
import { BlkfrontProtocolError, BlkfrontRequestError, BlkfrontUnsupportedError, BlkfrontUsageError } from './errors.ts';

/** blkif sectors are always 512 bytes on the wire, whatever the disk's logical sector size. */
export const BLKIF_SECTOR_SIZE = 512;
const SECTORS_PER_PAGE = XEN_PAGE_SIZE / BLKIF_SECTOR_SIZE;
/** Linux's default cap on indirect segments (xen_blkif_max_segments). */
export const BLKFRONT_DEFAULT_MAX_INDIRECT_SEGMENTS = 32;
/** Linux's default cap on the ring's page order (xen_blkif_max_ring_order). */
export const BLKFRONT_DEFAULT_MAX_RING_PAGE_ORDER = 4;

export type BlkfrontStore = Pick<XenstoreClient, 'read' | 'write' | 'watch' | 'unwatch' | 'uniqueToken' | 'transaction' | 'closed'>;

/** The guest kernel's event channel operations. */
export interface EventChannels {
  allocUnbound(remoteDom: number): number;
  bind(port: number, handler: () => void): void;
  notify(port: number): void;
}

export interface GuestPage {
  readonly gfn: number;
  readonly bytes: Uint8Array;
}

/** Memory of our own guest. Multi-page rings need allocContiguous; without it the ring is one page. */
export interface PageAllocator {
  allocPage(): GuestPage;
  /** `count` pages at consecutive gfns, seen through one view. */
  allocContiguous?(count: number): { readonly gfns: readonly number[]; readonly bytes: Uint8Array };
}

export interface BlkfrontOptions {
  readonly xenstore: BlkfrontStore;
  readonly evtchn: EventChannels;
  readonly grants: GrantTableWriter;
  readonly pages: PageAllocator;
  /** The frontend directory, e.g. device/vbd/51712. */
  readonly frontendDir: string;
  readonly timeoutMs?: number;
  readonly maxQueues?: number;
  readonly maxRingPageOrder?: number;
  readonly maxIndirectSegments?: number;
  /** Whether to advertise feature-persistent (default true, as Linux does). */
  readonly persistent?: boolean;
}

/** What the backend told us at Connected. */
export interface BlkfrontInfo {
  /** Disk size in 512-byte sectors. */
  readonly sectors: number;
  readonly sectorSize: number;
  readonly info: number;
  readonly flushCache: boolean;
  readonly discard: boolean;
  readonly persistent: boolean;
  /** Segments per request actually used: 11, or the indirect limit when the backend offers one. */
  readonly maxSegments: number;
  readonly indirect: boolean;
  readonly queues: number;
  readonly ringPageOrder: number;
}

interface DataPage {
  readonly page: GuestPage;
  /** The grant held while the page is in use (always, for persistent pages). */
  ref: number | null;
}

interface Pending {
  readonly op: number;
  readonly pages: DataPage[];
  readonly done: (status: number) => void;
}

interface Queue {
  readonly index: number;
  readonly ring: FrontRing;
  readonly ringRefs: number[];
  readonly port: number;
  readonly inflight: Map<bigint, Pending>;
  /** Requests built but waiting for a free slot. */
  readonly waiting: Array<{ readonly put: () => void; readonly fail: (e: Error) => void }>;
  pushScheduled: boolean;
}

type Phase = 'connecting' | 'connected' | 'closed' | 'dead';

export class Blkfront {
  private phase: Phase = 'connecting';
  private readonly queues: Queue[] = [];
  private readonly freePages: DataPage[] = [];
  private readonly allPages: DataPage[] = [];
  private nextId = 1n;
  private nextQueue = 0;
  private backendDir = '';
  private backendId = 0;
  private deathCause: Error | null = null;
  private infoValue: BlkfrontInfo | null = null;
  /** close() waiting for the rings to drain. */
  private idleWaiters: Array<() => void> = [];
  /** Grants that could not be ended because the backend still used them. */
  leakedGrants = 0;
  /** Notifications sent to the backend, for tests and benchmarks. */
  notifications = 0;

  private constructor(private readonly o: BlkfrontOptions) {}

  /** Runs the handshake and resolves once the device is Connected. */
  static async connect(options: BlkfrontOptions): Promise<Blkfront> {
    const f = new Blkfront(options);
    await f.handshake();
    return f;
  }

  get info(): BlkfrontInfo {
    if (this.infoValue === null) throw new BlkfrontUsageError('not connected');
    return this.infoValue;
  }

  /** Reads `count` 512-byte sectors from `sector`. */
  async read(sector: number, count: number): Promise<Uint8Array> {
    this.checkRange(sector, count);
    const out = new Uint8Array(count * BLKIF_SECTOR_SIZE);
    await this.rw(BLKIF_OP.BLKIF_OP_READ, sector, out);
    return out;
  }

  /** Writes whole 512-byte sectors from `sector`. */
  async write(sector: number, data: Uint8Array): Promise<void> {
    if (data.byteLength % BLKIF_SECTOR_SIZE !== 0) throw new BlkfrontUsageError(`write of ${data.byteLength} bytes is not whole sectors`);
    this.checkRange(sector, data.byteLength / BLKIF_SECTOR_SIZE);
    await this.rw(BLKIF_OP.BLKIF_OP_WRITE, sector, data);
  }

  /** BLKIF_OP_FLUSH_DISKCACHE. */
  async flush(): Promise<void> {
    if (!this.info.flushCache) throw new BlkfrontUnsupportedError(featureKey('flush-cache'));
    await this.submit(BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, [], (id, slot) => {
      blkifRequest.encode({ ...blkifRequest.zero(), operation: BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE, id }, slot);
    });
  }

  /** BLKIF_OP_DISCARD of `count` sectors. */
  async discard(sector: number, count: number): Promise<void> {
    if (!this.info.discard) throw new BlkfrontUnsupportedError(featureKey('discard'));
    this.checkRange(sector, count);
    await this.submit(BLKIF_OP.BLKIF_OP_DISCARD, [], (id, slot) => {
      blkifRequestDiscard.encode({ operation: BLKIF_OP.BLKIF_OP_DISCARD, flag: 0, handle: 0, id, sector_number: BigInt(sector), nr_sectors: BigInt(count) }, slot);
    });
  }

  /** Closing, wait for the backend to let go, Closed; then end access to every grant. */
  async close(): Promise<void> {
    if (this.phase === 'closed') return;
    const xs = this.o.xenstore;
    // Let what is already on the rings finish, as Linux does before it tears a queue down.
    if (this.phase === 'connected' && this.busy()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.timeout);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    this.phase = 'closed';
    await switchState(xs, this.o.frontendDir, XenbusState.XenbusStateClosing);
    await waitForState(xs, this.backendDir, [XenbusState.XenbusStateClosing, XenbusState.XenbusStateClosed], this.timeout).catch(() => undefined);
    await switchState(xs, this.o.frontendDir, XenbusState.XenbusStateClosed);
    // The backend unmaps after seeing Closed; give it until it says Closed too.
    await waitForState(xs, this.backendDir, [XenbusState.XenbusStateClosed], this.timeout).catch(() => undefined);
    const gone = new BlkfrontUsageError('device closed');
    for (const q of this.queues) {
      for (const p of q.inflight.values()) p.done(BLKIF_RSP.BLKIF_RSP_ERROR);
      q.inflight.clear();
      for (const w of q.waiting.splice(0)) w.fail(gone);
      for (const ref of q.ringRefs) this.endGrant(ref);
    }
    for (const p of this.allPages) {
      if (p.ref !== null) this.endGrant(p.ref);
      p.ref = null;
    }
    this.deathCause = gone;
  }

  private get timeout(): number {
    return this.o.timeoutMs ?? 10_000;
  }

  private endGrant(ref: number): void {
    if (!this.o.grants.endAccessAndFree(ref)) this.leakedGrants++;
  }

  private async handshake(): Promise<void> {
    const { xenstore: xs, frontendDir: dir } = this.o;
    this.backendDir = await xs.read(`${dir}/${XENBUS_KEY.BACKEND}`);
    this.backendId = this.unsigned(await xs.read(`${dir}/${XENBUS_KEY.BACKEND_ID}`), XENBUS_KEY.BACKEND_ID, 0x7fef);
    await waitForState(xs, this.backendDir, [XenbusState.XenbusStateInitWait], this.timeout);

    const backOrder = await this.readOptional(XENBUS_KEY.MAX_RING_PAGE_ORDER, 0);
    const backQueues = Math.max(1, await this.readOptional(XENBUS_KEY.MULTI_QUEUE_MAX_QUEUES, 1));
    let order = Math.min(backOrder, this.o.maxRingPageOrder ?? BLKFRONT_DEFAULT_MAX_RING_PAGE_ORDER);
    if (this.o.pages.allocContiguous === undefined) order = 0;
    const nQueues = Math.min(backQueues, this.o.maxQueues ?? 1);
    for (let i = 0; i < nQueues; i++) this.queues.push(this.setupQueue(i, order));

    await xs.transaction(async (tx) => {
      const put = (key: string, value: string | number): Promise<void> => tx.write(`${dir}/${key}`, String(value));
      if (order > 0) await put(XENBUS_KEY.RING_PAGE_ORDER, order);
      for (const q of this.queues) {
        const sub = nQueues === 1 ? '' : `${queueKey(q.index)}/`;
        if (order === 0) await put(`${sub}${XENBUS_KEY.RING_REF}`, q.ringRefs[0]!);
        else for (const [i, ref] of q.ringRefs.entries()) await put(`${sub}${ringRefKey(i)}`, ref);
        await put(`${sub}${XENBUS_KEY.EVENT_CHANNEL}`, q.port);
      }
      if (nQueues > 1) await put(XENBUS_KEY.MULTI_QUEUE_NUM_QUEUES, nQueues);
      await put(XENBUS_KEY.PROTOCOL, XEN_IO_PROTO_ABI_NATIVE);
      await put(featureKey('persistent'), this.o.persistent === false ? 0 : 1);
    });
    await switchState(xs, dir, XenbusState.XenbusStateInitialised);
    const st = await waitForState(xs, this.backendDir, [XenbusState.XenbusStateConnected, XenbusState.XenbusStateClosing, XenbusState.XenbusStateClosed], this.timeout);
    if (st !== XenbusState.XenbusStateConnected) throw new BlkfrontProtocolError(`backend went to state ${st} instead of Connected`);

    const sectors = await this.readRequired('sectors');
    const sectorSize = await this.readRequired('sector-size');
    if (sectorSize < BLKIF_SECTOR_SIZE || sectorSize % BLKIF_SECTOR_SIZE !== 0) throw new BlkfrontProtocolError(`sector-size ${sectorSize}`);
    const maxIndirect = await this.readOptional(featureKey('max-indirect-segments'), 0);
    const limit = this.o.maxIndirectSegments ?? BLKFRONT_DEFAULT_MAX_INDIRECT_SEGMENTS;
    const indirect = maxIndirect > BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST && limit > BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST;
    const cap = BLKIF.BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST * BLKIF_SEGMENTS_PER_INDIRECT_FRAME;
    this.infoValue = {
      sectors,
      sectorSize,
      info: await this.readOptional('info', 0),
      flushCache: (await this.readOptional(featureKey('flush-cache'), 0)) === 1,
      discard: (await this.readOptional(featureKey('discard'), 0)) === 1,
      persistent: this.o.persistent !== false && (await this.readOptional(featureKey('persistent'), 0)) === 1,
      maxSegments: indirect ? Math.min(maxIndirect, limit, cap) : BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST,
      indirect,
      queues: nQueues,
      ringPageOrder: order,
    };
    await switchState(xs, dir, XenbusState.XenbusStateConnected);
    this.phase = 'connected';
  }

  private setupQueue(index: number, order: number): Queue {
    const { grants, pages, evtchn } = this.o;
    let mem: Uint8Array;
    let gfns: readonly number[];
    if (order === 0) {
      const p = pages.allocPage();
      mem = p.bytes;
      gfns = [p.gfn];
    } else {
      const c = pages.allocContiguous!(2 ** order);
      mem = c.bytes;
      gfns = c.gfns;
    }
    initSharedRing(mem);
    const ring = new FrontRing(mem, BLKIF_RING_ENTRY_SIZE, { pages: 2 ** order });
    const ringRefs = gfns.map((gfn) => grants.grantAccess(this.backendId, gfn, false));
    const port = evtchn.allocUnbound(this.backendId);
    const q: Queue = { index, ring, ringRefs, port, inflight: new Map(), waiting: [], pushScheduled: false };
    evtchn.bind(port, () => this.onEvent(q));
    return q;
  }

  private async readRequired(key: string): Promise<number> {
    const raw = await this.o.xenstore.read(`${this.backendDir}/${key}`);
    return this.unsigned(raw, key, Number.MAX_SAFE_INTEGER);
  }

  private async readOptional(key: string, fallback: number): Promise<number> {
    let raw: string;
    try {
      raw = await this.o.xenstore.read(`${this.backendDir}/${key}`);
    } catch {
      return fallback;
    }
    return this.unsigned(raw, key, 0xffffffff);
  }

  private unsigned(raw: string, key: string, max: number): number {
    if (max > 0xffffffff) {
      if (!/^[0-9]{1,16}$/.test(raw) || Number(raw) > max) throw new BlkfrontProtocolError(`${key} = ${JSON.stringify(raw)}`);
      return Number(raw);
    }
    const p = parseXenbusUnsigned(raw, max);
    if (!p.ok) throw new BlkfrontProtocolError(`${key} = ${JSON.stringify(raw)}`);
    return p.value;
  }

  private checkRange(sector: number, count: number): void {
    if (this.phase !== 'connected') throw this.deathCause ?? new BlkfrontUsageError(`device is ${this.phase}`);
    if (!Number.isSafeInteger(sector) || !Number.isSafeInteger(count) || sector < 0 || count <= 0 || sector + count > this.info.sectors) {
      throw new BlkfrontUsageError(`sectors [${sector}, +${count}) outside the disk of ${this.info.sectors}`);
    }
    const per = this.info.sectorSize / BLKIF_SECTOR_SIZE;
    if (sector % per !== 0 || count % per !== 0) throw new BlkfrontUsageError(`sectors [${sector}, +${count}) not aligned to sector-size ${this.info.sectorSize}`);
  }

  /** Splits a transfer into requests of at most maxSegments pages and waits for all of them. */
  private async rw(op: number, sector: number, buf: Uint8Array): Promise<void> {
    const perRequest = this.info.maxSegments * XEN_PAGE_SIZE;
    const parts: Promise<void>[] = [];
    for (let at = 0; at < buf.byteLength; at += perRequest) {
      parts.push(this.rwOne(op, sector + at / BLKIF_SECTOR_SIZE, buf.subarray(at, Math.min(buf.byteLength, at + perRequest))));
    }
    await Promise.all(parts);
  }

  private async rwOne(op: number, sector: number, buf: Uint8Array): Promise<void> {
    const nseg = Math.ceil(buf.byteLength / XEN_PAGE_SIZE);
    const indirect = nseg > BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST;
    const nIndirectPages = indirect ? Math.ceil(nseg / BLKIF_SEGMENTS_PER_INDIRECT_FRAME) : 0;
    const data = this.takePages(nseg);
    const indirectPages = this.takePages(nIndirectPages);
    const isWrite = op === BLKIF_OP.BLKIF_OP_WRITE;
    const segs = data.map((p, i) => {
      const bytes = Math.min(XEN_PAGE_SIZE, buf.byteLength - i * XEN_PAGE_SIZE);
      if (isWrite) p.page.bytes.set(buf.subarray(i * XEN_PAGE_SIZE, i * XEN_PAGE_SIZE + bytes));
      // The backend only reads the page of a write: a read-only grant unless it is persistent.
      return { gref: this.grantPage(p, isWrite), first_sect: 0, last_sect: bytes / BLKIF_SECTOR_SIZE - 1 };
    });
    // Both kinds are answered with the operation performed (an indirect one's response carries
    // its indirect_op, as Linux's blkback writes it and Linux's blkfront checks).
    await this.submit(
      op,
      [...data, ...indirectPages],
      (id, slot) => {
        if (!indirect) {
          const seg = Array.from({ length: BLKIF.BLKIF_MAX_SEGMENTS_PER_REQUEST }, (_, i) => segs[i] ?? blkifRequestSegment.zero());
          blkifRequest.encode({ operation: op, nr_segments: nseg, handle: 0, id, sector_number: BigInt(sector), seg }, slot);
          return;
        }
        const grefs = indirectPages.map((p, k) => {
          const page = p.page.bytes;
          for (let j = 0; j < BLKIF_SEGMENTS_PER_INDIRECT_FRAME; j++) {
            const s = segs[k * BLKIF_SEGMENTS_PER_INDIRECT_FRAME + j];
            if (s === undefined) break;
            blkifRequestSegment.encode(s, page, j * blkifRequestSegment.size);
          }
          return this.grantPage(p, true);
        });
        while (grefs.length < BLKIF.BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST) grefs.push(0);
        blkifRequestIndirect.encode({ operation: BLKIF_OP.BLKIF_OP_INDIRECT, indirect_op: op, nr_segments: nseg, id, sector_number: BigInt(sector), handle: 0, indirect_grefs: grefs }, slot);
      },
      () => {
        if (!isWrite) data.forEach((p, i) => buf.set(p.page.bytes.subarray(0, Math.min(XEN_PAGE_SIZE, buf.byteLength - i * XEN_PAGE_SIZE)), i * XEN_PAGE_SIZE));
      },
    );
  }

  private takePages(n: number): DataPage[] {
    const out: DataPage[] = [];
    for (let i = 0; i < n; i++) {
      let p = this.freePages.pop();
      if (p === undefined) {
        p = { page: this.o.pages.allocPage(), ref: null };
        this.allPages.push(p);
      }
      out.push(p);
    }
    return out;
  }

  private grantPage(p: DataPage, backendReadsOnly: boolean): number {
    if (this.info.persistent) {
      // Persistent grants are writable and stay granted: the backend keeps them mapped.
      if (p.ref === null) p.ref = this.o.grants.grantAccess(this.backendId, p.page.gfn, false);
      return p.ref;
    }
    p.ref = this.o.grants.grantAccess(this.backendId, p.page.gfn, backendReadsOnly);
    return p.ref;
  }

  private releasePages(pages: DataPage[]): void {
    for (const p of pages) {
      if (!this.info.persistent && p.ref !== null) {
        // A page the backend still maps cannot be reused; it is dropped, as Linux defers it.
        if (!this.o.grants.endAccessAndFree(p.ref)) {
          this.leakedGrants++;
          continue;
        }
        p.ref = null;
      }
      this.freePages.push(p);
    }
  }

  /** Puts one request on a queue's ring; resolves with its status once the response arrives. */
  private submit(op: number, pages: DataPage[], build: (id: bigint, slot: Uint8Array) => void, onOkay?: () => void): Promise<number> {
    if (this.phase !== 'connected') {
      this.releasePages(pages);
      return Promise.reject(this.deathCause ?? new BlkfrontUsageError(`device is ${this.phase}`));
    }
    const q = this.queues[this.nextQueue++ % this.queues.length]!;
    return new Promise<number>((resolve, reject) => {
      const put = (): void => {
        const id = this.nextId++;
        const slot = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
        build(id, slot);
        q.inflight.set(id, {
          op,
          pages,
          done: (status) => {
            this.releasePages(pages);
            if (status === BLKIF_RSP.BLKIF_RSP_OKAY) {
              onOkay?.();
              resolve(status);
            } else reject(this.deathCause ?? new BlkfrontRequestError(opName(op), status));
          },
        });
        q.ring.putRequest(slot);
        this.schedulePush(q);
      };
      if (q.ring.isFull() || q.waiting.length > 0) {
        q.waiting.push({
          put,
          fail: (e) => {
            this.releasePages(pages);
            reject(e);
          },
        });
      } else put();
    });
  }

  /** Requests made in the same turn go out with one push and at most one notification. */
  private schedulePush(q: Queue): void {
    if (q.pushScheduled) return;
    q.pushScheduled = true;
    queueMicrotask(() => {
      q.pushScheduled = false;
      if (this.phase !== 'connected') return;
      if (q.ring.pushRequestsAndCheckNotify()) {
        this.notifications++;
        this.o.evtchn.notify(q.port);
      }
    });
  }

  private onEvent(q: Queue): void {
    if (this.phase !== 'connected') return;
    const rsp = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
    try {
      do {
        while (q.ring.unconsumedResponses() > 0) {
          q.ring.takeResponse(rsp);
          const r = blkifResponse.decode(rsp);
          const pending = q.inflight.get(r.id);
          if (pending === undefined) throw new BlkfrontProtocolError(`response for unknown id ${r.id} on queue ${q.index}`);
          if (r.operation !== pending.op) throw new BlkfrontProtocolError(`response ${r.id} has operation ${r.operation}, request had ${pending.op}`);
          q.inflight.delete(r.id);
          pending.done(r.status);
        }
      } while (q.ring.finalCheckForResponses());
    } catch (e) {
      this.die(e instanceof Error ? e : new BlkfrontProtocolError(String(e)));
      return;
    }
    while (q.waiting.length > 0 && !q.ring.isFull()) q.waiting.shift()!.put();
    if (this.idleWaiters.length > 0 && !this.busy()) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private busy(): boolean {
    return this.queues.some((q) => q.inflight.size > 0 || q.waiting.length > 0);
  }

  private die(cause: Error): void {
    this.phase = 'dead';
    this.deathCause = cause;
    for (const q of this.queues) {
      for (const p of q.inflight.values()) p.done(BLKIF_RSP.BLKIF_RSP_ERROR);
      q.inflight.clear();
      for (const w of q.waiting.splice(0)) w.fail(cause);
    }
  }
}

function opName(op: number): string {
  const e = Object.entries(BLKIF_OP).find(([, v]) => v === op);
  return e === undefined ? `op ${op}` : e[0];
}

// The guest-side parts a blkfront is given, in memory: pages of one SharedArrayBuffer whose index
// is the gfn (so consecutive gfns are consecutive bytes), grant frames, and event channels whose
// two ends deliver to each other on a later microtask, as an upcall would arrive.
import type { EventChannels, GuestPage, PageAllocator } from '../blkfront.ts';

export class FakeGuestMemory implements PageAllocator {
  readonly buffer: SharedArrayBuffer;
  private next = 0;
  constructor(readonly pageCount = 1024) {
    this.buffer = new SharedArrayBuffer(pageCount * 4096);
  }
  page(gfn: number): Uint8Array {
    if (!Number.isInteger(gfn) || gfn < 0 || gfn >= this.pageCount) throw new RangeError(`gfn ${gfn} is not guest memory`);
    return new Uint8Array(this.buffer, gfn * 4096, 4096);
  }
  pages(gfn: number, count: number): Uint8Array {
    if (gfn < 0 || gfn + count > this.pageCount) throw new RangeError(`gfns ${gfn}+${count} are not guest memory`);
    return new Uint8Array(this.buffer, gfn * 4096, count * 4096);
  }
  allocPage(): GuestPage {
    if (this.next >= this.pageCount) throw new RangeError('fake guest memory exhausted');
    const gfn = this.next++;
    return { gfn, bytes: this.page(gfn) };
  }
  allocContiguous(count: number): { gfns: number[]; bytes: Uint8Array } {
    const first = this.next;
    if (first + count > this.pageCount) throw new RangeError('fake guest memory exhausted');
    this.next += count;
    return { gfns: Array.from({ length: count }, (_, i) => first + i), bytes: this.pages(first, count) };
  }
}

export function fakeGrantFrames(n: number): Uint8Array[] {
  const buf = new SharedArrayBuffer(n * 4096);
  return Array.from({ length: n }, (_, i) => new Uint8Array(buf, i * 4096, 4096));
}

/** Both ends of the guest's event channels. */
export class FakeEventChannels implements EventChannels {
  private nextPort = 1;
  private readonly frontHandlers = new Map<number, () => void>();
  private readonly backHandlers = new Map<number, () => void>();
  /** Notifications the frontend sent, per port. */
  readonly frontNotifies = new Map<number, number>();

  allocUnbound(_remoteDom: number): number {
    return this.nextPort++;
  }
  bind(port: number, handler: () => void): void {
    this.frontHandlers.set(port, handler);
  }
  notify(port: number): void {
    this.frontNotifies.set(port, (this.frontNotifies.get(port) ?? 0) + 1);
    const h = this.backHandlers.get(port);
    if (h !== undefined) queueMicrotask(h);
  }
  /** The backend's EVTCHNOP_bind_interdomain. */
  backendBind(port: number, handler: () => void): void {
    if (port <= 0 || port >= this.nextPort) throw new RangeError(`port ${port} was never allocated`);
    this.backHandlers.set(port, handler);
  }
  backendUnbind(port: number): void {
    this.backHandlers.delete(port);
  }
  backendNotify(port: number): void {
    const h = this.frontHandlers.get(port);
    if (h !== undefined) queueMicrotask(h);
  }
  totalFrontNotifies(): number {
    let n = 0;
    for (const v of this.frontNotifies.values()) n += v;
    return n;
  }
}

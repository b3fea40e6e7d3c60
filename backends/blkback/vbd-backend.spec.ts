// The backend's xenbus side against a scripted frontend: an in-memory xenstore that fires watches,
// a guest memory in which grant refs name pages, and fake event channels. Multi-page rings and
// several queues as Linux's blkfront writes them, a frontend naming impossible rings, and the
// hot-unplug handshake.
import { describe, expect, it } from 'vitest';
import { BLKIF_OP, BLKIF_RING_ENTRY_SIZE, BLKIF_RSP, blkifRequest, blkifResponse } from '../../ring-buffer/blkif.ts';
import { FrontRing } from '../../ring-buffer/front-ring.ts';
import { initSharedRing } from '../../ring-buffer/sring.ts';
import { XenbusState } from '../../ring-buffer/xenbus.ts';
import type { BlockStorage, GrantMapper, XenstoreAccess } from './interfaces.ts';
import { VbdBackend } from './vbd-backend.ts';

const PAGE = 4096;
const BE = '/local/domain/0/backend/vbd/1/51712';
const FE = '/local/domain/1/device/vbd/51712';

class FakeStore implements XenstoreAccess {
  readonly nodes = new Map<string, string>();
  private readonly watches = new Map<string, { path: string; cb: (path: string, token: string) => void }>();
  private n = 0;
  async read(path: string): Promise<string> {
    const v = this.nodes.get(path);
    if (v === undefined) throw new Error(`ENOENT ${path}`);
    return v;
  }
  async write(path: string, value: string): Promise<void> {
    this.nodes.set(path, value);
    for (const [token, w] of this.watches) if (path === w.path || path.startsWith(`${w.path}/`)) queueMicrotask(() => w.cb(path, token));
  }
  async watch(path: string, token: string, cb: (path: string, token: string) => void): Promise<void> {
    this.watches.set(token, { path, cb });
    queueMicrotask(() => cb(path, token));
  }
  async unwatch(_path: string, token: string): Promise<void> {
    this.watches.delete(token);
  }
  uniqueToken(prefix = 't'): string {
    return `${prefix}${++this.n}`;
  }
}

class MemDisk implements BlockStorage {
  readonly bytes = new Uint8Array(64 * 512);
  readonly readOnly = false;
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, dest: Uint8Array): void {
    dest.set(this.bytes.subarray(offset, offset + dest.length));
  }
  write(offset: number, src: Uint8Array): void {
    this.bytes.set(src, offset);
  }
  flush(): void {}
  discard(): boolean {
    return false;
  }
  close(): void {}
}

/** Guest memory of 64 pages; grant ref r names page r (ref 0 is never granted). */
function guest() {
  const memory = new Uint8Array(new SharedArrayBuffer(64 * PAGE));
  const page = (ref: number): Uint8Array => memory.subarray(ref * PAGE, (ref + 1) * PAGE);
  const live = new Set<number>();
  const grants: GrantMapper = {
    map(ref) {
      if (ref <= 0 || ref >= 64) throw new Error(`ref ${ref} not granted`);
      live.add(ref);
      return { bytes: page(ref), unmap: () => void live.delete(ref), stillGranted: () => live.has(ref) };
    },
  };
  return { memory, page, live, grants };
}

function setup() {
  const xs = new FakeStore();
  const g = guest();
  const disk = new MemDisk();
  const notified = new Map<number, number>();
  const handlers = new Map<number, () => void>();
  const backend = new VbdBackend({
    xs,
    backendPath: BE,
    frontendPath: FE,
    storage: disk,
    grants: g.grants,
    bindEventChannel: async (port, onEvent) => {
      handlers.set(port, onEvent);
      return { notify: () => notified.set(port, (notified.get(port) ?? 0) + 1), close: () => handlers.delete(port) };
    },
  });
  const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 10));
  const frontendState = async (s: number): Promise<void> => {
    await xs.write(`${FE}/state`, String(s));
    await settle();
  };
  return { xs, g, disk, notified, handlers, backend, settle, frontendState };
}

/** A frontend ring over `pages` consecutive guest pages starting at `first`. */
function frontRing(g: ReturnType<typeof guest>, first: number, pages: number): FrontRing {
  const view = g.memory.subarray(first * PAGE, (first + pages) * PAGE);
  initSharedRing(view);
  return new FrontRing(view, BLKIF_RING_ENTRY_SIZE);
}

describe('VbdBackend (the xenbus side of blkback)', () => {
  it('offers multi-page rings and queues, and serves two queues of 4-page rings', async () => {
    const t = setup();
    await t.xs.write(`${FE}/state`, String(XenbusState.XenbusStateInitialising));
    await t.backend.start();
    await t.settle();
    expect(t.xs.nodes.get(`${BE}/state`)).toBe(String(XenbusState.XenbusStateInitWait));
    expect(t.xs.nodes.get(`${BE}/max-ring-page-order`)).toBe('4');
    expect(t.xs.nodes.get(`${BE}/multi-queue-max-queues`)).toBe('4');
    // As Linux's blkfront writes them for two queues of 2^2 pages: rings at pages 4..7 and 8..11.
    const rings = [frontRing(t.g, 4, 4), frontRing(t.g, 8, 4)];
    await t.xs.write(`${FE}/multi-queue-num-queues`, '2');
    await t.xs.write(`${FE}/ring-page-order`, '2');
    for (let q = 0; q < 2; q++) {
      for (let i = 0; i < 4; i++) await t.xs.write(`${FE}/queue-${q}/ring-ref${i}`, String(4 + q * 4 + i));
      await t.xs.write(`${FE}/queue-${q}/event-channel`, String(20 + q));
    }
    await t.xs.write(`${FE}/protocol`, 'x86_64-abi');
    await t.frontendState(XenbusState.XenbusStateInitialised);
    expect(t.xs.nodes.get(`${BE}/state`)).toBe(String(XenbusState.XenbusStateConnected));
    expect([...t.handlers.keys()].sort()).toEqual([20, 21]);
    expect(rings[0]!.size).toBe(128); // a 4-page blkif ring

    // Queue 0 writes page 30 to sector 8; queue 1 reads it back into page 31.
    t.g.page(30).fill(0x3c);
    const put = (ring: FrontRing, operation: number, id: bigint, gref: number): void => {
      const entry = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      entry.set(blkifRequest.encode({ operation, nr_segments: 1, handle: 0, id, sector_number: 8n, seg: [{ gref, first_sect: 0, last_sect: 7 }] }));
      ring.putRequest(entry);
      ring.pushRequests();
    };
    put(rings[0]!, BLKIF_OP.BLKIF_OP_WRITE, 1n, 30);
    t.handlers.get(20)!();
    put(rings[1]!, BLKIF_OP.BLKIF_OP_READ, 2n, 31);
    t.handlers.get(21)!();
    const take = (ring: FrontRing): { id: bigint; status: number } => {
      const slot = new Uint8Array(BLKIF_RING_ENTRY_SIZE);
      ring.takeResponse(slot);
      return blkifResponse.decode(slot);
    };
    expect(take(rings[0]!)).toMatchObject({ id: 1n, status: BLKIF_RSP.BLKIF_RSP_OKAY });
    expect(take(rings[1]!)).toMatchObject({ id: 2n, status: BLKIF_RSP.BLKIF_RSP_OKAY });
    expect(t.g.page(31).every((b) => b === 0x3c)).toBe(true);
    expect(t.disk.bytes[8 * 512]).toBe(0x3c);
    expect(t.backend.stats.requests).toBe(2);
    expect([t.notified.get(20), t.notified.get(21)]).toEqual([1, 1]);

    // Unplug: Closing and online=0; the frontend closes; everything is let go.
    const detached = t.backend.detach(1000);
    await t.settle();
    expect(t.xs.nodes.get(`${BE}/state`)).toBe(String(XenbusState.XenbusStateClosing));
    expect(t.xs.nodes.get(`${BE}/online`)).toBe('0');
    await t.frontendState(XenbusState.XenbusStateClosed);
    expect(await detached).toBeNull();
    expect(t.xs.nodes.get(`${BE}/state`)).toBe(String(XenbusState.XenbusStateClosed));
    expect(t.g.live.size).toBe(0);
    expect(t.handlers.size).toBe(0);
  });

  it('closes the device, mapping nothing it keeps, when the frontend names impossible rings', async () => {
    const cases: Array<[string, Record<string, string>]> = [
      ['order above the offer', { 'ring-page-order': '5', 'ring-ref0': '4', 'event-channel': '20' }],
      ['too many queues', { 'multi-queue-num-queues': '9', 'queue-0/ring-ref': '4', 'queue-0/event-channel': '20' }],
      ['ring pages that are not consecutive', { 'ring-page-order': '1', 'ring-ref0': '4', 'ring-ref1': '9', 'event-channel': '20' }],
      ['a ring ref not granted', { 'ring-ref': '99', 'event-channel': '20' }],
      ['garbage', { 'ring-ref': 'x4', 'event-channel': '20' }],
      ['no queues', { 'multi-queue-num-queues': '0', 'ring-ref': '4', 'event-channel': '20' }],
      ['a ring-page-order that is not a number', { 'ring-page-order': '-1', 'ring-ref': '4', 'event-channel': '20' }],
      ['two queues on one event channel', { 'multi-queue-num-queues': '2', 'queue-0/ring-ref': '4', 'queue-0/event-channel': '20', 'queue-1/ring-ref': '5', 'queue-1/event-channel': '20' }],
      ['a queue missing its ring', { 'multi-queue-num-queues': '2', 'queue-0/ring-ref': '4', 'queue-0/event-channel': '20', 'queue-1/event-channel': '21' }],
    ];
    for (const [what, nodes] of cases) {
      const t = setup();
      await t.backend.start();
      for (const [k, v] of Object.entries(nodes)) await t.xs.write(`${FE}/${k}`, v);
      await t.frontendState(XenbusState.XenbusStateInitialised);
      expect(t.xs.nodes.get(`${BE}/state`), what).toBe(String(XenbusState.XenbusStateClosing));
      expect(t.g.live.size, what).toBe(0);
      expect(t.handlers.size, what).toBe(0);
    }
  });

  it('a guest that keeps the disk is reported, not waited for forever', async () => {
    const t = setup();
    await t.backend.start();
    frontRing(t.g, 4, 1);
    await t.xs.write(`${FE}/ring-ref`, '4');
    await t.xs.write(`${FE}/event-channel`, '20');
    await t.frontendState(XenbusState.XenbusStateConnected);
    expect(t.xs.nodes.get(`${BE}/state`)).toBe(String(XenbusState.XenbusStateConnected));
    const left = t.backend.detach(50);
    await t.frontendState(XenbusState.XenbusStateClosing); // "device in use"
    expect(await left).toBe(XenbusState.XenbusStateClosing);
    await t.backend.close();
    expect(t.g.live.size).toBe(0);
  });
});

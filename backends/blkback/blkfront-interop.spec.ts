// Our TypeScript blkfront against this blkback, in one process: the guest's memory and grant
// frames in memory (frontends/blkfront/testing), the frontend's GrantTableWriter writing entries
// that Dom0's real DomainGrants checks and pins, one in-memory xenstore both ends talk to over
// the xenstore wire protocol, and event channels delivering on a later microtask. The two drivers
// still import nothing of each other: only this spec sees both.
import { describe, expect, it } from 'vitest';
import { DomainGrants } from '../../dom0/grants/domain-grants.ts';
import { Blkfront, type BlkfrontOptions } from '../../frontends/blkfront/blkfront.ts';
import { BlkfrontRequestError } from '../../frontends/blkfront/errors.ts';
import { FakeEventChannels, FakeGuestMemory, fakeGrantFrames } from '../../frontends/blkfront/testing/fake-guest.ts';
import { GrantTableWriter } from '../../frontends/grants/grant-table-writer.ts';
import { XenstoreClient } from '../../frontends/xenbus/client.ts';
import { FakeXenstore, serveFake } from '../../frontends/xenbus/testing/fake-xenstore.ts';
import { memoryTransportPair } from '../../frontends/xenbus/testing/memory-transport.ts';
import { GTF } from '../../ring-buffer/grant-table.ts';
import { XenbusState } from '../../ring-buffer/xenbus.ts';
import type { BlockStorage } from './interfaces.ts';
import { VbdBackend } from './vbd-backend.ts';

const DOMID = 7;
const DEVID = 51712;
const FE = `/local/domain/${DOMID}/device/vbd/${DEVID}`;
const BE = `/local/domain/0/backend/vbd/${DOMID}/${DEVID}`;
const SECTORS = 8192; // 4 MiB

class MemDisk implements BlockStorage {
  readonly bytes = new Uint8Array(SECTORS * 512);
  readonly readOnly = false;
  flushes = 0;
  get size(): number {
    return this.bytes.length;
  }
  read(offset: number, dest: Uint8Array): void {
    dest.set(this.bytes.subarray(offset, offset + dest.length));
  }
  write(offset: number, src: Uint8Array): void {
    this.bytes.set(src, offset);
  }
  flush(): void {
    this.flushes++;
  }
  discard(offset: number, length: number): boolean {
    this.bytes.fill(0, offset, offset + length);
    return true;
  }
  close(): void {}
}

function client(store: FakeXenstore, domid: number): XenstoreClient {
  const { client: t, server } = memoryTransportPair();
  serveFake(store, server, domid);
  return new XenstoreClient(t);
}

async function setup() {
  const store = new FakeXenstore();
  const memory = new FakeGuestMemory(4096);
  const frames = fakeGrantFrames(8);
  const evtchn = new FakeEventChannels();
  const dom0 = client(store, 0);
  const grants = new DomainGrants({ frames: new Uint8Array(frames[0]!.buffer), ram: new Uint8Array(memory.buffer), regions: [{ base: 0, size: memory.pageCount * 4096, fileOffset: 0 }] });
  const disk = new MemDisk();
  const log: string[] = [];
  // The toolstack's part (libxl): both directories, linked.
  await dom0.write(`${FE}/backend`, BE);
  await dom0.write(`${FE}/backend-id`, '0');
  await dom0.write(`${FE}/state`, String(XenbusState.XenbusStateInitialising));
  await dom0.write(`${BE}/frontend`, FE);
  await dom0.write(`${BE}/frontend-id`, String(DOMID));
  const backend = new VbdBackend({
    xs: dom0,
    backendPath: BE,
    frontendPath: FE,
    storage: disk,
    grants,
    discard: true,
    bindEventChannel: async (port, onEvent) => {
      evtchn.backendBind(port, onEvent);
      return { notify: () => evtchn.backendNotify(port), close: () => evtchn.backendUnbind(port) };
    },
    log: (line) => log.push(line),
  });
  await backend.start();
  const writer = new GrantTableWriter(frames);
  const connect = (o: Partial<BlkfrontOptions> = {}): Promise<Blkfront> =>
    Blkfront.connect({ xenstore: client(store, DOMID), evtchn, grants: writer, pages: memory, frontendDir: FE, timeoutMs: 2000, ...o });
  return { store, memory, frames, evtchn, grants, writer, disk, backend, log, connect };
}

function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function pattern(bytes: number, seed: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

describe('our blkfront against blkback, in process', () => {
  it('negotiates 4 queues of 2^4-page rings, persistent grants and indirect segments, moves data through all of them, and leaves nothing mapped', async () => {
    const t = await setup();
    const dev = await t.connect({ maxQueues: 4, maxRingPageOrder: 4, maxIndirectSegments: 256 });
    expect(dev.info).toMatchObject({ queues: 4, ringPageOrder: 4, persistent: true, indirect: true, maxSegments: 256, flushCache: true, discard: true, sectors: SECTORS });
    expect(t.store.read(`${BE}/state`)).toBe(String(XenbusState.XenbusStateConnected));
    expect(t.log.some((l) => l.includes('4 queue(s) of 2^4-page rings, persistent grants on'))).toBe(true);

    // Many requests at once (round-robin over the queues), some indirect (1 MiB), then read back.
    const writes: Array<Promise<void>> = [];
    const expected = new Uint8Array(SECTORS * 512);
    for (let i = 0; i < 24; i++) {
      const sector = i * 64; // 32 KiB pieces
      const data = pattern(32 * 1024, i + 1);
      expected.set(data, sector * 512);
      writes.push(dev.write(sector, data));
    }
    const big = pattern(1024 * 1024, 99);
    expected.set(big, 4096 * 512);
    writes.push(dev.write(4096, big));
    await Promise.all(writes);
    expect(same(t.disk.bytes, expected)).toBe(true);
    const again = await Promise.all([dev.read(0, 24 * 64), dev.read(4096, 2048)]);
    expect(same(again[0]!, expected.subarray(0, 24 * 64 * 512))).toBe(true);
    expect(same(again[1]!, big)).toBe(true);
    // Reuse: once a page has been seen on a queue, later requests there do not map it again.
    const before = { ...t.backend.stats };
    for (let round = 0; round < 16; round++) expect(same(await dev.read(round * 64, 64), expected.subarray(round * 64 * 512, (round + 1) * 64 * 512))).toBe(true);
    expect(t.backend.stats.grantMaps - before.grantMaps).toBeLessThanOrEqual(4 * 8); // 8 pages, 4 queues
    expect(t.backend.stats.persistentHits - before.persistentHits).toBeGreaterThanOrEqual(12 * 8);
    await dev.flush();
    await dev.discard(0, 64);
    expect(t.disk.bytes.subarray(0, 64 * 512).every((b) => b === 0)).toBe(true);
    expect(t.disk.flushes).toBe(1);

    const s = t.backend.stats;
    expect(s.errors).toBe(0);
    expect(s.indirect).toBeGreaterThan(0);
    expect(s.persistentGrants).toBeGreaterThan(0);
    for (const port of [1, 2, 3, 4]) expect(t.evtchn.frontNotifies.get(port), `queue port ${port}`).toBeGreaterThan(0);
    // Held: ring pages (4 x 16) and the persistent grants (a page kept by two queues is one ref).
    expect(t.grants.pinnedRefs).toBeGreaterThan(64);
    expect(t.grants.pinnedRefs).toBeLessThanOrEqual(64 + s.persistentGrants);

    await dev.close();
    expect(t.store.read(`${BE}/state`)).toBe(String(XenbusState.XenbusStateClosed));
    expect(dev.leakedGrants).toBe(0);
    expect(t.grants.pinnedRefs).toBe(0);
    expect(t.backend.stats.persistentGrants).toBe(0);
    await t.backend.close();
  });

  it('serves a frontend that wants none of it: one queue, a one-page ring (ring-ref), grants per request', async () => {
    const t = await setup();
    const dev = await t.connect({ maxQueues: 1, maxRingPageOrder: 0, persistent: false, maxIndirectSegments: 0 });
    expect(dev.info).toMatchObject({ queues: 1, ringPageOrder: 0, persistent: false, indirect: false, maxSegments: 11 });
    expect(t.store.read(`${FE}/ring-ref`)).toBeDefined();
    const data = pattern(200 * 512, 5);
    await dev.write(100, data);
    expect(await dev.read(100, 200)).toEqual(data);
    expect(t.backend.stats.persistentGrants).toBe(0);
    expect(t.backend.stats.persistentHits).toBe(0);
    expect(t.grants.pinnedRefs).toBe(1); // the ring page only
    await dev.close();
    expect(dev.leakedGrants).toBe(0);
    expect(t.grants.pinnedRefs).toBe(0);
    await t.backend.close();
  });

  it('a guest that takes its persistent grants back (revoked, or regranted read-only) gets errors, not a stuck or crashed backend', async () => {
    const t = await setup();
    const dev = await t.connect({ maxQueues: 1, maxRingPageOrder: 1 });
    expect(dev.info.persistent).toBe(true);
    await dev.write(0, pattern(64 * 512, 3));
    const kept = t.backend.stats.persistentGrants;
    expect(kept).toBeGreaterThan(0);
    // The hostile guest rewrites every entry it made, except the ring pages': data pages become
    // read-only grants, and one in two is revoked outright.
    const words = new Uint16Array(t.frames[0]!.buffer);
    const ringRefs = new Set<number>();
    for (const i of [0, 1]) ringRefs.add(Number(t.store.read(`${FE}/ring-ref${i}`)));
    let n = 0;
    for (const ref of t.writer.grantedRefs()) {
      if (ringRefs.has(ref)) continue;
      Atomics.store(words, ref * 4, n++ % 2 === 0 ? GTF.GTF_permit_access | GTF.GTF_readonly : 0);
    }
    // A read needs to write into the guest's pages: refused, whichever page it is given.
    await expect(dev.read(0, 64)).rejects.toBeInstanceOf(BlkfrontRequestError);
    expect(t.backend.stats.errors).toBeGreaterThan(0);
    expect(t.backend.stats.persistentRevoked).toBeGreaterThan(0);
    expect(t.store.read(`${BE}/state`)).toBe(String(XenbusState.XenbusStateConnected));
    await dev.close();
    expect(t.grants.pinnedRefs).toBe(0);
    await t.backend.close();
  });

  it('a frontend asking for more than is offered gets the device closed, with a reason logged', async () => {
    const t = await setup();
    // Written by hand, as a buggy or hostile frontend would: 2^6-page rings, 8 queues.
    const xs = client(t.store, DOMID);
    await xs.write(`${FE}/ring-page-order`, '6');
    await xs.write(`${FE}/multi-queue-num-queues`, '8');
    for (let q = 0; q < 8; q++) await xs.write(`${FE}/queue-${q}/event-channel`, String(q + 1));
    await xs.write(`${FE}/state`, String(XenbusState.XenbusStateInitialised));
    await new Promise((r) => setTimeout(r, 20));
    expect(t.store.read(`${BE}/state`)).toBe(String(XenbusState.XenbusStateClosing));
    expect(t.log.some((l) => /8 queue\(s\) of 2\^6-page rings; at most 4 of 2\^4/.test(l))).toBe(true);
    expect(t.grants.pinnedRefs).toBe(0);
    await t.backend.close();
  });
});

import { describe, expect, it } from 'vitest';
import { BLKIF_OP } from '../../ring-buffer/blkif.ts';
import { GTF } from '../../ring-buffer/grant-table.ts';
import { XenstoreClient } from '../xenbus/client.ts';
import { FakeXenstore, serveFake } from '../xenbus/testing/fake-xenstore.ts';
import { memoryTransportPair } from '../xenbus/testing/memory-transport.ts';
import { GrantTableWriter } from '../grants/grant-table-writer.ts';
import { Blkfront, type BlkfrontOptions } from './blkfront.ts';
import { BlkfrontProtocolError, BlkfrontRequestError, BlkfrontUnsupportedError, BlkfrontUsageError } from './errors.ts';
import { FakeBlkback, type FakeBlkbackFeatures } from './testing/fake-blkback.ts';
import { FakeEventChannels, FakeGuestMemory, fakeGrantFrames } from './testing/fake-guest.ts';

const FRONT = '/local/domain/5/device/vbd/51712';
const BACK = '/local/domain/0/backend/vbd/5/51712';

function client(fake: FakeXenstore, domid: number): XenstoreClient {
  const { client: t, server } = memoryTransportPair();
  serveFake(fake, server, domid);
  return new XenstoreClient(t);
}

async function rig(features: FakeBlkbackFeatures, opts: Partial<BlkfrontOptions> = {}, sectors = 4096) {
  const store = new FakeXenstore();
  const memory = new FakeGuestMemory(2048);
  const frames = fakeGrantFrames(4);
  const grants = new GrantTableWriter(frames);
  const evtchn = new FakeEventChannels();
  const back = new FakeBlkback(client(store, 0), memory, frames, evtchn, FRONT, BACK, sectors, features);
  await back.start(5);
  const front = await Blkfront.connect({ xenstore: client(store, 5), evtchn, grants, pages: memory, frontendDir: FRONT, timeoutMs: 2000, ...opts });
  return { store, memory, frames, grants, evtchn, back, front };
}

/** Index of the first differing byte, -1 when equal: toEqual on big typed arrays is slow. */
function firstDiff(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return i;
  return -1;
}

function pattern(bytes: number, seed: number): Uint8Array {
  const b = new Uint8Array(bytes);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('Blkfront', () => {
  it('runs the handshake and publishes what Linux publishes', async () => {
    const { store, front, back } = await rig({ flushCache: true, discard: true });
    expect(store.read(`${FRONT}/state`)).toBe('4');
    expect(store.read(`${BACK}/state`)).toBe('4');
    expect(store.read(`${FRONT}/protocol`)).toBe('x86_64-abi');
    expect(store.read(`${FRONT}/feature-persistent`)).toBe('1');
    expect(store.read(`${FRONT}/ring-ref`)).toMatch(/^\d+$/);
    expect(store.read(`${FRONT}/event-channel`)).toMatch(/^\d+$/);
    expect(store.read(`${FRONT}/ring-page-order`)).toBeUndefined();
    expect(front.info).toMatchObject({ sectors: 4096, sectorSize: 512, flushCache: true, discard: true, persistent: false, maxSegments: 11, indirect: false, queues: 1, ringPageOrder: 0 });
    expect(back.mappedCount()).toBe(1);
  });

  it('writes and reads back byte for byte, splitting above 11 segments without indirect', async () => {
    const { front, back } = await rig({});
    const data = pattern(64 * 1024, 7);
    await front.write(100, data);
    expect(firstDiff(back.disk.subarray(100 * 512, 100 * 512 + data.byteLength), data)).toBe(-1);
    expect(firstDiff(await front.read(100, 128), data)).toBe(-1);
    const odd = pattern(3 * 512, 9);
    await front.write(5, odd);
    expect(await front.read(5, 3)).toEqual(odd);
    expect(Math.max(...back.segmentCounts)).toBe(11);
    expect(back.ops).not.toContain(BLKIF_OP.BLKIF_OP_INDIRECT);
    expect(back.violations).toEqual([]);
  });

  it('batches requests made together into one push and one notification', async () => {
    const { front, back, evtchn } = await rig({});
    const before = evtchn.totalFrontNotifies();
    await Promise.all(Array.from({ length: 16 }, (_, i) => front.write(i * 8, pattern(4096, i + 1))));
    expect(evtchn.totalFrontNotifies() - before).toBe(1);
    expect(back.batches.at(-1)).toBe(16);
    const reads = await Promise.all(Array.from({ length: 16 }, (_, i) => front.read(i * 8, 8)));
    reads.forEach((r, i) => expect(r).toEqual(pattern(4096, i + 1)));
  });

  it('queues requests beyond the ring size and completes them all', async () => {
    const { front } = await rig({});
    // A one-page blkif ring holds 32 requests.
    const n = 80;
    await Promise.all(Array.from({ length: n }, (_, i) => front.write(i, pattern(512, 1000 + i))));
    const back = await Promise.all(Array.from({ length: n }, (_, i) => front.read(i, 1)));
    back.forEach((r, i) => expect(r).toEqual(pattern(512, 1000 + i)));
  });

  it('uses indirect descriptors above 11 segments when the backend offers them', async () => {
    const { front, back } = await rig({ maxIndirectSegments: 256 }, { maxIndirectSegments: 64 });
    expect(front.info).toMatchObject({ indirect: true, maxSegments: 64 });
    const data = pattern(256 * 1024, 3);
    await front.write(0, data);
    expect(firstDiff(await front.read(0, 512), data)).toBe(-1);
    expect(back.ops.filter((o) => o === BLKIF_OP.BLKIF_OP_INDIRECT).length).toBe(2 * 1);
    expect(back.segmentCounts).toEqual([64, 64]);
    expect(back.violations).toEqual([]);
  });

  it('reuses a pool of persistent grants and keeps them granted', async () => {
    const { front, back, grants } = await rig({ persistent: true });
    expect(front.info.persistent).toBe(true);
    for (let round = 0; round < 5; round++) {
      const data = pattern(8 * 4096, round + 20);
      await front.write(round * 64, data);
      expect(firstDiff(await front.read(round * 64, 64), data)).toBe(-1);
    }
    // One ring page plus 8 data pages, granted once and reused by every round.
    expect(grants.grantedRefs().length).toBe(9);
    expect(back.mappedCount()).toBe(9);
    expect(back.violations).toEqual([]);
  });

  it('grants write buffers read-only and ends non-persistent grants after each request', async () => {
    const { front, back, grants } = await rig({});
    back.seenGrantFlags.length = 0;
    await front.write(0, pattern(4096, 1));
    expect(back.seenGrantFlags).toEqual([GTF.GTF_permit_access | GTF.GTF_readonly]);
    await front.read(0, 8);
    expect(back.seenGrantFlags[1]).toBe(GTF.GTF_permit_access);
    expect(grants.grantedRefs().length).toBe(1);
    expect(back.mappedCount()).toBe(1);
  });

  it('flushes and discards, and refuses both when not offered', async () => {
    const { front, back } = await rig({ flushCache: true, discard: true });
    await front.write(40, pattern(8192, 5));
    await front.flush();
    expect(back.ops).toContain(BLKIF_OP.BLKIF_OP_FLUSH_DISKCACHE);
    await front.discard(40, 16);
    expect(await front.read(40, 16)).toEqual(new Uint8Array(8192));
    const plain = await rig({});
    await expect(plain.front.flush()).rejects.toBeInstanceOf(BlkfrontUnsupportedError);
    await expect(plain.front.discard(0, 1)).rejects.toBeInstanceOf(BlkfrontUnsupportedError);
  });

  it('rejects I/O outside the disk', async () => {
    const { front } = await rig({}, {}, 64);
    await expect(front.read(60, 8)).rejects.toBeInstanceOf(BlkfrontUsageError);
    await expect(front.write(0, new Uint8Array(100))).rejects.toBeInstanceOf(BlkfrontUsageError);
  });

  it('uses a multi-page ring when the backend allows it', async () => {
    const { store, front, back } = await rig({ maxRingPageOrder: 2 }, { maxRingPageOrder: 3 });
    expect(front.info.ringPageOrder).toBe(2);
    expect(store.read(`${FRONT}/ring-page-order`)).toBe('2');
    expect(store.read(`${FRONT}/ring-ref3`)).toMatch(/^\d+$/);
    expect(store.read(`${FRONT}/ring-ref`)).toBeUndefined();
    // 4 pages hold 128 requests: all of these fit at once.
    await Promise.all(Array.from({ length: 100 }, (_, i) => front.write(i, pattern(512, i + 3))));
    expect(Math.max(...back.batches)).toBe(100);
    expect(await front.read(99, 1)).toEqual(pattern(512, 102));
  });

  it('spreads requests over two queues', async () => {
    const { store, front, back } = await rig({ maxQueues: 4 }, { maxQueues: 2 });
    expect(front.info.queues).toBe(2);
    expect(store.read(`${FRONT}/multi-queue-num-queues`)).toBe('2');
    expect(store.read(`${FRONT}/queue-1/ring-ref`)).toMatch(/^\d+$/);
    expect(store.read(`${FRONT}/queue-0/event-channel`)).not.toBe(store.read(`${FRONT}/queue-1/event-channel`));
    await Promise.all(Array.from({ length: 10 }, (_, i) => front.write(i * 8, pattern(4096, i))));
    expect(back.perQueue).toEqual([5, 5]);
    expect(await front.read(72, 8)).toEqual(pattern(4096, 9));
  });

  it('closes: Closing then Closed, every grant ended once the backend lets go', async () => {
    const { store, front, back, grants, frames } = await rig({ persistent: true, maxQueues: 2 }, { maxQueues: 2 });
    await front.write(0, pattern(4 * 4096, 1));
    expect(grants.grantedRefs().length).toBeGreaterThan(0);
    await front.close();
    expect(store.read(`${FRONT}/state`)).toBe('6');
    expect(store.read(`${BACK}/state`)).toBe('6');
    expect(back.mappedCount()).toBe(0);
    expect(grants.grantedRefs()).toEqual([]);
    expect(front.leakedGrants).toBe(0);
    // Only flags are cleared (domid and frame stay, as in Linux): every entry is now invalid.
    const words = new Uint16Array(frames[0]!.buffer, 0, 2048);
    for (let e = 0; e < 512; e++) expect(words[e * 4]! & GTF.GTF_type_mask).toBe(GTF.GTF_invalid);
    await expect(front.read(0, 1)).rejects.toBeInstanceOf(BlkfrontUsageError);
  });

  it('fails a request the backend answers with an error status', async () => {
    const { front, back } = await rig({});
    back.tamper = (r) => ({ ...r, status: -1 });
    await expect(front.read(0, 1)).rejects.toBeInstanceOf(BlkfrontRequestError);
    back.tamper = null;
    expect(await front.read(0, 1)).toEqual(new Uint8Array(512));
  });

  it('dies on a response with an id it never issued, failing everything in flight', async () => {
    const { front, back } = await rig({});
    back.tamper = (r) => ({ ...r, id: r.id + 1000n });
    const all = [front.read(0, 8), front.read(8, 8)];
    await expect(all[0]).rejects.toBeInstanceOf(BlkfrontProtocolError);
    await expect(all[1]).rejects.toBeInstanceOf(BlkfrontProtocolError);
    await expect(front.read(0, 1)).rejects.toBeInstanceOf(BlkfrontProtocolError);
  });

  it('close lets requests already issued complete first', async () => {
    const { front, back } = await rig({});
    const writes = Array.from({ length: 40 }, (_, i) => front.write(i * 8, pattern(4096, 300 + i)));
    await front.close();
    await Promise.all(writes);
    expect(firstDiff(back.disk.subarray(39 * 4096, 40 * 4096), pattern(4096, 339))).toBe(-1);
    expect(front.leakedGrants).toBe(0);
  });
});

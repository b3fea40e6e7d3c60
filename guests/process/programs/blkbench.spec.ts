import { describe, expect, it } from 'vitest';
import { FakeBlkback } from '../../../frontends/blkfront/testing/fake-blkback.ts';
import { FakeEventChannels, FakeGuestMemory, fakeGrantFrames } from '../../../frontends/blkfront/testing/fake-guest.ts';
import { XenstoreClient } from '../../../frontends/xenbus/client.ts';
import { FakeXenstore, serveFake } from '../../../frontends/xenbus/testing/fake-xenstore.ts';
import { memoryTransportPair } from '../../../frontends/xenbus/testing/memory-transport.ts';
import { runBlkbench } from './blkbench.ts';

function client(fake: FakeXenstore, domid: number): XenstoreClient {
  const { client: t, server } = memoryTransportPair();
  serveFake(fake, server, domid);
  return new XenstoreClient(t);
}

async function setup(disks: number) {
  const store = new FakeXenstore();
  const memory = new FakeGuestMemory(4096);
  const frames = fakeGrantFrames(4);
  const evtchn = new FakeEventChannels();
  const backs: FakeBlkback[] = [];
  for (let i = 0; i < disks; i++) {
    const devid = 51712 + 16 * i;
    const back = new FakeBlkback(client(store, 0), memory, frames, evtchn, `/local/domain/7/device/vbd/${devid}`, `/local/domain/0/backend/vbd/7/${devid}`, 8192, {
      flushCache: true,
      discard: true,
      persistent: i === 0,
      maxIndirectSegments: 32,
      maxQueues: 2,
    });
    await back.start(7);
    backs.push(back);
  }
  return { store, memory, frames, evtchn, backs };
}

describe('blkbench', () => {
  it('verifies every disk under device/vbd and writes its summary to data/blkbench', async () => {
    const { store, memory, frames, evtchn, backs } = await setup(2);
    const out: string[] = [];
    const summary = await runBlkbench({ domid: 7, xenstore: client(store, 7), console: (t) => out.push(t), evtchn, grantFrames: frames, pages: memory, timeoutMs: 2000 });
    expect(summary.errors).toBe(0);
    expect(summary.ok).toBe(true);
    expect(summary.disks.map((d) => d.vbd).sort()).toEqual(['51712', '51728']);
    expect(summary.checks).toBeGreaterThan(10);
    const stored = JSON.parse(store.read('/local/domain/7/data/blkbench') ?? 'null') as { ok: boolean; checks: number };
    expect(stored).toMatchObject({ ok: true, checks: summary.checks });
    expect(out.join('')).toContain('blkbench: OK');
    for (const b of backs) {
      expect(b.violations).toEqual([]);
      expect(b.ops).toContain(6); // BLKIF_OP_INDIRECT
      expect(b.mappedCount()).toBe(0);
    }
  });

  it('reports failure when the backend corrupts data', async () => {
    const { store, memory, frames, evtchn, backs } = await setup(1);
    // A backend that loses every write: read-back must notice.
    const disk = backs[0]!.disk;
    const origSet = disk.set.bind(disk);
    disk.set = () => undefined;
    const summary = await runBlkbench({ domid: 7, xenstore: client(store, 7), console: () => undefined, evtchn, grantFrames: frames, pages: memory, timeoutMs: 2000 });
    disk.set = origSet;
    expect(summary.ok).toBe(false);
    expect(summary.errors).toBeGreaterThan(0);
    expect(JSON.parse(store.read('/local/domain/7/data/blkbench') ?? 'null')).toMatchObject({ ok: false });
  });

  it('with bench on its cmdline, measures sequential MB/s and random IOPS with percentiles', async () => {
    const { store, memory, frames, evtchn } = await setup(1);
    const out: string[] = [];
    const summary = await runBlkbench({ domid: 7, xenstore: client(store, 7), console: (t) => out.push(t), evtchn, grantFrames: frames, pages: memory, cmdline: 'quiet bench', timeoutMs: 2000 });
    expect(summary.ok).toBe(true);
    const b = summary.disks[0]!.bench!;
    expect(b.seqReadMBps).toBeGreaterThan(0);
    expect(b.randWriteIops).toBeGreaterThan(0);
    expect(b.randReadLatencyUs.p50).toBeLessThanOrEqual(b.randReadLatencyUs.p99);
    expect(b.randReadLatencyUs.p99).toBeLessThanOrEqual(b.randReadLatencyUs.max);
    expect(out.join('')).toMatch(/rand 4 KiB .* IOPS/);
  });

  it('fails when there is no disk', async () => {
    const { store, memory, frames, evtchn } = await setup(0);
    const summary = await runBlkbench({ domid: 7, xenstore: client(store, 7), console: () => undefined, evtchn, grantFrames: frames, pages: memory });
    expect(summary).toMatchObject({ ok: false, checks: 0 });
  });
});

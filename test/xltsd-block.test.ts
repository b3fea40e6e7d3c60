// Block devices through xltsd on this host, end to end with the real CLI: the `blkhotplug` process
// guest (our TypeScript blkfront) takes disks as xl block-attach gives them and lets them go on
// block-detach. Checked: data byte for byte (the guest's verifying workload), the read-only
// refusal with the image untouched, block-list's states and counters, bad requests refused with
// nothing changed, flushed writes found in the image after `xlts destroy`, nothing left behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BlockDeviceInfo } from '../dom0/control/commands.ts';
import { HOTPLUG_MARKER } from '../guests/process/programs/blkhotplug.ts';
import { EXAMPLES, XltsdHarness, eventually } from './support/xltsd-harness.ts';

let h: XltsdHarness;
let images: string;
beforeEach(async () => {
  h = await XltsdHarness.start();
  images = fs.mkdtempSync(path.join(h.dir, 'img-'));
});
afterEach(async () => {
  await h.stop();
});

const MiB = 1024 * 1024;
const XVDA = 51712;
const XVDB = 51728;
const XVDC = 51744;

function image(name: string, bytes: Buffer): string {
  const p = path.join(images, name);
  fs.writeFileSync(p, bytes);
  return p;
}

interface HotplugReport {
  phase: string;
  checks?: number;
  errors?: string[];
  readOnly?: boolean;
  head?: string;
  writeRefused?: boolean;
}

async function report(domid: number, devid: number, phase: string): Promise<HotplugReport> {
  return eventually(`data/hotplug/${devid} ${phase}`, async () => {
    const r = JSON.parse(await h.read(`/local/domain/${domid}/data/hotplug/${devid}`)) as HotplugReport;
    if (r.phase === 'failed') throw new Error(`the guest failed on ${devid}: ${JSON.stringify(r)}`);
    return r.phase === phase ? r : undefined;
  });
}

/** The marker the guest writes to sector 0 and flushes. */
function markerIn(file: string, devid: number, domid: number): boolean {
  const head = fs.readFileSync(file).subarray(0, 512).toString('latin1');
  return head.startsWith(`${HOTPLUG_MARKER} vbd=${devid} domid=${domid}\n`);
}

describe('block devices of a process guest through xltsd', () => {
  it('attaches at create and hot, lists, refuses bad requests, detaches, and keeps flushed writes across destroy', async () => {
    const a = image('a.img', Buffer.alloc(8 * MiB));
    const b = image('b.img', Buffer.alloc(4 * MiB));
    const roBytes = Buffer.alloc(2 * MiB, 0x33);
    roBytes.fill(0, 0, 512);
    roBytes.write('HOST-RO-MARK', 0);
    const c = image('c.img', roBytes);

    const created = await h.xlts('create', path.join(EXAMPLES, 'blkhotplug.cfg'), `disk=["${a},raw,xvda,rw"]`);
    expect(created.code, created.stderr).toBe(0);
    const domid = Number(/domid (\d+)/.exec(created.stderr)?.[1]);
    const first = await report(domid, XVDA, 'verified');
    expect(first.errors).toEqual([]);
    expect(first.checks).toBeGreaterThan(10);

    // Hot-plugged: a writable disk and a read-only one (positional and key=value spec forms).
    const attachB = await h.xlts('block-attach', 'blkhotplug', `${b},raw,xvdb,rw`);
    expect(attachB.code, attachB.stderr).toBe(0);
    expect(attachB.stderr).toContain('xvdb (devid 51728) attached');
    const attachC = await h.xlts('block-attach', String(domid), 'format=raw', 'vdev=xvdc', 'access=ro', `target=${c}`);
    expect(attachC.code, attachC.stderr).toBe(0);
    const second = await report(domid, XVDB, 'verified');
    expect(second.errors).toEqual([]);
    const ro = await report(domid, XVDC, 'verified');
    expect(ro).toMatchObject({ readOnly: true, head: 'HOST-RO-MARK', writeRefused: true });
    expect(fs.readFileSync(c).equals(roBytes)).toBe(true);

    // block-list: both ends connected (4), the counters of what the guest did.
    const listed = await h.xlts('block-list', '--json', 'blkhotplug');
    expect(listed.code, listed.stderr).toBe(0);
    const devices = JSON.parse(listed.stdout) as BlockDeviceInfo[];
    expect(devices.map((d) => [d.vdev, d.devid, d.access, d.backend_state, d.frontend_state])).toEqual([
      ['xvda', XVDA, 'rw', 4, 4],
      ['xvdb', XVDB, 'rw', 4, 4],
      ['xvdc', XVDC, 'ro', 4, 4],
    ]);
    const [sa, , sc] = devices.map((d) => d.stats);
    expect(sa!.writes).toBeGreaterThan(0);
    expect(sa!.reads).toBeGreaterThan(0);
    expect(sa!.flushes).toBeGreaterThan(0);
    expect(sa!.bytes_written).toBeGreaterThan(MiB / 8);
    expect(sa!.errors).toBe(0);
    expect(sa!.notifications_in).toBeGreaterThan(0);
    expect(sc!.errors).toBe(1); // the refused write
    expect(sc!.bytes_written).toBe(0);
    const table = await h.xlts('block-list', 'blkhotplug');
    expect(table.stdout).toMatch(/^xvdb\/51728 +4 +4 +rw /m);

    // Bad requests: a clear error each, and nothing changes.
    const dup = await h.xlts('block-attach', 'blkhotplug', `${b},raw,xvdb,rw`);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('already has xvdb');
    const missing = await h.xlts('block-attach', 'blkhotplug', `${path.join(images, 'nope.img')},raw,xvdd,rw`);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.img');
    const bogus = await h.xlts('block-attach', 'blkhotplug', `${b},qcow2,xvdd,rw`);
    expect(bogus.code).toBe(1);
    expect(bogus.stderr).toMatch(/raw/);
    const unknown = await h.xlts('block-detach', 'blkhotplug', 'xvdz');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('has no disk "xvdz"');
    expect(await h.read(`/local/domain/0/backend/vbd/${domid}/51760/state`).catch(() => 'absent')).toBe('absent');
    expect(h.daemon.registry.find(domid).disks.size).toBe(3);

    // Unplug xvdb: the guest lets go (its frontend closes), both directories go, the flushed
    // marker is in the image; then the same disk can come back.
    const detach = await h.xlts('block-detach', 'blkhotplug', 'xvdb');
    expect(detach.code, detach.stderr).toBe(0);
    expect(detach.stderr).not.toContain('forced');
    await report(domid, XVDB, 'closed');
    expect(await h.read(`/local/domain/${domid}/device/vbd/${XVDB}/state`).catch(() => 'absent')).toBe('absent');
    expect(await h.read(`/local/domain/0/backend/vbd/${domid}/${XVDB}/state`).catch(() => 'absent')).toBe('absent');
    expect(markerIn(b, XVDB, domid)).toBe(true);
    const again = await h.xlts('block-attach', 'blkhotplug', `${b},raw,xvdb,rw`);
    expect(again.code, again.stderr).toBe(0);
    expect((await report(domid, XVDB, 'verified')).errors).toEqual([]);

    // Destroy without any shutdown: what the guest flushed is in the images.
    expect((await h.xlts('destroy', 'blkhotplug')).code).toBe(0);
    expect(markerIn(a, XVDA, domid)).toBe(true);
    expect(markerIn(b, XVDB, domid)).toBe(true);
    expect(fs.readFileSync(c).equals(roBytes)).toBe(true);
    await h.expectNothingLeft();
  }, 120_000);

  it('refuses block commands on a domain that is not there, and a writable image twice', async () => {
    const a = image('a.img', Buffer.alloc(MiB));
    expect((await h.xlts('block-list', 'ghost')).stderr).toContain('ghost');
    expect((await h.xlts('block-attach', 'ghost', `${a},raw,xvda,rw`)).code).toBe(1);
    const created = await h.xlts('create', path.join(EXAMPLES, 'blkhotplug.cfg'), `disk=["${a},raw,xvda,rw"]`);
    expect(created.code, created.stderr).toBe(0);
    const domid = Number(/domid (\d+)/.exec(created.stderr)?.[1]);
    await report(domid, XVDA, 'verified');
    // The same image writable a second time, on another vdev of the same guest.
    const twice = await h.xlts('block-attach', 'blkhotplug', `${a},raw,xvdb,rw`);
    expect(twice.code).toBe(1);
    expect(twice.stderr).toMatch(/already attached|in use|locked/i);
    expect(h.daemon.registry.find(domid).disks.size).toBe(1);
    expect((await h.xlts('shutdown', '-w', 'blkhotplug')).code).toBe(0);
    await h.expectNothingLeft();
  }, 60_000);
});

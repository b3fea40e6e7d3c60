// Linux's own xen-blkfront against our blkback, in the KVM lab, driven as a user would: a guest
// created from examples/linux-disk.cfg (disks given on the command line, as `xl create cfg
// disk=[...]`) with a writable raw image as xvda and a read-only one as xvdb.
//   First boot: the sizes and the ro flag; the host's bytes read; a filesystem made on xvda,
//   files written and their checksums recorded, synced and unmounted; a write to xvdb refused;
//   a third disk hot-plugged (xlts block-attach), written with fsync, and unplugged again
//   (xlts block-detach) while the guest runs on; then `xlts shutdown -w`.
//   From the host: the files (read with debugfs) and the hot-plugged disk's bytes are in the
//   images, the read-only image is untouched.
//   Second boot: the checksums verify; a file written and synced, then `xlts destroy` without a
//   shutdown; from the host, that file is in the image.
// Skips, loudly, only without QEMU.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLinuxGuest } from '../guests/linux/build.ts';
import { xltsdSessionScript } from '../guests/linux/xltsd-session.ts';
import { QEMU_BINARY, runInLab } from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';

const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab needs an x86-64 Linux host; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : findOnPath('debugfs') === undefined
        ? 'debugfs is not installed (Debian package e2fsprogs; run npm run setup)'
        : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/blk-linux-lab.test.ts SKIPPED: ${skipReason} ***\n`);

// The lab has a private /tmp, so the images live where it can see them writable (--rw).
const dir = fs.mkdtempSync('/var/tmp/xlts-blk-test-');
const rwImage = path.join(dir, 'rw.img');
const roImage = path.join(dir, 'ro.img');
const hotImage = path.join(dir, 'hot.img');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
// One retry, said out loud: 1 of 7 sessions so far (2026-11-22) saw the guest's console stop
// right after an unplug, with no error anywhere (not reproduced in 4 more unplugs in one boot).
// A second failure fails the test; the step timeout records the guest's blocked tasks (sysrq w/l).
const RETRIES = 1;
const HOST_MARK = 'HOST-WROTE-THIS';
const DOMAIN = 'linux-disk';

function session(name: string, body: string): string {
  return xltsdSessionScript({
    name,
    domain: DOMAIN,
    create: ['examples/linux-disk.cfg', `disk=["format=raw, vdev=xvda, access=rw, target=${rwImage}", "format=raw, vdev=xvdb, access=ro, target=${roImage}"]`],
    readyNode: '/local/domain/1/device/vbd/51712/state',
    body,
  });
}

const FIRST_BOOT = `
send 'echo "SIZE-A: $(cat /sys/block/xvda/size) SIZE-B: $(cat /sys/block/xvdb/size) RO-B: $(cat /sys/block/xvdb/ro)"'
send 'echo "HOSTMARK: $(dd if=/dev/xvda bs=512 skip=100 count=1 2>/dev/null | head -c ${HOST_MARK.length})"'
send 'mke2fs -q /dev/xvda; echo "MKFS-STATUS: $?"'
send 'mkdir -p /mnt && mount -t ext4 /dev/xvda /mnt; echo "MOUNT-STATUS: $?"'
send 'dd if=/dev/urandom of=/mnt/data.bin bs=64k count=32 2>/dev/null; echo "hello from the guest" > /mnt/hello.txt'
send 'cd /mnt && sha256sum data.bin hello.txt > SUMS && sed "s/^/SUM: /" SUMS; cd /'
send 'sync; umount /mnt; echo "UMOUNT-STATUS: $?"'
send 'echo junk | dd of=/dev/xvdb bs=512 conv=fsync 2>/dev/null; echo "RO-WRITE-STATUS: $?"'
step 1 || finish 11
xlts block-attach ${DOMAIN} ${hotImage},raw,xvdc,rw; echo "ATTACH-STATUS: $?"
send 'for i in $(seq 1 30); do [ -b /dev/xvdc ] && break; sleep 1; done; echo "HOT-SIZE: $(cat /sys/block/xvdc/size)"'
send 'dd if=/dev/urandom of=/tmp/h bs=64k count=16 2>/dev/null; dd if=/tmp/h of=/dev/xvdc bs=64k conv=fsync 2>/dev/null; echo "HOT-WRITE-STATUS: $?"'
send 'echo "HOT-SHA: $(sha256sum /tmp/h)"'
step 2 || finish 12
xlts block-detach ${DOMAIN} xvdc; echo "DETACH-STATUS: $?"
send 'for i in $(seq 1 30); do [ -b /dev/xvdc ] || break; sleep 1; done; echo "HOT-GONE: $([ -b /dev/xvdc ] && echo no || echo yes)"'
step 3 || finish 13
xlts block-list ${DOMAIN}
timeout 180 node "$XLTS_JS" shutdown -w ${DOMAIN}; echo "SHUTDOWN-STATUS: $?"
`;

const SECOND_BOOT = `
send 'mkdir -p /mnt && mount -t ext4 /dev/xvda /mnt; echo "MOUNT2-STATUS: $?"'
send 'cd /mnt && sha256sum -c SUMS >/dev/null; echo "VERIFY-STATUS: $?"; cd /'
send 'echo "written before destroy" > /mnt/after.txt; sync; echo "SYNC-STATUS: $?"'
step 4 || finish 14
xlts destroy ${DOMAIN}; echo "DESTROY-STATUS: $?"
`;

function debugfs(image: string, request: string): Buffer {
  return execFileSync('debugfs', ['-R', request, image], { stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 64 * MiB });
}

describe.skipIf(skipReason !== undefined)('Linux xen-blkfront on our blkback, in the lab', () => {
  it('makes a filesystem on xvda that a second boot verifies, refuses writes to xvdb, hot-plugs xvdc, and keeps synced writes across destroy', { timeout: 1_300_000, retry: RETRIES }, async () => {
    await ensureLinuxGuest();
    const image = Buffer.alloc(64 * MiB);
    image.write(HOST_MARK, 100 * 512);
    fs.writeFileSync(rwImage, image);
    const ro = Buffer.alloc(16 * MiB, 0x5a);
    fs.writeFileSync(roImage, ro);
    fs.writeFileSync(hotImage, Buffer.alloc(8 * MiB));

    const first = await runInLab({ argv: ['sh', '-c', session('blk-first', FIRST_BOOT)], rw: [dir], timeoutMs: 600_000 });
    const out = first.stdout.toString('utf8');
    const why = `exit ${first.status}\nstdout:\n${out.slice(-8000)}\nstderr:\n${first.stderr.toString('utf8').slice(-3000)}`;
    expect(out, why).toContain(`SIZE-A: ${(64 * MiB) / 512} SIZE-B: ${(16 * MiB) / 512} RO-B: 1`);
    expect(out, why).toContain(`HOSTMARK: ${HOST_MARK}`);
    for (const s of ['MKFS-STATUS: 0', 'MOUNT-STATUS: 0', 'UMOUNT-STATUS: 0', 'ATTACH-STATUS: 0', `HOT-SIZE: ${(8 * MiB) / 512}`, 'HOT-WRITE-STATUS: 0', 'DETACH-STATUS: 0', 'HOT-GONE: yes', 'SHUTDOWN-STATUS: 0']) {
      expect(out, why).toContain(s);
    }
    expect(out, why).toMatch(/RO-WRITE-STATUS: [1-9]/);
    const sums = [...out.matchAll(/^SUM: ([0-9a-f]{64}) {2}(\S+)\r?$/gm)].map((m) => [m[2], m[1]]);
    expect(Object.fromEntries(sums), why).toHaveProperty('hello.txt');

    // From the host: the guest's files through its filesystem, the hot disk's fsynced bytes, and
    // the read-only image as it was.
    expect(debugfs(rwImage, 'cat /hello.txt').toString()).toBe('hello from the guest\n');
    const data = debugfs(rwImage, 'cat /data.bin');
    expect(data.length).toBe(2 * MiB);
    expect(createHash('sha256').update(data).digest('hex')).toBe(Object.fromEntries(sums)['data.bin']);
    const hotSha = /HOT-SHA: ([0-9a-f]{64})/.exec(out)?.[1];
    expect(hotSha, why).toBeDefined();
    expect(createHash('sha256').update(fs.readFileSync(hotImage).subarray(0, MiB)).digest('hex')).toBe(hotSha);
    expect(fs.readFileSync(roImage).equals(ro)).toBe(true);

    const second = await runInLab({ argv: ['sh', '-c', session('blk-second', SECOND_BOOT)], rw: [dir], timeoutMs: 600_000 });
    const out2 = second.stdout.toString('utf8');
    const why2 = `exit ${second.status}\nstdout:\n${out2.slice(-8000)}\nstderr:\n${second.stderr.toString('utf8').slice(-3000)}`;
    for (const s of ['MOUNT2-STATUS: 0', 'VERIFY-STATUS: 0', 'SYNC-STATUS: 0', 'DESTROY-STATUS: 0']) expect(out2, why2).toContain(s);
    expect(debugfs(rwImage, 'cat /after.txt').toString()).toBe('written before destroy\n');
  });
});

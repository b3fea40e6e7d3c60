// Linux's own xen-blkfront against our blkback, in the KVM lab: a guest created from
// examples/linux-disk.cfg (disks overridden on the command line, as `xl create cfg disk=[...]`)
// gets a writable raw image as xvda and a read-only one as xvdb. Inside, it sees the sizes, reads
// what the host wrote, writes 1 MiB with fsync and prints its checksum, and fails to write xvdb;
// after `xlts shutdown -w` the host finds those bytes in the image and the read-only image
// untouched; a second boot reads the same checksum back. Skips, loudly, only without QEMU.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureLinuxGuest } from '../guests/linux/build.ts';
import { QEMU_BINARY, runInLab } from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab needs an x86-64 Linux host; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/blk-linux-lab.test.ts SKIPPED: ${skipReason} ***\n`);

// The lab has a private /tmp, so the images live where it can see them writable (--rw).
const dir = fs.mkdtempSync('/var/tmp/xlts-blk-test-');
const rwImage = path.join(dir, 'rw.img');
const roImage = path.join(dir, 'ro.img');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const MiB = 1024 * 1024;
const HOST_MARK = 'HOST-WROTE-THIS';

function script(phase: 'write' | 'verify'): string {
  const commands =
    phase === 'write'
      ? [
          'echo "SIZE-A: $(cat /sys/block/xvda/size) SIZE-B: $(cat /sys/block/xvdb/size) RO-B: $(cat /sys/block/xvdb/ro)"',
          `echo "HOSTMARK: $(dd if=/dev/xvda bs=512 skip=100 count=1 2>/dev/null | head -c ${HOST_MARK.length})"`,
          'dd if=/dev/urandom of=/tmp/r bs=1M count=1 2>/dev/null',
          'dd if=/tmp/r of=/dev/xvda bs=1M seek=4 conv=fsync 2>/dev/null; echo "WRITE-STATUS: $?"',
          'echo "GUEST-SHA: $(sha256sum /tmp/r)"',
          'echo junk | dd of=/dev/xvdb bs=512 conv=fsync 2>/dev/null; echo "RO-WRITE-STATUS: $?"',
        ]
      : ['echo "READBACK-SHA: $(dd if=/dev/xvda bs=1M skip=4 count=1 2>/dev/null | sha256sum)"'];
  return `
export XLTS_RUN_DIR=/tmp/xltsd-blk-${phase}
cd ${ROOT}
xlts() { node ${ROOT}/bin/xlts.js "$@"; }
xlts create examples/linux-disk.cfg 'disk=["format=raw, vdev=xvda, access=rw, target=${rwImage}", "format=raw, vdev=xvdb, access=ro, target=${roImage}"]' || exit 10
# The shell is next once /init has loaded xen-blkfront and the disk is Connected.
for i in $(seq 1 300); do [ "$(xlts xenstore-read /local/domain/1/device/vbd/51712/state 2>/dev/null)" = 4 ] && break; sleep 1; done
sleep 3
printf '%s\\n' ${commands.map((c) => `'${c.replace(/'/g, `'\\''`)}'`).join(' ')} | timeout 60 node ${ROOT}/bin/xlts.js console linux-disk
timeout 180 node ${ROOT}/bin/xlts.js shutdown -w linux-disk; echo "SHUTDOWN-STATUS: $?"
kill $(cat /tmp/xltsd-blk-${phase}/xltsd.pid)
`;
}

describe.skipIf(skipReason !== undefined)('Linux xen-blkfront on our blkback, in the lab', () => {
  it('sees raw images as xvda (rw) and xvdb (ro); writes survive shutdown and a second boot reads them back', async () => {
    await ensureLinuxGuest();
    const image = Buffer.alloc(64 * MiB);
    image.write(HOST_MARK, 100 * 512);
    fs.writeFileSync(rwImage, image);
    const ro = Buffer.alloc(16 * MiB, 0x5a);
    fs.writeFileSync(roImage, ro);

    const first = await runInLab({ argv: ['sh', '-c', script('write')], rw: [dir], timeoutMs: 600_000 });
    const out = first.stdout.toString('utf8');
    const why = `stdout:\n${out.slice(-5000)}\nstderr:\n${first.stderr.toString('utf8').slice(-3000)}`;
    expect(out, why).toContain(`SIZE-A: ${(64 * MiB) / 512} SIZE-B: ${(16 * MiB) / 512} RO-B: 1`);
    expect(out, why).toContain(`HOSTMARK: ${HOST_MARK}`);
    expect(out, why).toContain('WRITE-STATUS: 0');
    expect(out, why).toMatch(/RO-WRITE-STATUS: [1-9]/);
    expect(out, why).toContain('SHUTDOWN-STATUS: 0');
    const sha = /GUEST-SHA: ([0-9a-f]{64})/.exec(out)?.[1];
    expect(sha, why).toBeDefined();
    // From the host: the guest's fsynced megabyte is in the image; the read-only image is untouched.
    const onDisk = fs.readFileSync(rwImage).subarray(4 * MiB, 5 * MiB);
    expect(createHash('sha256').update(onDisk).digest('hex')).toBe(sha);
    expect(fs.readFileSync(roImage).equals(ro)).toBe(true);

    const second = await runInLab({ argv: ['sh', '-c', script('verify')], rw: [dir], timeoutMs: 600_000 });
    const out2 = second.stdout.toString('utf8');
    expect(out2, `stdout:\n${out2.slice(-4000)}`).toContain(`READBACK-SHA: ${sha}`);
  }, 1_300_000);
});

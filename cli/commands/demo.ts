// `xlts demo`, the README's main job: build the default Linux guest if it is not cached, make a
// fresh raw disk image, and run the guest through xltsd as a Xen PVH DomU with that image as its
// PV disk (through the KVM lab on hosts whose /dev/kvm cannot run Linux). In the guest's shell,
// over the PV console: who it runs on, then a filesystem made on /dev/xvda (Linux's own
// xen-blkfront against our blkback), a file written, data written and read back with the
// throughput busybox's dd reports; then blkback's counters (`xlts block-list`), a clean shutdown
// through xenstore, and the host reading the guest's file out of the image. (The throughput is
// a guest's buffered I/O timed by busybox, a demonstration; `xlts bench blk` measures.) Ends with timings;
// exits 0 only when every step did what it should.
import { execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { formatMs, stderrStepReporter } from './guest.ts';

const MiB = 1024 * 1024;
/** The lab shares /var/tmp with the host (its /tmp is its own). */
const DEMO_DIR = '/var/tmp/xlts-demo';
const DOMAIN = 'linux-disk';
const HELLO = 'hello from a Xen PV disk';

/** What the guest's shell is given; `step` waits for the guest to finish what was sent. */
const DEMO_BODY = `
send 'uname -a'
send 'echo "hypervisor: $(cat /sys/hypervisor/type)"'
send 'dmesg | grep -i -E "xen|blkfront|xvda" | head -12'
send 'echo "xvda: $(cat /sys/block/xvda/size) sectors of 512 bytes"'
send 'mke2fs -q /dev/xvda && mkdir -p /mnt && mount -t ext4 /dev/xvda /mnt && echo "DEMO-MOUNTED $(( 1 ))"'
send 'echo "${HELLO}" > /mnt/hello.txt'
send 'time dd if=/dev/zero of=/mnt/zeros bs=1M count=32 conv=fsync'
send 'echo 3 > /proc/sys/vm/drop_caches; time dd if=/mnt/zeros of=/dev/null bs=1M'
send 'sync; df -h /mnt; ls -l /mnt; umount /mnt && echo "DEMO-UNMOUNTED $(( 1 ))"'
step 1 300 || finish 11
echo '--- xlts block-list ---'
xlts block-list ${DOMAIN}
timeout 180 node "$XLTS_JS" shutdown -w ${DOMAIN}; echo "DEMO-SHUTDOWN-STATUS: $?"
`;

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description(
      'the main job: build the default Linux guest, boot it under xltsd with a raw image as its Xen PV disk (in the KVM lab when /dev/kvm cannot run Linux), make a filesystem and do I/O on it from inside, shut it down, check the image from the host, print timings',
    )
    .action(async () => {
      const { ensureLinuxGuest } = await import('../../guests/linux/build.ts');
      const { xltsdSessionScript } = await import('../../guests/linux/xltsd-session.ts');
      const { detectKvmHost, runInLab } = await import('../../lab/index.ts');
      const started = performance.now();

      process.stderr.write('demo: 1/3 the default guest (xlts guest build)\n');
      const buildStarted = performance.now();
      const guest = await ensureLinuxGuest({
        onStep: stderrStepReporter('  guest build:'),
        log: (message) => process.stderr.write(`  guest build:   ${message}\n`),
      });
      const buildMs = performance.now() - buildStarted;

      fs.mkdirSync(DEMO_DIR, { recursive: true });
      const image = path.join(DEMO_DIR, 'disk.img');
      fs.rmSync(image, { force: true });
      fs.writeFileSync(image, '');
      fs.truncateSync(image, 64 * MiB);
      process.stderr.write(`demo: 2/3 a fresh 64 MiB raw image for the guest's PV disk: ${image}\n`);

      const host = detectKvmHost();
      const where = host.canRunLinux ? 'host' : 'lab';
      process.stderr.write(
        where === 'lab'
          ? `demo: 3/3 ${guest.release} under xltsd in the KVM lab: this host's /dev/kvm (${host.provider}) cannot run Linux (lab/README.md)\n`
          : `demo: 3/3 ${guest.release} under xltsd on this host's /dev/kvm\n`,
      );
      process.stderr.write(`demo: xlts create examples/linux-disk.cfg 'disk=["${image},raw,xvda,rw"]'; the guest console follows\n\n`);
      const script = xltsdSessionScript({
        name: 'demo',
        domain: DOMAIN,
        create: ['examples/linux-disk.cfg', `disk=["${image},raw,xvda,rw"]`],
        readyNode: '/local/domain/1/device/vbd/51712/state',
        body: DEMO_BODY,
        live: true,
      });
      // Shown as it comes, and kept to check the steps afterwards.
      let output = '';
      const tee = new PassThrough();
      tee.on('data', (chunk: Buffer) => {
        output += chunk.toString('utf8');
        process.stdout.write(chunk);
      });
      const sessionStarted = performance.now();
      let labBootMs: number | undefined;
      if (where === 'lab') {
        const r = await runInLab({ argv: ['sh', '-c', script], rw: [DEMO_DIR], stdout: tee, stderr: process.stderr, timeoutMs: 900_000, log: (m) => process.stderr.write(`  lab image: ${m}\n`) });
        labBootMs = r.timings.bootMs;
      } else {
        await new Promise<void>((resolve, reject) => {
          const child = spawn('sh', ['-c', script], { stdio: ['ignore', 'pipe', 'inherit'] });
          child.stdout.pipe(tee);
          child.on('error', reject);
          child.on('close', () => resolve());
        });
      }
      const sessionMs = performance.now() - sessionStarted;

      // From the host: the file the guest wrote, read out of its filesystem in the image.
      let fromHost = '';
      try {
        fromHost = execFileSync('debugfs', ['-R', 'cat /hello.txt', image], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8').trim();
      } catch (err) {
        fromHost = `(debugfs failed: ${err instanceof Error ? err.message : String(err)})`;
      }
      const checks: Array<[string, boolean]> = [
        ['filesystem made and mounted on /dev/xvda', output.includes('DEMO-MOUNTED 1')],
        ['written, read back and unmounted', output.includes('DEMO-UNMOUNTED 1')],
        ['clean shutdown (xlts shutdown -w)', output.includes('DEMO-SHUTDOWN-STATUS: 0')],
        [`the host reads /hello.txt from the image: ${JSON.stringify(fromHost)}`, fromHost === HELLO],
      ];
      // busybox's `time` prints "real\t0m 1.23s"; 32 MiB went each way.
      const rates = [...output.matchAll(/^real\s+(\d+)m\s*([0-9.]+)s/gm)].map((m) => `${(32 / (Number(m[1]) * 60 + Number(m[2]))).toFixed(1)} MiB/s`);
      const rows: Array<[string, string]> = [
        ['guest build', `${formatMs(buildMs)}${guest.built ? '' : ' (cached)'}`],
        ...(labBootMs === undefined ? [] : [['lab boot', formatMs(labBootMs)] as [string, string]]),
        ['guest session', `${formatMs(sessionMs)} (create, boot, commands, shutdown)`],
        ...(rates.length >= 2 ? [['PV disk write, read', `${rates[0]}, ${rates[1]} (busybox dd, 32 MiB)`] as [string, string]] : []),
        ['total', formatMs(performance.now() - started)],
      ];
      process.stdout.write(`\n--- xlts demo summary ---\n${rows.map(([k, v]) => `${k.padEnd(21)} ${v}`).join('\n')}\n`);
      for (const [what, ok] of checks) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}\n`);
      if (checks.every(([, ok]) => ok)) {
        process.stdout.write('the guest booted, used its PV disk through our blkback, and shut down cleanly\n');
        return;
      }
      process.stderr.write('xlts demo: FAILED: see the lines marked FAIL and the console above\n');
      process.exitCode = 1;
    });
}

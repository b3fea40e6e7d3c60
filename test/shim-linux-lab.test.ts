// Debian's stock kernel as a Xen PVH DomU under the shim, in the KVM lab (one boot): a busybox
// initramfs whose /init prints a marker on hvc0, reads a line that `xlts run` got on its stdin (the
// PV console's `in` ring), echoes it and powers off, which must reach the shim as ACPI S5 and make
// `xlts run` exit 0. Skips, loudly, only when QEMU or busybox is absent.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildCpio } from '../lab/cpio.ts';
import { QEMU_BINARY, ensureLabKernel, runInLab } from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';
import { xltsCacheDir } from '../hypervisor/pvh/cache-dir.ts';
import { XLTS_RUN_EXIT } from '../hypervisor/shim/exit-status.ts';

const BUSYBOX = '/bin/busybox';
const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab needs an x86-64 Linux host; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : !fs.existsSync(BUSYBOX)
        ? `${BUSYBOX} is missing (Debian package busybox-static; run npm run setup)`
        : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/shim-linux-lab.test.ts SKIPPED: ${skipReason} ***\n`);

const INIT = `#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
echo "XLTS-LINUX-UP $(/bin/busybox uname -r)"
read -r line
echo "XLTS-GOT: $line"
/bin/busybox poweroff -f
`;

/** The initramfs, in the xlts cache (the lab sees the host's cache read-only; its /tmp is private). */
function buildInitrd(): string {
  const busybox = fs.readFileSync(BUSYBOX);
  const cpio = buildCpio([
    { kind: 'dir', path: 'bin' },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { kind: 'symlink', path: 'bin/sh', target: 'busybox' },
    { kind: 'dir', path: 'dev' },
    { kind: 'chardev', path: 'dev/console', major: 5, minor: 1, mode: 0o600 },
    { kind: 'dir', path: 'proc' },
    { kind: 'file', path: 'init', data: new TextEncoder().encode(INIT), mode: 0o755 },
  ]);
  const file = path.join(xltsCacheDir(), 'shim', `linux-test-initrd-${createHash('sha256').update(cpio).digest('hex').slice(0, 16)}.cpio`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, cpio);
    fs.renameSync(`${file}.tmp`, file);
  }
  return file;
}

describe.skipIf(skipReason !== undefined)('Debian\'s stock kernel under the shim in the lab', () => {
  it('boots to /init on hvc0, takes console input from stdin, and powers off with status 0', async () => {
    const { kernel } = await ensureLabKernel();
    const initrd = buildInitrd();
    const script = `echo hello-from-stdin | npx xlts run --kernel '${kernel.vmlinux}' --initrd '${initrd}' --memory 512 --cmdline 'console=hvc0 quiet panic=-1' --timeout 240; echo "LINUX-STATUS=$?"`;
    const r = await runInLab({ argv: ['sh', '-c', script], timeoutMs: 420_000 });
    const out = r.stdout.toString();
    const why = `stdout tail:\n${out.slice(-3000)}\nstderr tail:\n${r.stderr.toString().slice(-3000)}`;
    expect(out, why).toMatch(/XLTS-LINUX-UP 6\.1\./);
    expect(out, why).toContain('XLTS-GOT: hello-from-stdin');
    expect(out, why).toContain(`LINUX-STATUS=${XLTS_RUN_EXIT.poweroff}`);
    expect(r.stderr.toString()).toMatch(/guest shut down: poweroff \(vcpu0: ACPI S5/);
  }, 600_000);
});

// End-to-end tests of the KVM lab: each boot of the L1 VM costs ~6-10 s of TCG, so the suite
// boots three times: one API run that checks everything a lab command relies on, one through
// the CLI (a pipe as stdin, the exit status), one that must be killed at its --timeout. The
// failure paths that need no real VM (QEMU missing, QEMU dying) use a fake QEMU on PATH.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureLabImage,
  labEnvironment,
  LabQemuMissingError,
  LabVmDiedError,
  QEMU_BINARY,
  runInLab,
} from '../lab/index.ts';
import { findOnPath } from '../lab/tools.ts';

const XLTS = fileURLToPath(new URL('../bin/xlts.js', import.meta.url));

const skipReason =
  process.platform !== 'linux' || process.arch !== 'x64'
    ? `the lab chroots into the host's x86-64 Linux root; this is ${process.platform}/${process.arch}`
    : findOnPath(QEMU_BINARY) === undefined
      ? `${QEMU_BINARY} is not installed (Debian package qemu-system-x86; run npm run setup)`
      : undefined;
if (skipReason !== undefined) console.warn(`\n*** test/lab.test.ts SKIPPED: ${skipReason} ***\n`);

/** Runs `fn` with PATH replaced, for the fake-QEMU tests (each test file has its own worker). */
async function withPath<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = path;
  try {
    return await fn();
  } finally {
    process.env.PATH = saved;
  }
}

describe.skipIf(skipReason !== undefined)('the KVM lab', () => {
  const scratch: string[] = [];
  const tempDir = (prefix: string): string => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    scratch.push(dir);
    return dir;
  };

  beforeAll(async () => {
    // A cold cache downloads and builds here, so the boots below measure boots.
    await ensureLabImage({ log: (m) => console.warn(`lab image: ${m}`) });
  }, 600_000);

  afterAll(() => {
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  });

  it('runs a command with stdin, separate stdout/stderr, env, cwd, --rw, private /tmp and a working /dev/kvm', async () => {
    const shared = tempDir('xlts-lab-rw-');
    const marker = tempDir('xlts-lab-marker-'); // on the host's /tmp: must be hidden inside
    const script = [
      'cat > "$SHARED/stdin-copy"',
      'echo "to stdout"',
      'echo "to stderr" >&2',
      'echo "reopened" > /dev/stderr',
      'printf "%s\\n" "in_lab=$XLTS_IN_LAB" "var=$XLTS_LAB_TEST" "cwd=$(pwd)"',
      `if [ -e ${marker} ]; then echo "tmp=host"; else echo "tmp=private"; fi`,
      'if [ -c /dev/kvm ] && (exec 3<>/dev/kvm); then echo "kvm=opened"; fi',
      `node -e 'require("fs").closeSync(require("fs").openSync("/dev/kvm", "r+")); console.log("node=" + process.version)'`,
      'exit 7',
    ].join('\n');
    const result = await runInLab({
      argv: ['sh', '-c', script],
      cwd: '/usr/share',
      rw: [shared],
      stdin: 'line one\nline two\n',
      env: { ...labEnvironment(process.env), SHARED: shared, XLTS_LAB_TEST: 'a b' },
      timeoutMs: 180_000,
    });
    expect(result.stderr.toString()).toBe('to stderr\nreopened\n');
    expect(result.stdout.toString()).toBe(
      [
        'to stdout',
        'in_lab=1',
        'var=a b',
        'cwd=/usr/share',
        'tmp=private',
        'kvm=opened',
        `node=${process.version}`,
        '',
      ].join('\n'),
    );
    expect(result.status).toBe(7);
    expect(readFileSync(join(shared, 'stdin-copy'), 'utf8')).toBe('line one\nline two\n');
    console.warn(`lab timings: ${JSON.stringify(result.timings)}`);
  }, 240_000);

  it('xlts lab passes a pipe as stdin, stdout, and the exit status through', () => {
    const r = spawnSync(process.execPath, [XLTS, 'lab', '--', 'sh', '-c', 'cat; exit 3'], {
      input: 'x\n',
      encoding: 'utf8',
      timeout: 180_000,
    });
    expect(r.stdout).toBe('x\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(3);
  }, 240_000);

  it('xlts lab --timeout kills the VM and exits 124', () => {
    const started = Date.now();
    const r = spawnSync(process.execPath, [XLTS, 'lab', '--timeout', '3', '--', 'sleep', '600'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    expect(r.status).toBe(124);
    expect(r.stderr).toMatch(/did not finish within 3 s/);
    expect(Date.now() - started).toBeLessThan(60_000);
  }, 180_000);

  it('names the Debian package when qemu-system-x86_64 is missing', async () => {
    const empty = tempDir('xlts-lab-nopath-');
    await withPath(empty, async () => {
      await expect(runInLab({ argv: ['true'] })).rejects.toThrow(LabQemuMissingError);
      await expect(runInLab({ argv: ['true'] })).rejects.toThrow(/qemu-system-x86/);
    });
  });

  it('reports a VM that dies before the command ends, with what QEMU said', async () => {
    const bin = tempDir('xlts-lab-fakeqemu-');
    const fake = join(bin, QEMU_BINARY);
    writeFileSync(fake, '#!/bin/sh\necho "qemu-system-x86_64: fake failure for the test" >&2\nexit 1\n');
    chmodSync(fake, 0o755);
    const err = await withPath(`${bin}:${process.env.PATH ?? ''}`, () => runInLab({ argv: ['true'] }).catch((e: unknown) => e));
    expect(err).toBeInstanceOf(LabVmDiedError);
    expect(String(err)).toMatch(/QEMU exited with status 1/);
    expect(String(err)).toMatch(/fake failure for the test/);
  }, 60_000);

  it('gives up on a VM that never becomes ready, naming the boot watchdog', async () => {
    // A QEMU that starts and then says nothing: the init's "ready" never comes.
    const bin = tempDir('xlts-lab-mutequemu-');
    const fake = join(bin, QEMU_BINARY);
    writeFileSync(fake, '#!/bin/sh\nexec sleep 600\n');
    chmodSync(fake, 0o755);
    const started = Date.now();
    const err = await withPath(`${bin}:${process.env.PATH ?? ''}`, () =>
      runInLab({ argv: ['true'], bootTimeoutMs: 1500 }).catch((e: unknown) => e),
    );
    expect(err).toBeInstanceOf(LabVmDiedError);
    expect(String(err)).toMatch(/not ready 2 s after QEMU started/);
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);
});

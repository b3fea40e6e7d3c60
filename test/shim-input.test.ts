// Every refusal of an `xlts run` request happens before a VM exists, with a clear message and the
// bad-input status: prepareGuest is given a fake host check, so no /dev/kvm is touched here.
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main.ts';
import type { KvmHostInfo } from '../lab/kvm-host.ts';
import { PF_R, PF_X, PT_LOAD, PT_NOTE } from '../hypervisor/pvh/elf.ts';
import { XEN_ELFNOTE_GUEST_OS, XEN_ELFNOTE_PHYS32_ENTRY } from '../hypervisor/pvh/elf-notes.ts';
import { buildElf, concat, minimalPvhElf, note, u32le } from '../hypervisor/pvh/testing/elf-builder.ts';
import { LinuxNeedsLabError, ShimInputError } from '../hypervisor/shim/errors.ts';
import { XLTS_RUN_EXIT } from '../hypervisor/shim/exit-status.ts';
import { looksLikeLinux, prepareGuest } from '../hypervisor/shim/shim.ts';

const pvmHost: KvmHostInfo = {
  inLab: false,
  devKvm: true,
  devKvmAccessible: true,
  provider: 'kvm_pvm',
  hardwareVirtualization: false,
  canRunLinux: false,
  message: "this host's /dev/kvm is kvm_pvm, a software hypervisor whose instruction emulator cannot boot a Linux kernel; run it in the KVM lab instead: npx xlts lab -- <command> (see lab/README.md)",
};
const labHost: KvmHostInfo = { ...pvmHost, inLab: true, provider: 'kvm_amd', hardwareVirtualization: true, canRunLinux: true, message: 'ok' };
const noKvm: KvmHostInfo = { ...pvmHost, devKvm: false, devKvmAccessible: false, provider: undefined, message: 'this host has no /dev/kvm' };

let dir: string;
const files: Record<string, string> = {};

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'xlts-shim-input-'));
  const write = async (name: string, bytes: Uint8Array | string): Promise<string> => {
    const p = path.join(dir, name);
    await fs.writeFile(p, bytes);
    return p;
  };
  files.tiny = await write('tiny.elf', minimalPvhElf(64).bytes);
  files.text = await write('notes.txt', 'hello, not a kernel\n');
  files.empty = await write('empty', '');
  const code = new Uint8Array(64);
  files.noNote = await write('nonote.elf', buildElf(64, [{ type: PT_LOAD, paddr: 0x100000, flags: PF_R | PF_X, data: code }], 0x100000n).bytes);
  files.linux = await write(
    'linux.elf',
    buildElf(64, [
      { type: PT_LOAD, paddr: 0x1000000, flags: PF_R | PF_X, data: code },
      { type: PT_NOTE, paddr: 0, data: concat(note('Xen', XEN_ELFNOTE_GUEST_OS, new TextEncoder().encode('linux\0')), note('Xen', XEN_ELFNOTE_PHYS32_ENTRY, u32le(0x1000000))) },
    ]).bytes,
  );
  files.initrd = await write('initrd', new Uint8Array(8192).fill(7));
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

async function refusal(p: Promise<unknown>): Promise<ShimInputError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ShimInputError);
  const e = err as ShimInputError;
  expect(e.exitStatus).toBe(XLTS_RUN_EXIT.badInput);
  return e;
}

describe('prepareGuest refuses bad input before any VM exists', () => {
  it('accepts a tiny PVH guest on kvm_pvm', async () => {
    const p = await prepareGuest({ kernelPath: files.tiny!, memoryMiB: 16, initrdPath: files.initrd!, cmdline: 'x=1' }, () => pvmHost);
    expect(p.isLinux).toBe(false);
    expect(p.layout.modules[0]?.size).toBe(8192);
  });

  it('names a missing file, a non-file, an empty file and a file that is no kernel', async () => {
    expect((await refusal(prepareGuest({ kernelPath: path.join(dir, 'nope') }, () => pvmHost))).message).toMatch(/nope: no such file/);
    expect((await refusal(prepareGuest({ kernelPath: dir }, () => pvmHost))).message).toMatch(/not a regular file/);
    expect((await refusal(prepareGuest({ kernelPath: files.empty! }, () => pvmHost))).message).toMatch(/empty file/);
    expect((await refusal(prepareGuest({ kernelPath: files.text! }, () => pvmHost))).message).toMatch(/not an ELF file.*bzImage/);
    expect((await refusal(prepareGuest({ kernelPath: files.tiny!, initrdPath: path.join(dir, 'no-initrd') }, () => pvmHost))).message).toMatch(/initrd .*no such file/);
  });

  it('refuses an ELF without the PVH entry note', async () => {
    expect((await refusal(prepareGuest({ kernelPath: files.noNote! }, () => pvmHost))).message).toMatch(/PHYS32_ENTRY/);
  });

  it('refuses bad sizes', async () => {
    await refusal(prepareGuest({ kernelPath: files.tiny!, memoryMiB: 2 }, () => pvmHost));
    await refusal(prepareGuest({ kernelPath: files.tiny!, memoryMiB: 1.5 }, () => pvmHost));
    await refusal(prepareGuest({ kernelPath: files.tiny!, vcpus: 0 }, () => pvmHost));
    await refusal(prepareGuest({ kernelPath: files.tiny!, vcpus: 1000 }, () => pvmHost));
    // The Linux-style kernel loads at 16 MiB: it does not fit in 8 MiB.
    expect((await refusal(prepareGuest({ kernelPath: files.linux!, memoryMiB: 8 }, () => labHost))).message).toMatch(/does not fit/);
  });

  it('refuses a host without a usable /dev/kvm', async () => {
    expect((await refusal(prepareGuest({ kernelPath: files.tiny! }, () => noKvm))).message).toMatch(/\/dev\/kvm/);
  });

  it('sends a Linux kernel on kvm_pvm to the lab, and lets it run where KVM is real', async () => {
    const err = await refusal(prepareGuest({ kernelPath: files.linux! }, () => pvmHost));
    expect(err).toBeInstanceOf(LinuxNeedsLabError);
    expect(err.message).toContain(`npx xlts lab -- npx xlts run --kernel ${files.linux!}`);
    expect(err.message).toMatch(/kvm_pvm/);
    const p = await prepareGuest({ kernelPath: files.linux! }, () => labHost);
    expect(p.isLinux).toBe(true);
    expect(looksLikeLinux(p.kernel, 'bzImage')).toBe(true);
  });
});

describe('xlts run (CLI) on bad input', () => {
  it('exits 2 with the reason on stderr, and documents its statuses in --help', async () => {
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (errors.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      process.exitCode = undefined;
      expect(await main(['node', 'xlts', 'run', '--kernel', files.text!])).toBe(XLTS_RUN_EXIT.badInput);
      process.exitCode = undefined;
      expect(await main(['node', 'xlts', 'run', '--kernel', path.join(dir, 'nope')])).toBe(XLTS_RUN_EXIT.badInput);
    } finally {
      process.stderr.write = write;
      process.exitCode = undefined;
    }
    expect(errors.join('')).toMatch(/xlts run: kernel .*notes\.txt: not an ELF file/);
    expect(errors.join('')).toMatch(/nope: no such file/);
  });

  it('lists every exit status in its help text', async () => {
    const { buildProgram } = await import('../cli/main.ts');
    const run = buildProgram().commands.find((c) => c.name() === 'run')!;
    let help = '';
    run.configureOutput({ writeOut: (s) => (help += s) });
    run.outputHelp();
    for (const [name, code] of Object.entries(XLTS_RUN_EXIT)) expect(help, name).toMatch(new RegExp(`^  ${code}  `, 'm'));
    expect(help).toContain('npx xlts lab -- npx xlts run');
  });
});

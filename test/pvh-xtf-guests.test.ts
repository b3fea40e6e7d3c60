// The tiny PVH test guests, built with the system's gcc, as the PVH loader sees them: each has the
// entry note, loads at 1 MiB into the planned layout with its start_info intact, and contains only
// instructions the host's KVM instruction emulator is known to run. Two of them are also booted
// under QEMU's TCG (no Xen there): that proves the PVH entry, the switch to long mode and the C
// runtime work on a CPU, up to the runtime's "no Xen CPUID leaves" failure on the debug port.
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { type BuiltGuest, buildTestGuests } from '../guests/xtf/build.ts';
import { XTF_RUNS } from '../guests/xtf/catalog.ts';
import { parseXtfOutput } from '../guests/xtf/results.ts';
import { gpa } from '../hypervisor/memory/guest-memory.ts';
import { PT_LOAD } from '../hypervisor/pvh/elf.ts';
import { MiB, planGuestLayout } from '../hypervisor/pvh/guest-layout.ts';
import { readPvhKernelFile } from '../hypervisor/pvh/kernel-image.ts';
import { loadPvhGuest } from '../hypervisor/pvh/loader.ts';
import { XEN_HVM_START_MAGIC_VALUE, hvmStartInfo } from '../hypervisor/pvh/start-info.ts';
import { ArrayGuestMemory } from '../hypervisor/memory/testing/array-guest-memory.ts';

const run = promisify(execFile);

let guests: BuiltGuest[];
beforeAll(async () => {
  guests = await buildTestGuests();
}, 300_000);

describe('test guest build', () => {
  it('builds every guest the catalog runs, and nothing it does not', () => {
    const built = new Set(guests.map((g) => g.name));
    const wanted = new Set(XTF_RUNS.map((r) => r.guest));
    expect([...wanted].sort()).toEqual([...built].sort());
    for (const g of guests) expect(path.isAbsolute(g.path)).toBe(true);
  });

  it('reuses the cached build when no source changed', async () => {
    const again = await buildTestGuests();
    expect(again).toEqual(guests);
  });

  it('keeps build output out of the repository', () => {
    for (const g of guests) expect(g.path.startsWith(path.resolve('guests'))).toBe(false);
  });
});

describe('loading each test guest', () => {
  it('finds the PVH entry note and the runtime\'s guest OS note', async () => {
    for (const g of guests) {
      const { kernel, format } = await readPvhKernelFile(g.path, { cacheDir: null });
      expect(format, g.name).toBe('elf');
      expect(kernel.image.elfClass, g.name).toBe(g.name.endsWith('-elf32') ? 32 : 64);
      expect(kernel.notes.guestOs, g.name).toBe('xlts-xtf');
      // The linker script makes the 32-bit entry both e_entry and the note's address.
      expect(BigInt(kernel.entry), g.name).toBe(kernel.image.entry);
      expect(kernel.entry, g.name).toBe(0x100000);
    }
  });

  it('loads segments, zero-fills bss and writes start_info in the planned layout', async () => {
    for (const g of guests) {
      const { kernel } = await readPvhKernelFile(g.path, { cacheDir: null });
      const layout = planGuestLayout({ memorySize: 32 * MiB });
      const memory = new ArrayGuestMemory(layout.memoryRegions);
      memory.bytes.fill(0xcc, 0x100000, 0x200000); // stale RAM the bss must not keep
      const res = loadPvhGuest({ memory, layout, kernel, cmdline: 'reason=reboot' });
      for (const ph of kernel.image.programHeaders.filter((p) => p.type === PT_LOAD)) {
        const inMemory = memory.view(gpa(ph.paddr), ph.memsz);
        expect(inMemory.subarray(0, ph.filesz), `${g.name} segment ${ph.index}`).toEqual(kernel.image.bytes.subarray(ph.offset, ph.offset + ph.filesz));
        expect(inMemory.subarray(ph.filesz).every((b) => b === 0), `${g.name} bss`).toBe(true);
      }
      expect(memory.bytes[res.entry], g.name).toBe(0xfc); // the entry's first instruction is CLD
      const si = hvmStartInfo.decode(memory.bytes, res.bootState.regs.rbx);
      expect(si.magic).toBe(XEN_HVM_START_MAGIC_VALUE);
      expect(si.memmap_entries).toBe(layout.memmap.length);
      expect(new TextDecoder().decode(memory.bytes.subarray(si.cmdline_paddr, si.cmdline_paddr + 13))).toBe('reason=reboot');
      // Everything the guest uses (code, data, stack, page tables) lies below 2 MiB.
      expect(res.kernelEnd).toBeLessThan(2 * MiB);
    }
  });
});

describe('instructions the host emulator knows', () => {
  // KVM's instruction emulator (which the host's kvm_pvm runs all guest kernel code through)
  // stops with an internal error on these; the build flags and runtime must keep them out.
  const forbidden = /\b(tzcnt|lzcnt|popcnt|endbr64|cmpxchg16b|xsave\w*|xrstor\w*|fxsave\w*|fxrstor\w*|int3|clac|stac|rdrand|rdseed|f\w*ld\w*|fwait|v?movap\w|v?movup\w|v?movdq\w|pxor|xorps)\b|%[xyz]mm\d/;

  it('contains no SSE, x87 or instructions newer than the emulator', async () => {
    for (const g of guests.filter((x) => !x.name.endsWith('-elf32'))) {
      const { stdout } = await run('objdump', ['-d', '--no-show-raw-insn', '-M', 'att', g.path], { maxBuffer: 16 * 1024 * 1024 });
      const offending = stdout.split('\n').filter((l) => /^\s+[0-9a-f]+:\t/.test(l) && forbidden.test(l.split('\t')[1] ?? ''));
      expect(offending, g.name).toEqual([]);
    }
  });
});

describe('booting under QEMU TCG (no Xen)', () => {
  for (const name of ['cpuid', 'cpuid-elf32']) {
    it(`${name} reaches 64-bit C and reports the missing Xen leaves on the debug port`, async () => {
      const guest = guests.find((g) => g.name === name)!;
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'xlts-xtf-qemu-'));
      try {
        const debugcon = path.join(dir, 'debugcon.txt');
        const out = await bootUnderTcg(guest.path, debugcon);
        const parsed = parseXtfOutput(out);
        expect(parsed.failures).toEqual(['no Xen CPUID leaves (XenVMMXenVMM) at 0x40000000 + k*0x100']);
        expect(parsed.summary).toEqual({ passed: 0, failed: 1 });
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
    }, 60_000);
  }
});

/** Boots a PVH ELF in QEMU TCG until its debug-port output has the RESULT line (or 45 s pass). */
async function bootUnderTcg(kernel: string, debugcon: string): Promise<string> {
  const child = spawn(
    'qemu-system-x86_64',
    ['-accel', 'tcg', '-machine', 'pc', '-m', '64', '-display', 'none', '-serial', 'none', '-monitor', 'none', '-no-reboot', '-kernel', kernel, '-debugcon', `file:${debugcon}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<void>((resolve, reject) => {
    child.on('error', (err) => reject(new Error(`cannot start qemu-system-x86_64 (the KVM lab needs it; npm run setup): ${err.message}`)));
    child.on('exit', () => resolve());
  });
  try {
    const deadline = Date.now() + 45_000;
    for (;;) {
      const text = await fs.readFile(debugcon, 'utf8').catch(() => '');
      if (text.includes('RESULT:')) return text;
      if (child.exitCode !== null) throw new Error(`qemu exited (${child.exitCode}) before the guest finished: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`no RESULT line within 45 s; debug port so far: ${JSON.stringify(text)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    child.kill('SIGKILL');
    await exited.catch(() => undefined);
  }
}

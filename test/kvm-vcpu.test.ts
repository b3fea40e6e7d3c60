// The KVM layer against this host's /dev/kvm, one thread: tiny guests run with Vcpu.run() and
// their exits are checked one by one. On a machine without a usable /dev/kvm these fail with
// KvmUnavailableError, whose message says to run them in the KVM lab.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { gpa } from '../hypervisor/memory/guest-memory.ts';
import { EFD_CLOEXEC, EFD_NONBLOCK, eventfd } from '../hypervisor/native/libc.ts';
import {
  KvmArgumentError,
  KvmCapabilityError,
  KvmClosedError,
  KvmIoctlError,
  KvmUnavailableError,
  Kvm,
  VcpuStateError,
  defaultIrqchipRoutes,
  type VcpuExit,
  kvmCapabilityReport,
} from '../hypervisor/kvm/index.ts';
import { KVM_RUN_HEADER } from '../hypervisor/kvm/kvm-structs.ts';
import { LONG_MODE_ALIAS_BASE, TINY_GUESTS, TinyVm, type TinyGuestProgram } from '../hypervisor/kvm/tiny-guests.ts';

const run = promisify(execFile);
const XEN_HYPERCALL_PAGE_MSR = 0x4000_0200;

let open: TinyVm[] = [];
function tinyVm(options?: Parameters<typeof TinyVm.create>[0]): TinyVm {
  const t = TinyVm.create(options);
  open.push(t);
  return t;
}
afterEach(() => {
  for (const t of open) t.close();
  open = [];
});

function u32(data: Uint8Array): number {
  return new DataView(data.buffer, data.byteOffset, data.byteLength).getUint32(0, true);
}

function expectIo(exit: VcpuExit, direction: 'in' | 'out', port: number, size: number): Uint8Array {
  expect(exit.kind).toBe('io');
  if (exit.kind !== 'io') throw new Error('unreachable');
  expect({ direction: exit.direction, port: exit.port, size: exit.size, count: exit.count }).toEqual({ direction, port, size, count: 1 });
  return exit.data;
}

describe('tiny guest programs', () => {
  it('are the bytes GNU as makes of their listings', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-tiny-guests-'));
    try {
      for (const [name, program] of Object.entries(TINY_GUESTS) as [string, TinyGuestProgram][]) {
        const src = path.join(dir, `${name}.s`);
        fs.writeFileSync(src, [program.mode === 'real' ? '.code16' : '.code64', ...program.asm, ''].join('\n'));
        await run('as', ['--64', '-o', `${src}.o`, src]);
        await run('objcopy', ['-O', 'binary', '-j', '.text', `${src}.o`, `${src}.bin`]);
        expect([...fs.readFileSync(`${src}.bin`)], name).toEqual([...program.bytes]);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('Kvm', () => {
  it('opens /dev/kvm, checks API 12 and reports the capabilities the shim needs', () => {
    const kvm = Kvm.open();
    try {
      const report = kvmCapabilityReport(kvm);
      expect(report.apiVersion).toBe(12);
      expect(report.vcpuMmapSize).toBeGreaterThanOrEqual(2 * 4096);
      expect(report.missing).toEqual([]);
      for (const cap of ['KVM_CAP_IRQCHIP', 'KVM_CAP_PIT2', 'KVM_CAP_IRQFD', 'KVM_CAP_IOEVENTFD', 'KVM_CAP_SIGNAL_MSI', 'KVM_CAP_X86_USER_SPACE_MSR', 'KVM_CAP_X86_MSR_FILTER', 'KVM_CAP_READONLY_MEM', 'KVM_CAP_IMMEDIATE_EXIT'] as const) {
        expect(report.capabilities[cap], cap).toBeGreaterThan(0);
      }
      expect(kvm.getSupportedCpuid().some((e) => e.function === 0)).toBe(true);
      expect(kvm.getMsrIndexList().length).toBeGreaterThan(10);
    } finally {
      kvm.close();
    }
  });

  it('says where to go when /dev/kvm is missing or is not KVM', () => {
    expect(() => Kvm.open('/nonexistent/kvm')).toThrow(KvmUnavailableError);
    expect(() => Kvm.open('/nonexistent/kvm')).toThrow(/npx xlts lab --/);
    expect(() => Kvm.open('/dev/null')).toThrow(/not a KVM device/);
  });
});

describe('Vcpu on this host', () => {
  it('real mode: port I/O exits carry port, size and data; IN data reaches the guest; HLT exits', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeIo);
    expect([...expectIo(vcpu.run(), 'out', 0x10, 1)]).toEqual([0x41]);
    expect([...expectIo(vcpu.run(), 'out', 0x11, 2)]).toEqual([0x34, 0x12]);
    expectIo(vcpu.run(), 'in', 0x12, 1)[0] = 0x99;
    expect(vcpu.run().kind).toBe('hlt');
    // The guest stored the IN byte at 0x2000: visible in the shared-memory file.
    expect(t.file.bytes()[0x2000]).toBe(0x99);
    expect(vcpu.getRegs().rax & 0xffn).toBe(0x99n);
  });

  it('long mode: the hypercall-page MSR exits to userspace through the MSR filter', () => {
    const t = tinyVm();
    t.vm.enableUserSpaceMsr({ filter: true, unknown: true });
    t.vm.setMsrFilter({ defaultAction: 'allow', ranges: [{ base: XEN_HYPERCALL_PAGE_MSR, nmsrs: 1, read: true, write: true }] });
    new DataView(t.file.buffer).setUint32(0x2000, 0xdead_beef, true);
    const vcpu = t.addVcpu(TINY_GUESTS.longModeMsr);

    const wr = vcpu.run();
    expect(wr).toMatchObject({ kind: 'wrmsr', index: XEN_HYPERCALL_PAGE_MSR, reason: 'filter', value: 0x5000n });
    const rd = vcpu.run();
    expect(rd).toMatchObject({ kind: 'rdmsr', index: XEN_HYPERCALL_PAGE_MSR, reason: 'filter' });
    if (rd.kind !== 'rdmsr') throw new Error('unreachable');
    rd.respond(0xabcd_0123n);
    expect(u32(expectIo(vcpu.run(), 'out', 0x20, 4))).toBe(0xabcd_0123);
    // Read through the 1 GiB alias of guest-physical 0x2000.
    expect(u32(expectIo(vcpu.run(), 'out', 0x21, 4))).toBe(0xdead_beef);
    expect(vcpu.run().kind).toBe('hlt');
  });

  it('an MSR KVM does not know exits with reason unknown', () => {
    const t = tinyVm();
    t.vm.enableUserSpaceMsr({ filter: true, unknown: true });
    const vcpu = t.addVcpu(TINY_GUESTS.longModeUnknownMsr);
    const rd = vcpu.run();
    expect(rd).toMatchObject({ kind: 'rdmsr', index: 0x4000_0300, reason: 'unknown' });
    if (rd.kind !== 'rdmsr') throw new Error('unreachable');
    rd.respond(7n);
    expect(u32(expectIo(vcpu.run(), 'out', 0x20, 4))).toBe(7);
  });

  it('a failed RDMSR is a #GP in the guest (here, with no IDT, a triple fault: shutdown)', () => {
    const t = tinyVm();
    t.vm.enableUserSpaceMsr({ filter: true });
    t.vm.setMsrFilter({ defaultAction: 'allow', ranges: [{ base: XEN_HYPERCALL_PAGE_MSR, nmsrs: 1, read: true, write: true }] });
    const vcpu = t.addVcpu(TINY_GUESTS.longModeMsr);
    const sregs = vcpu.getSregs();
    sregs.idt = { base: 0n, limit: 0 };
    vcpu.setSregs(sregs);
    expect(vcpu.run().kind).toBe('wrmsr'); // accepted by leaving it alone
    const rd = vcpu.run();
    if (rd.kind !== 'rdmsr') throw new Error(`expected rdmsr, got ${rd.kind}`);
    rd.fail();
    expect(vcpu.run().kind).toBe('shutdown');
  });

  it('KVM_TRANSLATE walks the guest page tables', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.longModeMsr);
    expect(vcpu.translate(BigInt(LONG_MODE_ALIAS_BASE) + 0x2345n)).toEqual({ valid: true, gpa: gpa(0x2345), writeable: true, usermode: false });
    expect(vcpu.translate(0x1000n)).toMatchObject({ valid: true, gpa: 0x1000 });
    expect(vcpu.translate(0x8000_0000n)).toEqual({ valid: false });
  });

  it('a hypercall stub: the handler reads argument registers and writes RAX', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.longModeHypercallStub);
    expect(u32(expectIo(vcpu.run(), 'out', 0x22, 4))).toBe(3);
    const regs = vcpu.getRegs();
    expect([regs.rdi, regs.rsi]).toEqual([0x1111n, 0x2222n]);
    regs.rax = regs.rdi + regs.rsi;
    vcpu.setRegs(regs);
    expect(u32(expectIo(vcpu.run(), 'out', 0x23, 4))).toBe(0x3333);
    expect(vcpu.run().kind).toBe('hlt');
  });

  it('CPUID leaves set with KVM_SET_CPUID2 are what the guest sees', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.longModeCpuid);
    const xenVMM = { ebx: 0x566e6558, ecx: 0x65584d4d, edx: 0x4d4d566e }; // "XenVMMXenVMM"
    // KVM lists its own signature at 0x40000000; a guest must see only ours there.
    const native = t.kvm.getSupportedCpuid().filter((e) => e.function < 0x4000_0000 || e.function > 0x4fff_ffff);
    vcpu.setCpuid2([...native, { function: 0x4000_0000, index: 0, flags: 0, eax: 0x4000_0005, ...xenVMM }]);
    expect(u32(expectIo(vcpu.run(), 'out', 0x20, 4))).toBe(0x4000_0005);
    expect(u32(expectIo(vcpu.run(), 'out', 0x21, 4))).toBe(xenVMM.ebx);
    expect(vcpu.getCpuid2().find((e) => e.function === 0x4000_0000)?.ecx).toBe(xenVMM.ecx);
  });

  it('MMIO exits: a write to a read-only slot and a read of unbacked space', () => {
    const t = tinyVm({ ramSize: 1 << 20, romSize: 1 << 20 });
    new DataView(t.file.buffer).setUint32(0x10_0004, 0x600d, true);
    const vcpu = t.addVcpu(TINY_GUESTS.longModeMmio);
    const write = vcpu.run();
    expect(write).toMatchObject({ kind: 'mmio', address: 0x10_0000, isWrite: true });
    if (write.kind !== 'mmio') throw new Error('unreachable');
    expect(u32(write.data)).toBe(0xcafe);
    expect(u32(expectIo(vcpu.run(), 'out', 0x20, 4))).toBe(0x600d);
    const read = vcpu.run();
    expect(read).toMatchObject({ kind: 'mmio', address: 0x30_0000, isWrite: false });
    if (read.kind !== 'mmio') throw new Error('unreachable');
    expect(read.data.length).toBe(4);
    read.data.set([0x78, 0x56, 0x34, 0x12]);
    expect(u32(expectIo(vcpu.run(), 'out', 0x21, 4))).toBe(0x1234_5678);
    expect(new DataView(t.file.buffer).getUint32(0x10_0000, true)).toBe(0); // the ROM kept its content
  });

  it('a triple fault is a shutdown exit', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.longModeUd2);
    const sregs = vcpu.getSregs();
    sregs.idt = { base: 0n, limit: 0 };
    vcpu.setSregs(sregs);
    expect(vcpu.run().kind).toBe('shutdown');
  });

  it('an ioeventfd port signals its eventfd instead of exiting', () => {
    const t = tinyVm();
    const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    expect(efd).toBeGreaterThanOrEqual(0);
    try {
      t.vm.registerIoeventfd({ eventfd: efd, space: 'pio', address: 0x30, length: 1 });
      const vcpu = t.addVcpu(TINY_GUESTS.realModeIoeventfd);
      expectIo(vcpu.run(), 'out', 0x31, 1);
      const counter = Buffer.alloc(8);
      expect(fs.readSync(efd, counter)).toBe(8);
      expect(counter.readBigUInt64LE()).toBe(1n);
      t.vm.unregisterIoeventfd({ eventfd: efd, space: 'pio', address: 0x30, length: 1 });
    } finally {
      fs.closeSync(efd);
    }
  });

  it('in-kernel irqchip and PIT: LAPIC state, irqfd, MSI to a disabled LAPIC is not delivered', () => {
    const t = tinyVm({ irqchip: true });
    expect(t.vm.hasIrqchip).toBe(true);
    const vcpu = t.addVcpu(TINY_GUESTS.realModeHltLoop);
    const lapic = vcpu.getLapic();
    expect(lapic.length).toBe(1024);
    vcpu.setLapic(lapic);
    const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    try {
      t.vm.registerIrqfd(efd, 5);
      t.vm.unregisterIrqfd(efd, 5);
    } finally {
      fs.closeSync(efd);
    }
    // The LAPIC is software-disabled until the guest sets SVR: the lost-edge case.
    expect(t.vm.signalMsi({ address: 0xfee0_0000n, data: 0xf3 })).toBe(false);
  });

  it('MSIs reach an enabled LAPIC: KVM_SIGNAL_MSI, and an irqfd routed as MSI with no userspace hop', async () => {
    const t = tinyVm({ irqchip: true });
    const vcpu = t.addVcpu(TINY_GUESTS.realModeHltLoop);
    const APIC_SPIV = 0xf0;
    const APIC_IRR = 0x200;
    const irrBit = (lapic: Uint8Array, vector: number): boolean =>
      ((new DataView(lapic.buffer).getUint32(APIC_IRR + (vector >> 5) * 0x10, true) >>> (vector & 31)) & 1) === 1;
    const lapic = vcpu.getLapic();
    const view = new DataView(lapic.buffer);
    view.setUint32(APIC_SPIV, view.getUint32(APIC_SPIV, true) | 0x100, true); // software-enable
    vcpu.setLapic(lapic);
    expect(t.vm.signalMsi({ address: 0xfee0_0000n, data: 0x40 })).toBe(true);
    expect(irrBit(vcpu.getLapic(), 0x40)).toBe(true);

    const UPCALL_VECTOR = 0xf3;
    t.vm.setGsiRouting([...defaultIrqchipRoutes(), { gsi: 24, kind: 'msi', msi: { address: 0xfee0_0000n, data: UPCALL_VECTOR } }]);
    const efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    try {
      t.vm.registerIrqfd(efd, 24);
      const one = Buffer.alloc(8);
      one.writeBigUInt64LE(1n);
      fs.writeSync(efd, one);
      // irqfd injection runs on a kernel workqueue: poll briefly.
      const end = Date.now() + 2000;
      while (!irrBit(vcpu.getLapic(), UPCALL_VECTOR) && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      expect(irrBit(vcpu.getLapic(), UPCALL_VECTOR)).toBe(true);
      t.vm.unregisterIrqfd(efd, 24);
    } finally {
      fs.closeSync(efd);
    }
  });

  it('VMX set-up calls succeed before the first vCPU (harmless on AMD)', () => {
    const t = tinyVm();
    t.vm.setIdentityMapAddr(0xfeff_c000n);
    t.vm.setTssAddr(0xfeff_d000);
    t.addVcpu(TINY_GUESTS.realModeIo);
    expect(t.vcpus[0]?.run().kind).toBe('io');
  });

  it('errors name the ioctl, errno or capability', () => {
    const t = tinyVm();
    // Overlapping slot: EEXIST from KVM_SET_USER_MEMORY_REGION.
    const overlap = () => t.vm.setUserMemoryRegion({ slot: 3, guestPhysAddr: gpa(0), size: 4096, file: t.file, fileOffset: 0 });
    expect(overlap).toThrow(KvmIoctlError);
    expect(overlap).toThrow(/KVM_SET_USER_MEMORY_REGION failed: EEXIST/);
    expect(() => t.vm.enableCap('KVM_CAP_XEN_HVM')).toThrow(KvmCapabilityError);
    expect(() => t.vm.enableCap('KVM_CAP_XEN_HVM')).toThrow(/KVM_CAP_XEN_HVM/);
    expect(() => t.vm.createPit2()).toThrow(KvmArgumentError);
    expect(() => t.vm.setUserMemoryRegion({ slot: 4, guestPhysAddr: gpa(0x1234), size: 4096, file: t.file, fileOffset: 0 })).toThrow(KvmArgumentError);
  });

  it('a closed vCPU refuses every call instead of touching unmapped memory', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeIo);
    const page = vcpu.runPage;
    vcpu.close();
    expect(() => vcpu.getRegs()).toThrow(KvmClosedError);
    expect(() => page.decodeExit()).toThrow(KvmClosedError);
    expect(() => vcpu.run()).toThrow(KvmClosedError);
  });

  it('KVM_RUN failures become KvmIoctlError; a vCPU run by a thread cannot be run here', () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeIo);
    // kvm_run.kvm_valid_regs with an undefined bit: KVM_RUN fails with EINVAL.
    new DataView(vcpu.runPage.buffer).setBigUint64(KVM_RUN_HEADER.offsetOf('kvm_valid_regs'), 1n << 40n, true);
    expect(() => vcpu.run()).toThrow(/KVM_RUN failed: EINVAL/);
    new DataView(vcpu.runPage.buffer).setBigUint64(KVM_RUN_HEADER.offsetOf('kvm_valid_regs'), 0n, true);
    vcpu.claimForThread('test');
    expect(() => vcpu.run()).toThrow(VcpuStateError);
    expect(() => vcpu.close()).toThrow(VcpuStateError);
    vcpu.releaseFromThread();
    expect(vcpu.run().kind).toBe('io');
  });
});

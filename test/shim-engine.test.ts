// The KVM engine's exit handling without KVM: synthetic exits against a fake vCPU (register state in
// a plain object, counting the ioctls a real vCPU would make) and a real XenDomain over an array.
import { describe, expect, it } from 'vitest';
import type { KvmRegs, KvmSregs, MsiMessage, Translation, VcpuExit, VcpuStateAccess } from '../hypervisor/kvm/index.ts';
import { type Gpa, gpa } from '../hypervisor/memory/guest-memory.ts';
import { ACPI_PM1A_CNT_BLK, ACPI_PM1A_EVT_BLK, ACPI_PM1_CNT_SCI_EN, ACPI_PM1_CNT_SLP_EN, ACPI_RESET_PORT } from '../hypervisor/pvh/acpi.ts';
import { ArrayGuestMemory } from '../hypervisor/memory/testing/array-guest-memory.ts';
import { type GuestFate, XLTS_RUN_EXIT, describeFate, exitStatusForFate } from '../hypervisor/shim/exit-status.ts';
import { InjectionTracker, KvmEngine, PARK_MAX_MS, VcpuParking, kvmUpcallInjector, upcallMsi } from '../hypervisor/shim/kvm-engine.ts';
import { guestCpuid } from '../hypervisor/shim/shim.ts';
import { XEN_HYPERCALL_MSR, XEN_HYPERCALL_PORT, XenDomain } from '../hypervisor/xen/index.ts';
import { XENVER_version, __HYPERVISOR_xen_version } from '../hypervisor/xen/abi.ts';

const MEM = 4 * 1024 * 1024;
const zeroSeg = { base: 0n, limit: 0xffffffff, selector: 0, type: 0, present: 1, dpl: 0, db: 0, s: 1, l: 0, g: 0, avl: 0, unusable: 0 };

class FakeVcpu implements VcpuStateAccess {
  readonly id = 0;
  regs: KvmRegs = { rax: 0n, rbx: 0n, rcx: 0n, rdx: 0n, rsi: 0n, rdi: 0n, rsp: 0n, rbp: 0n, r8: 0n, r9: 0n, r10: 0n, r11: 0n, r12: 0n, r13: 0n, r14: 0n, r15: 0n, rip: 0x1234n, rflags: 2n };
  cpl = 0;
  calls = { getRegs: 0, setRegs: 0, getSregs: 0, translate: 0 };
  failGetRegs = false;
  getRegs(): KvmRegs {
    this.calls.getRegs++;
    if (this.failGetRegs) throw new Error('KVM_GET_REGS: EIO');
    return { ...this.regs };
  }
  setRegs(regs: KvmRegs): void {
    this.calls.setRegs++;
    this.regs = { ...regs };
  }
  getSregs(): KvmSregs {
    this.calls.getSregs++;
    const s = { ...zeroSeg };
    return {
      cs: s, ds: s, es: s, fs: s, gs: s, ss: { ...s, dpl: this.cpl }, tr: s, ldt: s,
      gdt: { base: 0n, limit: 0 }, idt: { base: 0n, limit: 0 },
      cr0: 0n, cr2: 0n, cr3: 0n, cr4: 0n, cr8: 0n, efer: 0n, apic_base: 0n, interrupt_bitmap: [0n, 0n, 0n, 0n],
    };
  }
  setSregs(): void {}
  translate(gva: bigint): Translation {
    this.calls.translate++;
    return gva < BigInt(MEM) ? { valid: true, gpa: gpa(Number(gva)) as Gpa, writeable: true, usermode: false } : { valid: false };
  }
  getMsrs(): never {
    throw new Error('not used');
  }
  setMsrs(): void {}
  getLapic(): Uint8Array {
    return new Uint8Array(1024);
  }
  setLapic(): void {}
}

function setup() {
  const memory = new ArrayGuestMemory([{ base: gpa(0), size: MEM, fileOffset: 0 }]);
  const msis: MsiMessage[] = [];
  const parking = new VcpuParking();
  const injections = new InjectionTracker();
  const fates: GuestFate[] = [];
  const warnings: string[] = [];
  const debug: number[] = [];
  const domain = new XenDomain({
    domid: 1,
    vcpus: 1,
    memory,
    injector: kvmUpcallInjector({ signalMsi: (m) => (msis.push(m), true) }, parking, injections),
    events: { domainEvent: (e) => engine.end({ kind: 'shutdown', reason: e.reason, how: 'test' }) },
    log: { warn: (m) => warnings.push(m) },
  });
  const engine: KvmEngine = new KvmEngine({ domain, memory, parking, injections, debugOutput: (b) => debug.push(...b), onFate: (f) => fates.push(f) });
  const vcpu = new FakeVcpu();
  return { memory, msis, parking, fates, warnings, debug, domain, engine, vcpu };
}

function io(direction: 'in' | 'out', port: number, size: 1 | 2 | 4, value = 0): VcpuExit & { kind: 'io' } {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = (value >>> (8 * i)) & 0xff;
  return { kind: 'io', direction, port, size, count: 1, data };
}

describe('hypercalls through the port exit', () => {
  it('reads registers once, dispatches rax with rdi..r8, writes rax once', async () => {
    const { engine, vcpu } = setup();
    vcpu.regs.rax = BigInt(__HYPERVISOR_xen_version);
    vcpu.regs.rdi = BigInt(XENVER_version);
    expect(await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4, __HYPERVISOR_xen_version), vcpu)).toBe('resume');
    expect(vcpu.regs.rax >> 16n).toBeGreaterThanOrEqual(4n); // major.minor, Xen >= 4
    expect(vcpu.calls).toEqual({ getRegs: 1, setRegs: 1, getSregs: 1, translate: 0 });
    expect(engine.hypercalls).toBe(1);
  });

  it('answers -EPERM to guest user mode (CPL 3 from SS.DPL)', async () => {
    const { engine, vcpu } = setup();
    vcpu.cpl = 3;
    vcpu.regs.rax = BigInt(__HYPERVISOR_xen_version);
    await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu);
    expect(vcpu.regs.rax).toBe(BigInt.asUintN(64, -1n));
  });

  it('answers -ENOSYS to an unknown hypercall and -EFAULT to an unmapped pointer, and keeps running', async () => {
    const { engine, vcpu, fates } = setup();
    vcpu.regs.rax = 0xffff_ffffn;
    await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu);
    expect(vcpu.regs.rax).toBe(BigInt.asUintN(64, -38n));
    vcpu.regs.rax = BigInt(__HYPERVISOR_xen_version);
    vcpu.regs.rdi = 1n; // XENVER_extraversion, writes 16 bytes at rsi
    vcpu.regs.rsi = 0xdead_0000_0000n;
    await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu);
    expect(vcpu.regs.rax).toBe(BigInt.asUintN(64, -14n));
    expect(fates).toEqual([]);
  });

  it('treats a 1-byte write to the hypercall port as no hypercall', async () => {
    const { engine, vcpu, warnings } = setup();
    expect(await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 1), vcpu)).toBe('resume');
    expect(vcpu.calls.getRegs).toBe(0);
    expect(warnings.join('\n')).toMatch(/not a hypercall/);
  });

  it('stops the vCPU on SCHEDOP_shutdown with the reason as the fate', async () => {
    const { engine, vcpu, fates, memory } = setup();
    memory.view(gpa(0x2000), 4).set([1, 0, 0, 0]); // sched_shutdown { reason = reboot }
    vcpu.regs.rax = 29n; // sched_op
    vcpu.regs.rdi = 2n; // SCHEDOP_shutdown
    vcpu.regs.rsi = 0x2000n;
    expect(await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu)).toBe('stop');
    expect(fates).toHaveLength(1);
    expect(fates[0]).toMatchObject({ kind: 'shutdown', reason: 'reboot' });
    expect(exitStatusForFate(fates[0]!)).toBe(XLTS_RUN_EXIT.reboot);
    // Every later exit of any vCPU stops too.
    expect(await engine.handleExit(0, io('in', 0x70, 1), vcpu)).toBe('stop');
  });

  it('parks a polling vCPU for a bounded time', async () => {
    const { engine, vcpu, memory } = setup();
    memory.view(gpa(0x2000), 24).fill(0); // sched_poll { ports = 0, nr_ports = 0, timeout = 0 }
    vcpu.regs.rax = 29n;
    vcpu.regs.rdi = 3n; // SCHEDOP_poll
    vcpu.regs.rsi = 0x2000n;
    const t0 = Date.now();
    expect(await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu)).toBe('resume');
    expect(vcpu.regs.rax).toBe(0n);
    expect(Date.now() - t0).toBeLessThan(PARK_MAX_MS + 500);
  });
});

describe('the hypercall MSR and other MSR exits', () => {
  it('installs the hypercall page on WRMSR and refuses a bad page index with #GP', async () => {
    const { engine, vcpu, memory } = setup();
    let failed = 0;
    const wr = (value: bigint): VcpuExit => ({ kind: 'wrmsr', index: XEN_HYPERCALL_MSR, reason: 'filter', value, fail: () => void failed++ });
    await engine.handleExit(0, wr(0x5000n), vcpu);
    expect(failed).toBe(0);
    expect(engine.hypercallPageAt).toBe(0x5000);
    // Slot 17 (xen_version): mov $17, %eax; out %eax, $0x5e; ret
    expect([...memory.view(gpa(0x5000 + 17 * 32), 8)]).toEqual([0xb8, 17, 0, 0, 0, 0xe7, XEN_HYPERCALL_PORT, 0xc3]);
    await engine.handleExit(0, wr(0x5001n), vcpu);
    await engine.handleExit(0, wr(0x7fff_0000_0000n), vcpu); // not guest RAM
    expect(failed).toBe(2);
  });

  it('answers RDMSR of the hypercall MSR and writes of other MSRs with #GP', async () => {
    const { engine, vcpu } = setup();
    let failed = 0;
    await engine.handleExit(0, { kind: 'rdmsr', index: XEN_HYPERCALL_MSR, reason: 'filter', respond: () => undefined, fail: () => void failed++ }, vcpu);
    await engine.handleExit(0, { kind: 'wrmsr', index: 0x40000300, reason: 'unknown', value: 0n, fail: () => void failed++ }, vcpu);
    expect(failed).toBe(2);
  });
});

describe('platform ports and fatal exits', () => {
  it('reads PM1a_CNT as SCI_EN, PM1a_EVT as 0, unemulated ports as all ones', async () => {
    const { engine, vcpu } = setup();
    const cnt = io('in', ACPI_PM1A_CNT_BLK, 2);
    await engine.handleExit(0, cnt, vcpu);
    expect(cnt.data[0]! | (cnt.data[1]! << 8)).toBe(ACPI_PM1_CNT_SCI_EN);
    const evt = io('in', ACPI_PM1A_EVT_BLK, 4, 0xffffffff);
    await engine.handleExit(0, evt, vcpu);
    expect([...evt.data]).toEqual([0, 0, 0, 0]);
    const serial = io('in', 0x3fd, 1);
    await engine.handleExit(0, serial, vcpu);
    expect(serial.data[0]).toBe(0xff);
  });

  it('keeps the PM1a enable register (ACPI checks its global-lock enable bit reads back); status stays 0', async () => {
    const { engine, vcpu } = setup();
    await engine.handleExit(0, io('out', ACPI_PM1A_EVT_BLK + 2, 2, 0x0120), vcpu); // GBL_EN | PWRBTN_EN
    await engine.handleExit(0, io('out', ACPI_PM1A_EVT_BLK, 2, 0xffff), vcpu); // status: write 1 to clear
    const en = io('in', ACPI_PM1A_EVT_BLK + 2, 2);
    await engine.handleExit(0, en, vcpu);
    expect([...en.data]).toEqual([0x20, 0x01]);
    const whole = io('in', ACPI_PM1A_EVT_BLK, 4);
    await engine.handleExit(0, whole, vcpu);
    expect([...whole.data]).toEqual([0, 0, 0x20, 0x01]);
    await engine.handleExit(0, io('out', ACPI_PM1A_EVT_BLK + 3, 1, 0), vcpu); // high byte alone
    const low = io('in', ACPI_PM1A_EVT_BLK + 2, 2);
    await engine.handleExit(0, low, vcpu);
    expect([...low.data]).toEqual([0x20, 0]);
  });

  it('powers off on an S5 write to PM1a_CNT, whole or by its high byte', async () => {
    for (const [port, size, value] of [
      [ACPI_PM1A_CNT_BLK, 2, ACPI_PM1_CNT_SLP_EN | (5 << 10)],
      [ACPI_PM1A_CNT_BLK + 1, 1, (ACPI_PM1_CNT_SLP_EN | (5 << 10)) >> 8],
    ] as const) {
      const { engine, vcpu, fates } = setup();
      expect(await engine.handleExit(0, io('out', port, size, value), vcpu)).toBe('stop');
      expect(fates[0]).toMatchObject({ kind: 'shutdown', reason: 'poweroff' });
    }
    const { engine, vcpu, fates } = setup();
    expect(await engine.handleExit(0, io('out', ACPI_PM1A_CNT_BLK, 2, ACPI_PM1_CNT_SLP_EN | (3 << 10)), vcpu)).toBe('resume'); // S3: not offered
    expect(fates).toEqual([]);
  });

  it('reboots on the reset register and on the 8042 reset command', async () => {
    for (const [port, value] of [[ACPI_RESET_PORT, 0x06], [0x64, 0xfe]] as const) {
      const { engine, vcpu, fates } = setup();
      expect(await engine.handleExit(0, io('out', port, 1, value), vcpu)).toBe('stop');
      expect(exitStatusForFate(fates[0]!)).toBe(XLTS_RUN_EXIT.reboot);
    }
  });

  it('passes debug-port bytes to the output', async () => {
    const { engine, vcpu, debug } = setup();
    await engine.handleExit(0, io('out', 0xe9, 1, 0x41), vcpu);
    expect(debug).toEqual([0x41]);
  });

  it('calls a triple fault and a KVM internal error a crash, with where it happened', async () => {
    const a = setup();
    expect(await a.engine.handleExit(0, { kind: 'shutdown' }, a.vcpu)).toBe('stop');
    expect(a.fates[0]).toMatchObject({ kind: 'crashed' });
    expect(describeFate(a.fates[0]!)).toMatch(/triple fault.*rip 0x1234/);
    const b = setup();
    await b.engine.handleExit(0, { kind: 'internal_error', suberror: 1, suberrorName: 'KVM_INTERNAL_ERROR_EMULATION', data: [] }, b.vcpu);
    expect(exitStatusForFate(b.fates[0]!)).toBe(XLTS_RUN_EXIT.crash);
    expect(describeFate(b.fates[0]!)).toMatch(/emulator cannot run/);
  });

  it('turns a failure inside the handler into a shim error, not an exception', async () => {
    const { engine, vcpu, fates } = setup();
    vcpu.failGetRegs = true;
    expect(await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu)).toBe('stop');
    expect(fates[0]?.kind).toBe('shim-error');
    expect(exitStatusForFate(fates[0]!)).toBe(XLTS_RUN_EXIT.shimError);
  });
});

describe('upcalls, CPUID and exit statuses', () => {
  it('sends the upcall as a fixed edge MSI to the vCPU\'s APIC', () => {
    expect(upcallMsi(0, 0xf3)).toEqual({ address: 0xfee00000n, data: 0xf3 | (1 << 14) });
    expect(upcallMsi(3, 0xf3).address).toBe(0xfee03000n);
  });

  it('re-injects a pending upcall after an exit (the lost-edge cure)', async () => {
    const { engine, vcpu, msis, domain } = setup();
    domain.delivery.mapSharedInfo(0x10n);
    domain.delivery.setUpcallVector(0, 0xf3);
    await engine.handleExit(0, { kind: 'intr' }, vcpu);
    expect(msis).toEqual([]); // nothing pending, nothing sent
    const port = domain.evtchn.bindIpi(0);
    domain.evtchn.send(port); // sets upcall_pending, injects once (lost, as if the LAPIC were off)
    expect(msis).toHaveLength(1);
    await engine.handleExit(0, { kind: 'intr' }, vcpu);
    await engine.handleExit(0, io('in', 0x3fd, 1), vcpu);
    expect(msis).toHaveLength(3); // again after each exit while upcall_pending stays 1
    expect(msis[2]).toEqual(upcallMsi(0, 0xf3));
  });

  it('sends one MSI, not two, for a hypercall that raises an event for its own vCPU', async () => {
    const { engine, vcpu, msis, domain, memory } = setup();
    domain.delivery.mapSharedInfo(0x10n);
    domain.delivery.setUpcallVector(0, 0xf3);
    const port = domain.evtchn.bindIpi(0);
    memory.view(gpa(0x2000), 4).set([port, 0, 0, 0]); // evtchn_send { port }
    vcpu.regs.rax = 32n; // event_channel_op
    vcpu.regs.rdi = 4n; // EVTCHNOP_send
    vcpu.regs.rsi = 0x2000n;
    await engine.handleExit(0, io('out', XEN_HYPERCALL_PORT, 4), vcpu);
    expect(vcpu.regs.rax).toBe(0n);
    expect(msis).toHaveLength(1);
  });

  it('keeps KVM\'s hypervisor leaves out and the Xen leaves in, with per-vCPU APIC ids', () => {
    const e = (fn: number, ebx = 0) => ({ function: fn, index: 0, flags: 0, eax: 0, ebx, ecx: 0, edx: 0 });
    const xen = [{ function: 0x40000000, index: 0, significantIndex: false, eax: 0x40000004, ebx: 1, ecx: 2, edx: 3 }, { function: 0x40000004, index: 0, significantIndex: true, eax: 0, ebx: 2, ecx: 0, edx: 0 }];
    const out = guestCpuid([e(0), e(1, 0x00aa0800), e(0x40000000, 0x4b4d564b), e(0x40000001)], xen, 2);
    expect(out.filter((x) => x.function >= 0x40000000).map((x) => [x.function, x.ebx, x.flags])).toEqual([
      [0x40000000, 1, 0],
      [0x40000004, 2, 1],
    ]);
    const leaf1 = out.find((x) => x.function === 1)!;
    expect(leaf1.ebx >>> 24).toBe(2);
    expect(leaf1.ebx & 0xffffff).toBe(0xaa0800);
    expect(leaf1.ecx >>> 31).toBe(1);
  });

  it('maps each fate to one documented status', () => {
    const s = (f: GuestFate) => exitStatusForFate(f);
    expect(s({ kind: 'shutdown', reason: 'poweroff', how: '' })).toBe(0);
    expect(s({ kind: 'shutdown', reason: 'reboot', how: '' })).toBe(4);
    expect(s({ kind: 'shutdown', reason: 'crash', how: '' })).toBe(5);
    expect(s({ kind: 'crashed', how: '' })).toBe(5);
    for (const reason of ['suspend', 'watchdog', 'soft_reset'] as const) expect(s({ kind: 'shutdown', reason, how: '' })).toBe(6);
    expect(s({ kind: 'shim-error', error: new Error('x') })).toBe(3);
    expect(s({ kind: 'timeout', seconds: 1 })).toBe(7);
    expect(new Set(Object.values(XLTS_RUN_EXIT)).size).toBe(Object.keys(XLTS_RUN_EXIT).length);
  });
});

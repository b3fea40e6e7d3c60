// vCPU worker threads against this host's /dev/kvm: exits handed to a main-thread handler, pause,
// resume and stop of a spinning or halted vCPU, and how failures surface.
import { afterEach, describe, expect, it } from 'vitest';
import {
  KvmIoctlError,
  VcpuExitHandlerError,
  VcpuStateError,
  VcpuThread,
  VcpuThreadError,
  type VcpuExit,
  type VcpuExitHandler,
  type VcpuThreadTransition,
} from '../hypervisor/kvm/index.ts';
import { KVM_RUN_HEADER } from '../hypervisor/kvm/kvm-structs.ts';
import { REAL_MODE_ENTRY, TINY_GUESTS, TinyVm } from '../hypervisor/kvm/tiny-guests.ts';
import { LEGACY_PORTS_MODULE, legacyPortsConfig } from '../hypervisor/devices/legacy-ports.ts';

let open: TinyVm[] = [];
let threads: VcpuThread[] = [];
function tinyVm(options?: Parameters<typeof TinyVm.create>[0]): TinyVm {
  const t = TinyVm.create(options);
  open.push(t);
  return t;
}
function start(...args: Parameters<typeof VcpuThread.start>): VcpuThread {
  const th = VcpuThread.start(...args);
  threads.push(th);
  return th;
}
afterEach(async () => {
  for (const th of threads) {
    if (th.state !== 'stopped' && th.state !== 'stopping') await th.stop().catch(() => undefined);
    await th.done.catch(() => undefined);
  }
  threads = [];
  for (const t of open) t.close();
  open = [];
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `cond` holds (a spinning guest on this host's emulator runs ~1.5 us/instruction). */
async function eventually(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await sleep(10);
  }
}

describe('VcpuThread', () => {
  it('hands every exit to the main-thread handler and stops when it says so', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeIo);
    const seen: string[] = [];
    const handler: VcpuExitHandler = {
      handleExit(exit, state) {
        expect(state.id).toBe(0);
        seen.push(exit.kind === 'io' ? `${exit.direction} 0x${exit.port.toString(16)} ${[...exit.data].join(',')}` : exit.kind);
        if (exit.kind === 'io' && exit.direction === 'in') exit.data[0] = 0x99;
        return exit.kind === 'hlt' ? 'stop' : 'resume';
      },
    };
    const th = start(vcpu, handler);
    const reason = await th.done;
    expect(reason.kind).toBe('exit');
    if (reason.kind === 'exit') expect(reason.exit.kind).toBe('hlt');
    expect(seen).toEqual(['out 0x10 65', 'out 0x11 52,18', 'in 0x12 0', 'hlt']);
    expect(th.state).toBe('stopped');
    expect(th.exits).toBe(4);
    expect(t.file.bytes()[0x2000]).toBe(0x99);
    vcpu.close(); // released by the thread once done settled
  });

  it('lets the worker answer chosen ports itself (the RTC here) and hands the rest to the main thread', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu({
      mode: 'real',
      asm: ['mov $0x0b, %al', 'out %al, $0x70', 'in $0x71, %al', 'mov %al, 0x2000', 'out %al, $0x10', 'hlt'],
      bytes: [0xb0, 0x0b, 0xe6, 0x70, 0xe4, 0x71, 0xa2, 0x00, 0x20, 0xe6, 0x10, 0xf4],
    });
    const seen: string[] = [];
    const th = start(
      vcpu,
      {
        handleExit(exit) {
          seen.push(exit.kind === 'io' ? `${exit.direction} 0x${exit.port.toString(16)} ${[...exit.data].join(',')}` : exit.kind);
          return exit.kind === 'hlt' ? 'stop' : 'resume';
        },
      },
      { workerPortIo: { module: LEGACY_PORTS_MODULE, config: legacyPortsConfig() } },
    );
    await th.done;
    // Register B of the RTC (24-hour, BCD) came from the worker; the main thread saw only the rest.
    expect(t.file.bytes()[0x2000]).toBe(0x02);
    expect(seen).toEqual(['out 0x10 2', 'hlt']);
    expect(th.exits).toBe(2);
    expect([...th.workerPortIoCounts]).toEqual([
      ['out 0x70', 1],
      ['in 0x71', 1],
    ]);
    vcpu.close();
  });

  it('an async handler answers a hypercall through the registers', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.longModeHypercallStub);
    let result = -1;
    const th = start(vcpu, {
      async handleExit(exit, state) {
        if (exit.kind !== 'io') return 'stop';
        if (exit.port === 0x23) {
          result = new DataView(exit.data.buffer, exit.data.byteOffset).getUint32(0, true);
          return 'stop';
        }
        await sleep(5); // a hypercall that waits for something, without blocking the event loop
        const regs = state.getRegs();
        regs.rax = regs.rdi * regs.rsi;
        state.setRegs(regs);
        return 'resume';
      },
    });
    await th.done;
    expect(result).toBe(0x1111 * 0x2222);
  });

  it('answers MSR exits from the worker', async () => {
    const t = tinyVm();
    t.vm.enableUserSpaceMsr({ filter: true });
    t.vm.setMsrFilter({ defaultAction: 'allow', ranges: [{ base: 0x4000_0200, nmsrs: 1, read: true, write: true }] });
    const vcpu = t.addVcpu(TINY_GUESTS.longModeMsr);
    let written = 0n;
    const outs: number[] = [];
    const th = start(vcpu, {
      handleExit(exit) {
        if (exit.kind === 'wrmsr') written = exit.value;
        else if (exit.kind === 'rdmsr') exit.respond(written + 1n);
        else if (exit.kind === 'io') outs.push(new DataView(exit.data.buffer, exit.data.byteOffset).getUint32(0, true));
        else return 'stop';
        return 'resume';
      },
    });
    await th.done;
    expect(written).toBe(0x5000n);
    expect(outs[0]).toBe(0x5001);
  });

  it('pauses, resumes and stops a spinning vCPU', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeSpin);
    const trace: VcpuThreadTransition[] = [];
    const th = start(vcpu, { handleExit: () => 'stop' }, { onTransition: (tr) => trace.push(tr) });
    await th.ready;
    // Let it count, then pause: the counter must hold still while paused.
    await sleep(300);
    await th.pause();
    expect(th.state).toBe('paused');
    const first = vcpu.getRegs().rax;
    await sleep(100);
    expect(vcpu.getRegs().rax).toBe(first);
    await expect(th.pause()).rejects.toThrow(VcpuStateError);
    th.resume();
    expect(() => th.resume()).toThrow(VcpuStateError);
    await sleep(200);
    await th.pause();
    const second = vcpu.getRegs().rax;
    expect(second).toBeGreaterThan(first);
    th.resume();
    expect(await th.stop()).toEqual({ kind: 'requested' });
    expect(th.state).toBe('stopped');
    expect(th.exits).toBe(0);
    expect(trace.map((tr) => `${tr.event}:${tr.to}`)).toEqual([
      'pause:pausing',
      'paused:paused',
      'resume:running',
      'pause:pausing',
      'paused:paused',
      'resume:running',
      'stop:stopping',
      'finish:stopped',
    ]);
    await expect(th.stop()).rejects.toThrow(/stop is not allowed in state stopped/);
  });

  it('stops a vCPU halted in the in-kernel irqchip (no exit ever reaches userspace)', async () => {
    const t = tinyVm({ irqchip: true });
    const vcpu = t.addVcpu(TINY_GUESTS.realModeHltLoop);
    const th = start(vcpu, { handleExit: () => 'stop' });
    await th.ready;
    await sleep(300);
    expect(await th.stop()).toEqual({ kind: 'requested' });
    expect(th.exits).toBe(0);
    const rip = Number(vcpu.getRegs().rip);
    expect(rip).toBeGreaterThanOrEqual(REAL_MODE_ENTRY);
    expect(rip).toBeLessThan(REAL_MODE_ENTRY + TINY_GUESTS.realModeHltLoop.bytes.length);
  });

  it('started paused, runs no guest instruction before resume', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeSpin);
    const th = start(vcpu, { handleExit: () => 'stop' }, { paused: true });
    expect(th.state).toBe('paused');
    await th.ready;
    await sleep(200);
    expect(vcpu.getRegs().rip).toBe(BigInt(REAL_MODE_ENTRY));
    th.resume();
    await sleep(200);
    await th.pause();
    expect(vcpu.getRegs().rax).toBeGreaterThan(0n);
    await th.stop();
  });

  it('runs one thread per vCPU of a VM, each with its own exits', async () => {
    const t = tinyVm();
    const vcpus = [t.addVcpu(TINY_GUESTS.realModeOutLoop, 0), t.addVcpu(TINY_GUESTS.realModeOutLoop, 1)];
    const counts = [0, 0];
    const handler: VcpuExitHandler = {
      handleExit(exit: VcpuExit, state) {
        if (exit.kind !== 'io' || exit.port !== 0x10) return 'stop';
        counts[state.id] = (counts[state.id] ?? 0) + 1;
        return 'resume';
      },
    };
    const ths = vcpus.map((v) => start(v, handler));
    await Promise.all(ths.map((th) => th.ready));
    await eventually(() => counts.every((c) => c >= 20));
    await Promise.all(ths.map((th) => th.stop()));
    expect(ths.map((th) => th.exits)).toEqual(counts);
  });

  it('a handler that throws stops the vCPU with VcpuExitHandlerError', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeIo);
    const th = start(vcpu, {
      handleExit() {
        throw new RangeError('no device at this port');
      },
    });
    const err: unknown = await th.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VcpuExitHandlerError);
    expect((err as VcpuExitHandlerError).exitKind).toBe('io');
    expect((err as Error).cause).toBeInstanceOf(RangeError);
    expect(th.state).toBe('stopped');
  });

  it('a KVM_RUN failure in the worker surfaces as VcpuThreadError naming the ioctl', async () => {
    const t = tinyVm();
    const vcpu = t.addVcpu(TINY_GUESTS.realModeIo);
    // An undefined kvm_run.kvm_valid_regs bit makes KVM_RUN fail with EINVAL.
    new DataView(vcpu.runPage.buffer).setBigUint64(KVM_RUN_HEADER.offsetOf('kvm_valid_regs'), 1n << 40n, true);
    const th = start(vcpu, { handleExit: () => 'resume' });
    const err: unknown = await th.done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(VcpuThreadError);
    expect((err as Error).message).toMatch(/KVM_RUN failed: EINVAL/);
    expect((err as VcpuThreadError).cause).toMatchObject({ name: new KvmIoctlError('KVM_RUN', 22).name, ioctl: 'KVM_RUN' });
  });
});

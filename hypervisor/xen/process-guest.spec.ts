// A TypeScript guest program that boots the way Linux 6.1 PVH does (linux-pvh-domu.md, section
// 2), through the same dispatcher a KVM vCPU uses, over a real shared-memory file.
import { afterEach, describe, expect, it } from 'vitest';
import { FileGuestMemory, gpa, type GuestMemory } from '../memory/guest-memory.ts';
import { SharedMemoryFile } from '../memory/shared-memory-file.ts';
import {
  CONSOLEIO_write,
  DOMID_SELF,
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_bind_ipi,
  EVTCHNOP_bind_virq,
  EVTCHNOP_close,
  EVTCHNOP_init_control,
  EVTCHNOP_send,
  EVTCHNOP_status,
  EVTCHNOP_unmask,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_virq,
  HVMOP_get_param,
  HVMOP_pagetable_dying,
  HVMOP_set_evtchn_upcall_vector,
  HVMOP_set_param,
  HVM_PARAM_CALLBACK_IRQ,
  HVM_PARAM_CONSOLE_EVTCHN,
  SCHEDOP_shutdown,
  SHUTDOWN_crash,
  SHUTDOWN_poweroff,
  SHUTDOWN_reboot,
  VCPUOP_register_vcpu_info,
  VIRQ_DEBUG,
  XENFEAT_auto_translated_physmap,
  XENMAPSPACE_shared_info,
  XENMEM_add_to_physmap,
  XENVER_extraversion,
  XENVER_get_features,
  XENVER_version,
  __HYPERVISOR_console_io,
  __HYPERVISOR_event_channel_op,
  __HYPERVISOR_hvm_op,
  __HYPERVISOR_memory_op,
  __HYPERVISOR_sched_op,
  __HYPERVISOR_vcpu_op,
  __HYPERVISOR_xen_version,
} from './abi.ts';
import { XEN_EFAULT, XEN_EINVAL, XEN_ENOSYS } from './errors.ts';
import { type FieldMap, type StructLayout, type StructValue } from '../../ring-buffer/layout.ts';
import { ProcessGuest, ProcessVcpuError, type ProcessVcpu } from './process-guest.ts';
import { EngineRecorder, RecordingLog } from './test-support.ts';
import {
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_ipi,
  evtchn_bind_virq,
  evtchn_close,
  evtchn_send,
  evtchn_status,
  evtchn_unmask,
  sched_shutdown,
  vcpu_register_vcpu_info,
  xen_add_to_physmap,
  xen_feature_info,
  xen_hvm_evtchn_upcall_vector,
  xen_hvm_param,
} from './wire.ts';

const PAGES = 256;
const SHINFO_GFN = 0x10;
const VCPU_INFO_GFN = 0x20;
const VCPU_INFO_OFFSET = 0x40;
const SCRATCH = 0x30000; // where the guest builds hypercall argument structs
const UPCALL_VECTOR = 0xf3;

const files: SharedMemoryFile[] = [];
afterEach(() => {
  while (files.length) files.pop()!.close();
});

/**
 * The guest side: a few lines each for what Linux does, reading and writing only its own memory
 * and talking to the hypervisor only through hypercall().
 */
class MiniLinux {
  readonly memory: GuestMemory;
  /** Ports the upcall handler found pending & unmasked, in the order it found them. */
  readonly seen: number[] = [];
  upcalls = 0;

  constructor(
    readonly guest: ProcessGuest,
    readonly cpu: ProcessVcpu,
  ) {
    this.memory = guest.memory;
    cpu.onUpcall = (vector) => this.upcall(vector);
  }

  put<F extends FieldMap>(layout: StructLayout<F>, value: StructValue<F>): bigint {
    this.memory.view(gpa(SCRATCH), layout.size).set(layout.encode(value));
    return BigInt(SCRATCH);
  }

  get<F extends FieldMap>(layout: StructLayout<F>): StructValue<F> {
    return layout.decode(this.memory.view(gpa(SCRATCH), layout.size).slice());
  }

  private words(offset: number, count: number): BigUint64Array {
    const v = this.memory.view(gpa(SHINFO_GFN * 4096 + offset), count * 8);
    return new BigUint64Array(v.buffer, v.byteOffset, count);
  }

  get pending(): BigUint64Array {
    return this.words(0x800, 64);
  }

  get mask(): BigUint64Array {
    return this.words(0xa00, 64);
  }

  /** The registered vcpu_info (upcall_pending byte, pending_sel word). */
  get vcpuInfo(): { bytes: Uint8Array; sel: BigUint64Array } {
    const bytes = this.memory.view(gpa(VCPU_INFO_GFN * 4096 + VCPU_INFO_OFFSET), 64);
    return { bytes, sel: new BigUint64Array(bytes.buffer, bytes.byteOffset + 8, 1) };
  }

  isPending(port: number): boolean {
    return ((this.pending[port >> 6]! >> BigInt(port & 63)) & 1n) === 1n;
  }

  setMask(port: number, on: boolean): void {
    const bit = 1n << BigInt(port & 63);
    this.mask[port >> 6] = on ? this.mask[port >> 6]! | bit : this.mask[port >> 6]! & ~bit;
  }

  /** Linux's 2-level upcall: clear upcall_pending, swap pending_sel, scan pending & ~mask. */
  private upcall(vector: number): void {
    expect(vector).toBe(UPCALL_VECTOR);
    this.upcalls++;
    const vi = this.vcpuInfo;
    do {
      vi.bytes[0] = 0;
      let sel = vi.sel[0]!;
      vi.sel[0] = 0n;
      while (sel !== 0n) {
        const w = 63 - clz64(sel);
        sel &= ~(1n << BigInt(w));
        let bits = this.pending[w]! & ~this.mask[w]!;
        while (bits !== 0n) {
          const b = 63 - clz64(bits);
          bits &= ~(1n << BigInt(b));
          this.pending[w] = this.pending[w]! & ~(1n << BigInt(b));
          this.seen.push(w * 64 + b);
        }
      }
    } while (vi.bytes[0] !== 0);
  }

  xenVersion(cmd: number, arg: bigint = 0n): number {
    return this.cpu.hypercall(__HYPERVISOR_xen_version, cmd, arg);
  }

  evtchn<F extends FieldMap>(cmd: number, layout: StructLayout<F>, value: StructValue<F>): { rc: number; out: StructValue<F> } {
    const rc = this.cpu.hypercall(__HYPERVISOR_event_channel_op, cmd, this.put(layout, value));
    return { rc, out: this.get(layout) };
  }

  status(port: number): StructValue<typeof evtchn_status.fields> {
    const { rc, out } = this.evtchn(EVTCHNOP_status, evtchn_status, { dom: DOMID_SELF, port, status: 0, vcpu: 0, u_word0: 0, u_word1: 0 });
    expect(rc).toBe(0);
    return out;
  }

  send(port: number): number {
    return this.evtchn(EVTCHNOP_send, evtchn_send, { port }).rc;
  }

  unmask(port: number): number {
    return this.evtchn(EVTCHNOP_unmask, evtchn_unmask, { port }).rc;
  }

  shutdown(reason: number): number {
    return this.cpu.hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, this.put(sched_shutdown, { reason }));
  }

  /** xen_hvm_guest_init .. init_IRQ, in order. */
  boot(): void {
    // XENVER_get_features: PVH needs an auto-translated physmap.
    expect(this.xenVersion(XENVER_get_features, this.put(xen_feature_info, { submap_idx: 0, submap: 0 }))).toBe(0);
    expect(this.get(xen_feature_info).submap & (1 << XENFEAT_auto_translated_physmap)).not.toBe(0);
    // shared_info at a RAM page (Linux BUG()s if this fails).
    const atp = this.put(xen_add_to_physmap, { domid: DOMID_SELF, size: 0, space: XENMAPSPACE_shared_info, idx: 0n, gpfn: BigInt(SHINFO_GFN) });
    expect(this.cpu.hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, atp)).toBe(0);
    // Probe, refused: the optimisation is turned off.
    expect(this.cpu.hypercall(__HYPERVISOR_hvm_op, HVMOP_pagetable_dying, 0)).toBe(-XEN_ENOSYS);
    // Banner.
    expect(this.xenVersion(XENVER_version)).toBe(0x40011);
    expect(this.xenVersion(XENVER_extraversion, BigInt(SCRATCH))).toBe(0);
    // smp_prepare_boot_cpu: the per-CPU vcpu_info (panic on failure).
    const rvi = this.put(vcpu_register_vcpu_info, { mfn: BigInt(VCPU_INFO_GFN), offset: VCPU_INFO_OFFSET, rsvd: 0 });
    expect(this.cpu.hypercall(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, 0, rvi)).toBe(0);
    // init_IRQ: FIFO refused -> 2-level; mask every port; per-vCPU vector; fake GSI 1.
    expect(this.cpu.hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_init_control, BigInt(SCRATCH))).toBe(-XEN_ENOSYS);
    this.mask.fill(0xffff_ffff_ffff_ffffn);
    const uv = this.put(xen_hvm_evtchn_upcall_vector, { vcpu: 0, vector: UPCALL_VECTOR });
    expect(this.cpu.hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, uv)).toBe(0);
    const hp = this.put(xen_hvm_param, { domid: DOMID_SELF, pad: 0, index: HVM_PARAM_CALLBACK_IRQ, value: 1n });
    expect(this.cpu.hypercall(__HYPERVISOR_hvm_op, HVMOP_set_param, hp)).toBe(0);
    // The LAPIC comes up; the engine re-injects what was pending (the registration marked all).
    this.cpu.enableInterrupts();
  }

  bindIpi(): number {
    const { rc, out } = this.evtchn(EVTCHNOP_bind_ipi, evtchn_bind_ipi, { vcpu: this.cpu.vcpuId, port: 0 });
    expect(rc).toBe(0);
    return out.port;
  }
}

function memoryFile(): FileGuestMemory {
  const file = SharedMemoryFile.anonymous('xlts-process-guest', PAGES * 4096);
  files.push(file);
  return FileGuestMemory.flat(file);
}

function bootGuest() {
  const engine = new EngineRecorder();
  const log = new RecordingLog();
  const guest = new ProcessGuest({ domid: 7, vcpus: 1, memory: memoryFile(), events: engine, console: engine, log });
  const linux = new MiniLinux(guest, guest.vcpu(0));
  linux.boot();
  return { engine, log, guest, linux };
}

function clz64(x: bigint): number {
  const hi = Number(x >> 32n);
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(Number(x & 0xffff_ffffn));
}

describe('a process guest booting like Linux 6.1 PVH', () => {
  it('boots: the spurious upcall from vcpu_info registration arrives once interrupts are on', () => {
    const { linux, log } = bootGuest();
    expect(linux.upcalls).toBe(1);
    expect(linux.seen).toEqual([]); // everything was masked
    expect(linux.vcpuInfo.bytes[0]).toBe(0);
    // set_evtchn_upcall_vector injected at once, before the LAPIC was on: that edge was lost.
    expect(linux.cpu.droppedInjections).toBe(1);
    expect(log.lines).toEqual([]); // a normal boot logs nothing
  });

  it('binds IPIs and a VIRQ, and an IPI to itself raises the upcall with the vector and the right bits', () => {
    const { linux } = bootGuest();
    const ipis = [linux.bindIpi(), linux.bindIpi(), linux.bindIpi()];
    const { out: virq } = linux.evtchn(EVTCHNOP_bind_virq, evtchn_bind_virq, { virq: VIRQ_DEBUG, vcpu: 0, port: 0 });
    expect(ipis).toEqual([1, 2, 3]);
    expect(virq.port).toBe(4);
    expect(linux.status(ipis[0]!)).toMatchObject({ status: EVTCHNSTAT_ipi, vcpu: 0 });
    expect(linux.status(virq.port)).toMatchObject({ status: EVTCHNSTAT_virq, u_word0: VIRQ_DEBUG });

    const port = ipis[1]!;
    linux.setMask(port, false);
    linux.cpu.disableInterrupts(); // look at the bits before the handler consumes them
    const dropped = linux.cpu.droppedInjections;
    expect(linux.send(port)).toBe(0);
    expect(linux.isPending(port)).toBe(true);
    expect(linux.vcpuInfo.bytes[0]).toBe(1);
    expect(linux.vcpuInfo.sel[0]).toBe(1n); // word 0 holds ports 0..63
    expect(linux.cpu.droppedInjections).toBe(dropped + 1);
    linux.cpu.enableInterrupts(); // the lost edge is re-injected
    expect(linux.seen).toEqual([port]);
    expect(linux.upcalls).toBe(2);
    expect(linux.isPending(port)).toBe(false);

    // Sent with interrupts on: delivered when the hypercall returns.
    linux.send(port);
    expect(linux.seen).toEqual([port, port]);
  });

  it('masked ports stay pending without an upcall; EVTCHNOP_unmask re-raises it', () => {
    const { linux } = bootGuest();
    const port = linux.bindIpi();
    const before = linux.upcalls;
    expect(linux.send(port)).toBe(0); // still masked since init_IRQ
    expect(linux.upcalls).toBe(before);
    expect(linux.isPending(port)).toBe(true);
    expect(linux.unmask(port)).toBe(0);
    expect(linux.upcalls).toBe(before + 1);
    expect(linux.seen).toEqual([port]);
    // Unmasking a port that is not masked any more delivers nothing new.
    expect(linux.unmask(port)).toBe(0);
    expect(linux.upcalls).toBe(before + 1);
  });

  it('alloc_unbound + bind_interdomain to itself makes a loopback channel; close leaves the peer unbound', () => {
    const { linux } = bootGuest();
    const { out: unbound } = linux.evtchn(EVTCHNOP_alloc_unbound, evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: DOMID_SELF, port: 0 });
    const { rc, out: bound } = linux.evtchn(EVTCHNOP_bind_interdomain, evtchn_bind_interdomain, { remote_dom: DOMID_SELF, remote_port: unbound.port, local_port: 0 });
    expect(rc).toBe(0);
    const a = unbound.port;
    const b = bound.local_port;
    expect(linux.status(b)).toMatchObject({ status: EVTCHNSTAT_interdomain, u_word0: 7, u_word1: a });
    expect(linux.unmask(b)).toBe(0); // the bind marked b pending (Xen does): its upcall comes now
    expect(linux.seen).toEqual([b]);
    linux.setMask(a, false);
    expect(linux.send(b)).toBe(0); // b's peer is a
    expect(linux.seen).toEqual([b, a]);
    expect(linux.evtchn(EVTCHNOP_close, evtchn_close, { port: a }).rc).toBe(0);
    expect(linux.status(a).status).toBe(EVTCHNSTAT_closed);
    expect(linux.status(b)).toMatchObject({ status: 1, u_word0: 7 });
    expect(linux.send(a)).toBe(-XEN_EINVAL);
  });

  it('receives events the host raises while the guest program is idle (console-backend style)', async () => {
    const { guest, linux } = bootGuest();
    // The toolstack's work at domain build: a console port left unbound for dom0, then bound by
    // the backend, and advertised through HVM_PARAM_CONSOLE_EVTCHN.
    const port = guest.domain.evtchn.allocUnbound(0);
    const kicks: string[] = [];
    const backend = guest.domain.evtchn.connectHost(port, 0, 1, { notify: () => kicks.push('kick'), closed: () => kicks.push('closed') });
    guest.domain.hvmParams.set(HVM_PARAM_CONSOLE_EVTCHN, BigInt(port));
    const hp = linux.put(xen_hvm_param, { domid: DOMID_SELF, pad: 0, index: HVM_PARAM_CONSOLE_EVTCHN, value: 0n });
    expect(linux.cpu.hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, hp)).toBe(0);
    expect(linux.get(xen_hvm_param).value).toBe(BigInt(port));
    linux.setMask(port, false);
    linux.send(port);
    expect(kicks).toEqual(['kick']);
    expect(backend.raise()).toBe(true);
    expect(linux.seen).toEqual([]); // not in the middle of host code...
    await Promise.resolve();
    expect(linux.seen).toEqual([port]); // ...but at the next boundary
  });

  it('captures console_io output', () => {
    const { linux, engine } = bootGuest();
    const msg = new TextEncoder().encode('[    0.000000] Linux version 6.1.0\n');
    linux.memory.view(gpa(SCRATCH), msg.length).set(msg);
    expect(linux.cpu.hypercall(__HYPERVISOR_console_io, CONSOLEIO_write, msg.length, SCRATCH)).toBe(0);
    expect(engine.text).toBe('[    0.000000] Linux version 6.1.0\n');
  });

  it('gets -EFAULT for bad pointers, -EINVAL for bad ports, -ENOSYS and one log line for unknown ops', () => {
    const { linux, log } = bootGuest();
    const outside = BigInt(PAGES * 4096);
    expect(linux.xenVersion(XENVER_extraversion, outside)).toBe(-XEN_EFAULT);
    expect(linux.xenVersion(XENVER_extraversion, outside - 8n)).toBe(-XEN_EFAULT); // straddles the end
    expect(linux.cpu.hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, 1n << 62n)).toBe(-XEN_EFAULT);
    expect(linux.send(0)).toBe(-XEN_EINVAL);
    expect(linux.send(4095)).toBe(-XEN_EINVAL);
    expect(linux.send(0xffff_ffff)).toBe(-XEN_EINVAL);
    expect(linux.unmask(999)).toBe(-XEN_EINVAL);
    const lines = log.lines.length;
    expect(linux.cpu.hypercall(63)).toBe(-XEN_ENOSYS);
    expect(linux.cpu.hypercall(63)).toBe(-XEN_ENOSYS);
    expect(log.lines.slice(lines)).toEqual(['dom7 vcpu0: hypercall 63 is not implemented, returning -ENOSYS']);
    // Still alive and well.
    expect(linux.xenVersion(XENVER_version)).toBe(0x40011);
  });

  it.each([
    [SHUTDOWN_poweroff, 'poweroff'],
    [SHUTDOWN_reboot, 'reboot'],
    [SHUTDOWN_crash, 'crash'],
  ] as const)('SCHEDOP_shutdown(%i) is reported as a %s domain event and stops the vCPU', (code, reason) => {
    const { linux, engine } = bootGuest();
    expect(linux.shutdown(code)).toBe(0);
    expect(engine.events).toEqual([{ kind: 'shutdown', reason, vcpuId: 0 }]);
    expect(linux.cpu.lastDirective).toEqual({ kind: 'shutdown', reason });
    expect(linux.cpu.isStopped).toBe(true);
    expect(() => linux.xenVersion(XENVER_version)).toThrow(ProcessVcpuError);
  });
});

describe('ProcessVcpu', () => {
  it('coalesces repeated injections of one vector and does not nest handlers', () => {
    const guest = new ProcessGuest({ domid: 1, vcpus: 1, memory: memoryFile(), events: new EngineRecorder(), log: new RecordingLog() });
    const cpu = guest.vcpu(0);
    const calls: number[] = [];
    cpu.onUpcall = (v) => {
      calls.push(v);
      if (calls.length === 1) {
        cpu.raise(0x40); // arrives during the handler: after it
        cpu.raise(0x40);
        expect(calls).toEqual([0x30]);
      }
    };
    cpu.enableInterrupts();
    cpu.raise(0x30);
    cpu.deliver();
    expect(calls).toEqual([0x30, 0x40]);
    expect(() => guest.vcpu(1)).toThrow(ProcessVcpuError);
    expect(() => cpu.hypercall(17, 1, 2, 3, 4, 5, 6)).toThrow(ProcessVcpuError);
  });
});

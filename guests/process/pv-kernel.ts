// The kernel of a process guest: what Linux's Xen code does at boot and on every upcall, in a
// few lines of TypeScript, for built-in guest programs (guests/process/programs/). It talks to
// the hypervisor only through its vCPU's hypercall() and reads and writes only its own memory.
//
// Boot, in Linux's order: shared_info placed at a RAM page (XENMEM_add_to_physmap), vcpu_info
// registered, every port masked, the per-vCPU upcall vector set, interrupts on. The upcall is the
// 2-level scan (clear upcall_pending, swap pending_sel, take pending & ~mask, clear each bit) and
// calls the handler bound to each port. Ports are unmasked when a handler is bound.
import { gpa, type GuestMemory } from '../../hypervisor/memory/guest-memory.ts';
import type { StructLayout, FieldMap, StructValue } from '../../ring-buffer/layout.ts';
import {
  DOMID_SELF,
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_send,
  EVTCHNOP_unmask,
  HVMOP_get_param,
  HVMOP_set_evtchn_upcall_vector,
  SCHEDOP_shutdown,
  VCPUOP_register_vcpu_info,
  XENMAPSPACE_shared_info,
  XENMEM_add_to_physmap,
  __HYPERVISOR_event_channel_op,
  __HYPERVISOR_hvm_op,
  __HYPERVISOR_memory_op,
  __HYPERVISOR_sched_op,
  __HYPERVISOR_vcpu_op,
  type ProcessVcpu,
} from '../../hypervisor/xen/index.ts';
import { evtchn_alloc_unbound, evtchn_send, evtchn_unmask, sched_shutdown, vcpu_register_vcpu_info, xen_add_to_physmap, xen_hvm_evtchn_upcall_vector, xen_hvm_param } from '../../hypervisor/xen/wire.ts';
import { SHUTDOWN_CODES, type ShutdownReason } from '../../hypervisor/xen/domain-events.ts';

/** Where the kernel keeps its pages (guest frame numbers in its own RAM). */
export interface PvKernelLayout {
  readonly sharedInfoPfn: number;
  readonly vcpuInfoPfn: number;
  /** A page for building hypercall argument structs. */
  readonly scratchPfn: number;
}

export const UPCALL_VECTOR = 0xf3;
const SHARED_INFO_PENDING = 0x800;
const SHARED_INFO_MASK = 0xa00;
const WORDS = 64;

/** A hypercall the kernel needs failed: a process guest cannot go on without it. */
export class PvKernelError extends Error {
  override readonly name = 'PvKernelError';
}

export class PvKernel {
  private readonly handlers = new Map<number, () => void>();
  private readonly scratch: number;

  constructor(
    private readonly cpu: ProcessVcpu,
    private readonly memory: GuestMemory,
    private readonly layout: PvKernelLayout,
  ) {
    this.scratch = layout.scratchPfn * 4096;
  }

  private put<F extends FieldMap>(l: StructLayout<F>, value: StructValue<F>): bigint {
    this.memory.view(gpa(this.scratch), l.size).set(l.encode(value));
    return BigInt(this.scratch);
  }

  private get<F extends FieldMap>(l: StructLayout<F>): StructValue<F> {
    return l.decode(this.memory.view(gpa(this.scratch), l.size).slice());
  }

  private must(what: string, rc: number): void {
    if (rc !== 0) throw new PvKernelError(`${what} failed: ${rc}`);
  }

  private words(offset: number): BigUint64Array {
    const v = this.memory.view(gpa(this.layout.sharedInfoPfn * 4096 + offset), WORDS * 8);
    return new BigUint64Array(v.buffer, v.byteOffset, WORDS);
  }

  boot(): void {
    const atp = this.put(xen_add_to_physmap, { domid: DOMID_SELF, size: 0, space: XENMAPSPACE_shared_info, idx: 0n, gpfn: BigInt(this.layout.sharedInfoPfn) });
    this.must('XENMEM_add_to_physmap(shared_info)', this.cpu.hypercall(__HYPERVISOR_memory_op, XENMEM_add_to_physmap, atp));
    const rvi = this.put(vcpu_register_vcpu_info, { mfn: BigInt(this.layout.vcpuInfoPfn), offset: 0, rsvd: 0 });
    this.must('VCPUOP_register_vcpu_info', this.cpu.hypercall(__HYPERVISOR_vcpu_op, VCPUOP_register_vcpu_info, this.cpu.vcpuId, rvi));
    this.words(SHARED_INFO_MASK).fill(0xffff_ffff_ffff_ffffn);
    const uv = this.put(xen_hvm_evtchn_upcall_vector, { vcpu: this.cpu.vcpuId, vector: UPCALL_VECTOR });
    this.must('HVMOP_set_evtchn_upcall_vector', this.cpu.hypercall(__HYPERVISOR_hvm_op, HVMOP_set_evtchn_upcall_vector, uv));
    this.cpu.onUpcall = () => this.upcall();
    this.cpu.enableInterrupts();
  }

  /** HVMOP_get_param for our own domain. */
  hvmParam(index: number): bigint {
    const p = this.put(xen_hvm_param, { domid: DOMID_SELF, pad: 0, index, value: 0n });
    this.must(`HVMOP_get_param(${index})`, this.cpu.hypercall(__HYPERVISOR_hvm_op, HVMOP_get_param, p));
    return this.get(xen_hvm_param).value;
  }

  /** Calls `handler` whenever `port` fires; unmasks it. */
  bind(port: number, handler: () => void): void {
    this.handlers.set(port, handler);
    this.must(`EVTCHNOP_unmask(${port})`, this.cpu.hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_unmask, this.put(evtchn_unmask, { port })));
  }

  /** EVTCHNOP_alloc_unbound: a port of ours that `remoteDom` may bind (a frontend's channel). */
  allocUnbound(remoteDom: number): number {
    const arg = this.put(evtchn_alloc_unbound, { dom: DOMID_SELF, remote_dom: remoteDom, port: 0 });
    this.must(`EVTCHNOP_alloc_unbound(${remoteDom})`, this.cpu.hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_alloc_unbound, arg));
    return this.get(evtchn_alloc_unbound).port;
  }

  send(port: number): void {
    this.must(`EVTCHNOP_send(${port})`, this.cpu.hypercall(__HYPERVISOR_event_channel_op, EVTCHNOP_send, this.put(evtchn_send, { port })));
  }

  /** SCHEDOP_shutdown: the vCPU stops; the shim reports the domain's fate. */
  shutdown(reason: ShutdownReason): void {
    this.cpu.hypercall(__HYPERVISOR_sched_op, SCHEDOP_shutdown, this.put(sched_shutdown, { reason: SHUTDOWN_CODES[reason] }));
  }

  private upcall(): void {
    const vi = this.memory.view(gpa(this.layout.vcpuInfoPfn * 4096), 16);
    const sel = new BigUint64Array(vi.buffer, vi.byteOffset + 8, 1);
    const pending = this.words(SHARED_INFO_PENDING);
    const mask = this.words(SHARED_INFO_MASK);
    const fired: number[] = [];
    do {
      Atomics.store(vi, 0, 0);
      let s = Atomics.exchange(sel, 0, 0n);
      while (s !== 0n) {
        const w = 63 - clz64(s);
        s &= ~(1n << BigInt(w));
        let bits = Atomics.load(pending, w) & ~Atomics.load(mask, w);
        while (bits !== 0n) {
          const b = 63 - clz64(bits);
          bits &= ~(1n << BigInt(b));
          Atomics.and(pending, w, ~(1n << BigInt(b)));
          fired.push(w * 64 + b);
        }
      }
    } while (Atomics.load(vi, 0) !== 0);
    for (const port of fired) this.handlers.get(port)?.();
  }
}

function clz64(x: bigint): number {
  let n = 0;
  for (let bit = 63n; bit >= 0n && ((x >> bit) & 1n) === 0n; bit--) n++;
  return n;
}

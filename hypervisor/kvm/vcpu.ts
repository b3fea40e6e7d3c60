// A KVM vCPU file descriptor (rust-vmm's `VcpuFd`): register state, CPUID, MSRs, address
// translation, and KVM_RUN with its mmap'd kvm_run page.
//
// File descriptors are process-wide, so one vCPU fd is used from two threads: the vCPU worker
// runs it (it maps kvm_run itself, via Vcpu.borrow) and the main thread decodes and answers its
// exits and reads or writes its registers while the worker waits. KVM serialises vCPU ioctls on
// the vCPU's mutex, so a register ioctl from the main thread while the worker is inside KVM_RUN
// would block until the run returns; the threading protocol (vcpu-thread.ts) only issues them
// while the worker is parked.
import { constants as osConstants } from 'node:os';
import { type Gpa, gpa } from '../memory/guest-memory.ts';
import { mapShared, munmap, close as closeFd } from '../native/libc.ts';
import { KvmArgumentError, KvmClosedError, KvmIoctlError, KvmMsrAccessError, VcpuStateError } from './errors.ts';
import { kvmIoctl, kvmIoctlRaw } from './ioctl.ts';
import { KVM_IOCTLS } from './kvm-ioctls.ts';
import {
  KVM_CPUID2,
  KVM_CPUID_ENTRY2,
  KVM_LAPIC_STATE_SIZE,
  KVM_MP_STATE,
  KVM_MSRS,
  KVM_MSR_ENTRY,
  KVM_REGS,
  KVM_SEGMENT,
  KVM_SREGS,
  KVM_TRANSLATION,
} from './kvm-structs.ts';
import type { StructValue } from '../../ring-buffer/layout.ts';
import { KvmRunPage, type VcpuExit, intrExit } from './vcpu-exit.ts';

export type KvmRegs = StructValue<(typeof KVM_REGS)['fields']>;
export type KvmSregs = StructValue<(typeof KVM_SREGS)['fields']>;
export type KvmSegment = StructValue<(typeof KVM_SEGMENT)['fields']>;
export type CpuidEntry = StructValue<(typeof KVM_CPUID_ENTRY2)['fields']>;

/** KVM_TRANSLATE's answer for one guest-virtual address, under the vCPU's current paging mode. */
export type Translation =
  | { readonly valid: true; readonly gpa: Gpa; readonly writeable: boolean; readonly usermode: boolean }
  | { readonly valid: false };

export interface MsrValue {
  readonly index: number;
  readonly value: bigint;
}

/** What an exit handler may do to a vCPU: read and change its state, never run it. */
export interface VcpuStateAccess {
  readonly id: number;
  getRegs(): KvmRegs;
  setRegs(regs: KvmRegs): void;
  getSregs(): KvmSregs;
  setSregs(sregs: KvmSregs): void;
  translate(gva: bigint): Translation;
  getMsrs(indices: readonly number[]): MsrValue[];
  setMsrs(msrs: readonly MsrValue[]): void;
  getLapic(): Uint8Array;
  setLapic(state: Uint8Array): void;
}

const EINTR = osConstants.errno.EINTR;
const EAGAIN = osConstants.errno.EAGAIN;

export class Vcpu implements VcpuStateAccess {
  private closed = false;
  /** Set while a VcpuThread runs this vCPU: this object must then neither run nor close it. */
  private threadRunner: string | null = null;
  /** The kvm_run page (plus the PIO data page behind it) as this thread maps it. */
  readonly runPage: KvmRunPage;

  private constructor(
    readonly fd: number,
    readonly id: number,
    private readonly ownsFd: boolean,
    private readonly runPtr: bigint,
    private readonly mmapSize: number,
    buffer: ArrayBuffer,
  ) {
    this.runPage = new KvmRunPage(buffer);
  }

  /** Wraps a vCPU fd this object owns and will close (Vm.createVcpu). */
  static own(fd: number, id: number, mmapSize: number): Vcpu {
    try {
      const { ptr, buffer } = mapShared('mmap(kvm_run)', fd, mmapSize);
      return new Vcpu(fd, id, true, ptr, mmapSize, buffer);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  /**
   * Wraps a vCPU fd owned by someone else (the vCPU worker borrows the main thread's fd): maps
   * its own kvm_run, and close() unmaps it but leaves the fd open.
   */
  static borrow(fd: number, id: number, mmapSize: number): Vcpu {
    const { ptr, buffer } = mapShared('mmap(kvm_run)', fd, mmapSize);
    return new Vcpu(fd, id, false, ptr, mmapSize, buffer);
  }

  private liveFd(): number {
    if (this.closed) throw new KvmClosedError(`vCPU ${this.id}`);
    return this.fd;
  }

  /** Marks this vCPU as run by a worker thread (VcpuThread), until released. */
  claimForThread(name: string): void {
    if (this.closed) throw new KvmClosedError(`vCPU ${this.id}`);
    if (this.threadRunner !== null) throw new VcpuStateError(this.id, `run by ${this.threadRunner}`, `start ${name}`);
    this.threadRunner = name;
  }

  releaseFromThread(): void {
    this.threadRunner = null;
  }

  getRegs(): KvmRegs {
    const buf = new Uint8Array(KVM_REGS.size);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_REGS, buf);
    return KVM_REGS.decode(buf);
  }

  setRegs(regs: KvmRegs): void {
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_REGS, KVM_REGS.encode(regs));
  }

  getSregs(): KvmSregs {
    const buf = new Uint8Array(KVM_SREGS.size);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_SREGS, buf);
    return KVM_SREGS.decode(buf);
  }

  setSregs(sregs: KvmSregs): void {
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_SREGS, KVM_SREGS.encode(sregs));
  }

  /** KVM_SET_CPUID2: the CPUID leaves this vCPU's guest sees; before its first KVM_RUN. */
  setCpuid2(entries: readonly CpuidEntry[]): void {
    const buf = new Uint8Array(KVM_CPUID2.size + entries.length * KVM_CPUID_ENTRY2.size);
    KVM_CPUID2.encode({ nent: entries.length }, buf);
    entries.forEach((e, i) => KVM_CPUID_ENTRY2.encode(e, buf, KVM_CPUID2.size + i * KVM_CPUID_ENTRY2.size));
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_CPUID2, buf, `${entries.length} entries`);
  }

  /** KVM_GET_CPUID2: the leaves set with setCpuid2 (as KVM adjusted them). */
  getCpuid2(capacity = 256): CpuidEntry[] {
    const buf = new Uint8Array(KVM_CPUID2.size + capacity * KVM_CPUID_ENTRY2.size);
    KVM_CPUID2.encode({ nent: capacity }, buf);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_CPUID2, buf);
    const { nent } = KVM_CPUID2.decode(buf);
    return Array.from({ length: Math.min(nent, capacity) }, (_, i) => KVM_CPUID_ENTRY2.decode(buf, KVM_CPUID2.size + i * KVM_CPUID_ENTRY2.size));
  }

  /** KVM_GET_MSRS. KVM stops at the first MSR it refuses; that one is named in the error. */
  getMsrs(indices: readonly number[]): MsrValue[] {
    const buf = encodeMsrs(indices.map((index) => ({ index, value: 0n })));
    const done = kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_MSRS, buf);
    if (done < indices.length) throw new KvmMsrAccessError('KVM_GET_MSRS', indices[done] ?? -1);
    return indices.map((index, i) => ({ index, value: KVM_MSR_ENTRY.decode(buf, KVM_MSRS.size + i * KVM_MSR_ENTRY.size).data }));
  }

  setMsrs(msrs: readonly MsrValue[]): void {
    const done = kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_MSRS, encodeMsrs(msrs));
    if (done < msrs.length) throw new KvmMsrAccessError('KVM_SET_MSRS', msrs[done]?.index ?? -1);
  }

  /**
   * KVM_TRANSLATE: walks the guest's page tables for a guest-virtual address, as the vCPU would
   * now. Hypercall arguments are guest-virtual pointers, translated page by page through this.
   */
  translate(gva: bigint): Translation {
    if (gva < 0n || gva > 0xffff_ffff_ffff_ffffn) throw new KvmArgumentError(`guest-virtual address ${gva} is not a u64`);
    const buf = KVM_TRANSLATION.encode({ linear_address: gva, physical_address: 0n, valid: 0, writeable: 0, usermode: 0 });
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_TRANSLATE, buf);
    const t = KVM_TRANSLATION.decode(buf);
    if (!t.valid) return { valid: false };
    return { valid: true, gpa: gpa(Number(t.physical_address)), writeable: t.writeable !== 0, usermode: t.usermode !== 0 };
  }

  /** KVM_GET_LAPIC: the 1 KiB local-APIC register page (in-kernel irqchip only). */
  getLapic(): Uint8Array {
    const buf = new Uint8Array(KVM_LAPIC_STATE_SIZE);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_LAPIC, buf);
    return buf;
  }

  setLapic(state: Uint8Array): void {
    if (state.length !== KVM_LAPIC_STATE_SIZE) throw new KvmArgumentError(`LAPIC state is ${KVM_LAPIC_STATE_SIZE} bytes, got ${state.length}`);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_LAPIC, state);
  }

  getMpState(): number {
    const buf = new Uint8Array(KVM_MP_STATE.size);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_GET_MP_STATE, buf);
    return KVM_MP_STATE.decode(buf).mp_state;
  }

  setMpState(state: number): void {
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_MP_STATE, KVM_MP_STATE.encode({ mp_state: state }));
  }

  /**
   * One KVM_RUN, blocking this thread until the guest exits. Returns 'intr' for EINTR (a kick
   * signal or immediate_exit) and for EAGAIN (an AP that was waiting for INIT/SIPI in the in-kernel
   * LAPIC got them: KVM returns to let us look, and the next KVM_RUN starts it), 'exit' when
   * kvm_run holds an exit. Any other failure throws.
   */
  enter(): 'exit' | 'intr' {
    if (this.threadRunner !== null) throw new VcpuStateError(this.id, `run by ${this.threadRunner}`, 'KVM_RUN on this thread');
    const ret = kvmIoctlRaw(this.liveFd(), KVM_IOCTLS.KVM_RUN, 0);
    if (ret >= 0) return 'exit';
    if (-ret === EINTR || -ret === EAGAIN) return 'intr';
    throw new KvmIoctlError('KVM_RUN', -ret, `vcpu ${this.id}`);
  }

  /** KVM_RUN on the calling thread and the decoded exit (single-threaded use: tests, tools). */
  run(): VcpuExit {
    return this.enter() === 'intr' ? intrExit() : this.runPage.decodeExit();
  }

  /** Unmaps kvm_run and, if this object owns it, closes the fd. */
  close(): void {
    if (this.closed) return;
    if (this.threadRunner !== null) throw new VcpuStateError(this.id, `run by ${this.threadRunner}`, 'close (stop the thread first)');
    this.closed = true;
    this.runPage.unmapped();
    munmap(this.runPtr, this.mmapSize);
    if (this.ownsFd) closeFd(this.fd);
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

function encodeMsrs(msrs: readonly MsrValue[]): Uint8Array {
  const buf = new Uint8Array(KVM_MSRS.size + msrs.length * KVM_MSR_ENTRY.size);
  KVM_MSRS.encode({ nmsrs: msrs.length }, buf);
  msrs.forEach((m, i) => {
    if (!Number.isInteger(m.index) || m.index < 0 || m.index > 0xffff_ffff) throw new KvmArgumentError(`MSR index ${m.index} is not a u32`);
    KVM_MSR_ENTRY.encode({ index: m.index, data: BigInt.asUintN(64, m.value) }, buf, KVM_MSRS.size + i * KVM_MSR_ENTRY.size);
  });
  return buf;
}

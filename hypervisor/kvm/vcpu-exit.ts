// What KVM_RUN returned, as a closed union, decoded from a vCPU's kvm_run page (rust-vmm's
// VcpuExit). Exits that take an answer carry it as live memory or a completion method bound to
// the page: port-I/O IN data and MMIO read data are written into `data`, an MSR exit is answered
// with respond()/fail(). The answer is consumed by the next KVM_RUN on that vCPU, so it must be
// given before the vCPU runs again; the objects are dead after that. The `data` views point into
// the kvm_run mapping: never keep one past the exit (copy it), and never touch one after the vCPU
// is closed (the completion methods check; a raw view cannot).
import { type Gpa, gpa } from '../memory/guest-memory.ts';
import { KvmClosedError, KvmError } from './errors.ts';
import {
  KVM_EXIT,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_INTERNAL_ERROR,
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_SYSTEM_EVENT,
  exitReasonName,
} from './kvm-ioctls.ts';
import {
  KVM_RUN_EXIT_UNION_OFFSET,
  KVM_RUN_FAIL_ENTRY,
  KVM_RUN_HEADER,
  KVM_RUN_HW,
  KVM_RUN_HYPERCALL,
  KVM_RUN_INTERNAL,
  KVM_RUN_IO,
  KVM_RUN_MMIO,
  KVM_RUN_MSR,
  KVM_RUN_SYSTEM_EVENT,
} from './kvm-structs.ts';

/** Why KVM handed an MSR access to userspace (the KVM_MSR_EXIT_REASON_* bit it reported). */
export type MsrExitReason = 'filter' | 'unknown' | 'inval';

export type SystemEventType = 'shutdown' | 'reset' | 'crash' | 'wakeup' | 'suspend' | 'sev_term' | 'unknown';

export interface IoExit {
  readonly kind: 'io';
  readonly direction: 'in' | 'out';
  readonly port: number;
  /** Bytes per access: 1, 2 or 4. */
  readonly size: 1 | 2 | 4;
  /** Accesses in this exit (>1 only for rep ins/outs). */
  readonly count: number;
  /** size*count bytes inside the kvm_run mapping: read it for OUT, fill it for IN. */
  readonly data: Uint8Array;
}

export interface MmioExit {
  readonly kind: 'mmio';
  readonly address: Gpa;
  readonly isWrite: boolean;
  /** 1..8 bytes inside the kvm_run mapping: read it for a write, fill it for a read. */
  readonly data: Uint8Array;
}

export interface RdmsrExit {
  readonly kind: 'rdmsr';
  readonly index: number;
  readonly reason: MsrExitReason;
  /** The guest's RDMSR returns `value`. */
  respond(value: bigint): void;
  /** The guest's RDMSR takes a #GP. */
  fail(): void;
}

export interface WrmsrExit {
  readonly kind: 'wrmsr';
  readonly index: number;
  readonly reason: MsrExitReason;
  readonly value: bigint;
  /** The guest's WRMSR takes a #GP (leaving it alone accepts the write). */
  fail(): void;
}

/** KVM_EXIT_HYPERCALL: only with KVM_CAP_EXIT_HYPERCALL enabled (KVM_HC_MAP_GPA_RANGE). */
export interface HypercallExit {
  readonly kind: 'hypercall';
  readonly nr: bigint;
  readonly args: readonly bigint[];
  readonly longmode: boolean;
  setResult(ret: bigint): void;
}

export interface HltExit {
  readonly kind: 'hlt';
}

/** Triple fault (KVM_EXIT_SHUTDOWN): the guest must be reset or destroyed. */
export interface ShutdownExit {
  readonly kind: 'shutdown';
}

export interface SystemEventExit {
  readonly kind: 'system_event';
  readonly type: SystemEventType;
  readonly typeCode: number;
  readonly data: readonly bigint[];
}

export interface InternalErrorExit {
  readonly kind: 'internal_error';
  readonly suberror: number;
  readonly suberrorName: string;
  readonly data: readonly bigint[];
}

export interface FailEntryExit {
  readonly kind: 'fail_entry';
  readonly hardwareEntryFailureReason: bigint;
  readonly cpu: number;
}

/** KVM_RUN returned EINTR: a signal (a kick) or kvm_run.immediate_exit. */
export interface IntrExit {
  readonly kind: 'intr';
}

export interface UnknownExit {
  readonly kind: 'unknown';
  readonly exitReason: number;
  readonly exitReasonName: string;
  /** kvm_run.hw.hardware_exit_reason, meaningful for KVM_EXIT_UNKNOWN only. */
  readonly hardwareExitReason: bigint;
}

export type VcpuExit =
  | IoExit
  | MmioExit
  | RdmsrExit
  | WrmsrExit
  | HypercallExit
  | HltExit
  | ShutdownExit
  | SystemEventExit
  | InternalErrorExit
  | FailEntryExit
  | IntrExit
  | UnknownExit;

export type VcpuExitKind = VcpuExit['kind'];

/** kvm_run reported something no well-behaved kernel reports (data outside the mapping, ...). */
export class KvmRunCorruptError extends KvmError {
  constructor(message: string) {
    super(`kvm_run page: ${message}`);
    this.name = 'KvmRunCorruptError';
  }
}

const INTR: IntrExit = Object.freeze({ kind: 'intr' });
const HLT: HltExit = Object.freeze({ kind: 'hlt' });
const SHUTDOWN: ShutdownExit = Object.freeze({ kind: 'shutdown' });

/**
 * A view of one vCPU's kvm_run mapping. Each thread that touches a vCPU maps the page itself (the
 * worker runs the vCPU, the main thread decodes and answers its exits); both see the same page.
 */
export class KvmRunPage {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private mapped = true;

  /** `buffer` views the mapping; the owner calls unmapped() before it unmaps, after which every access throws. */
  constructor(readonly buffer: ArrayBuffer) {
    if (buffer.byteLength < KVM_RUN_HEADER.size) {
      throw new KvmRunCorruptError(`mapping of ${buffer.byteLength} bytes is smaller than struct kvm_run`);
    }
    this.view = new DataView(buffer);
    this.bytes = new Uint8Array(buffer);
  }

  /** Called by the owner just before munmap: touching an unmapped page would crash the process. */
  unmapped(): void {
    this.mapped = false;
  }

  private live(): DataView {
    if (!this.mapped) throw new KvmClosedError('kvm_run page');
    return this.view;
  }

  get exitReason(): number {
    return this.live().getUint32(KVM_RUN_HEADER.offsetOf('exit_reason'), true);
  }

  get immediateExit(): boolean {
    return this.live().getUint8(KVM_RUN_HEADER.offsetOf('immediate_exit')) !== 0;
  }

  set immediateExit(on: boolean) {
    this.live().setUint8(KVM_RUN_HEADER.offsetOf('immediate_exit'), on ? 1 : 0);
  }

  /** kvm_run.if_flag: the guest's RFLAGS.IF at the exit. */
  get ifFlag(): boolean {
    return this.live().getUint8(KVM_RUN_HEADER.offsetOf('if_flag')) !== 0;
  }

  /**
   * Decodes the exit KVM_RUN last reported (the caller already knows whether it was EINTR).
   * Data views and completion methods of the result are only valid until the vCPU is closed.
   */
  decodeExit(): VcpuExit {
    const reason = this.exitReason;
    const u = KVM_RUN_EXIT_UNION_OFFSET;
    switch (reason) {
      case KVM_EXIT.KVM_EXIT_IO: {
        const io = KVM_RUN_IO.decode(this.view, u);
        if (io.direction !== KVM_EXIT_IO_IN && io.direction !== KVM_EXIT_IO_OUT) {
          throw new KvmRunCorruptError(`io.direction ${io.direction}`);
        }
        if (io.size !== 1 && io.size !== 2 && io.size !== 4) throw new KvmRunCorruptError(`io.size ${io.size}`);
        const length = io.size * io.count;
        const offset = Number(io.data_offset);
        if (io.count < 1 || offset < KVM_RUN_HEADER.size || offset + length > this.buffer.byteLength) {
          throw new KvmRunCorruptError(`io data ${io.data_offset}+${length} outside the ${this.buffer.byteLength}-byte mapping`);
        }
        return {
          kind: 'io',
          direction: io.direction === KVM_EXIT_IO_IN ? 'in' : 'out',
          port: io.port,
          size: io.size,
          count: io.count,
          data: this.bytes.subarray(offset, offset + length),
        };
      }
      case KVM_EXIT.KVM_EXIT_MMIO: {
        const m = KVM_RUN_MMIO.decode(this.view, u);
        if (m.len < 1 || m.len > 8) throw new KvmRunCorruptError(`mmio.len ${m.len}`);
        const dataAt = u + KVM_RUN_MMIO.offsetOf('data');
        return {
          kind: 'mmio',
          address: gpa(Number(m.phys_addr)),
          isWrite: m.is_write !== 0,
          data: this.bytes.subarray(dataAt, dataAt + m.len),
        };
      }
      case KVM_EXIT.KVM_EXIT_X86_RDMSR:
      case KVM_EXIT.KVM_EXIT_X86_WRMSR: {
        const m = KVM_RUN_MSR.decode(this.view, u);
        const errorAt = u + KVM_RUN_MSR.offsetOf('error');
        const dataAt = u + KVM_RUN_MSR.offsetOf('data');
        const fail = (): void => this.live().setUint8(errorAt, 1);
        const msrReason = msrExitReason(m.reason);
        if (msrReason === null) throw new KvmRunCorruptError(`msr.reason ${m.reason}`);
        if (reason === KVM_EXIT.KVM_EXIT_X86_RDMSR) {
          return {
            kind: 'rdmsr',
            index: m.index,
            reason: msrReason,
            respond: (value: bigint) => {
              this.live().setUint8(errorAt, 0);
              this.live().setBigUint64(dataAt, BigInt.asUintN(64, value), true);
            },
            fail,
          };
        }
        return { kind: 'wrmsr', index: m.index, reason: msrReason, value: m.data, fail };
      }
      case KVM_EXIT.KVM_EXIT_HYPERCALL: {
        const h = KVM_RUN_HYPERCALL.decode(this.view, u);
        const retAt = u + KVM_RUN_HYPERCALL.offsetOf('ret');
        return {
          kind: 'hypercall',
          nr: h.nr,
          args: h.args,
          longmode: h.longmode !== 0,
          setResult: (ret: bigint) => this.live().setBigUint64(retAt, BigInt.asUintN(64, ret), true),
        };
      }
      case KVM_EXIT.KVM_EXIT_HLT:
        return HLT;
      case KVM_EXIT.KVM_EXIT_SHUTDOWN:
        return SHUTDOWN;
      case KVM_EXIT.KVM_EXIT_INTR:
        return INTR;
      case KVM_EXIT.KVM_EXIT_SYSTEM_EVENT: {
        const e = KVM_RUN_SYSTEM_EVENT.decode(this.view, u);
        return {
          kind: 'system_event',
          type: systemEventType(e.type),
          typeCode: e.type,
          data: e.data.slice(0, Math.min(e.ndata, e.data.length)),
        };
      }
      case KVM_EXIT.KVM_EXIT_INTERNAL_ERROR: {
        const e = KVM_RUN_INTERNAL.decode(this.view, u);
        return {
          kind: 'internal_error',
          suberror: e.suberror,
          suberrorName: internalErrorName(e.suberror),
          data: e.data.slice(0, Math.min(e.ndata, e.data.length)),
        };
      }
      case KVM_EXIT.KVM_EXIT_FAIL_ENTRY: {
        const e = KVM_RUN_FAIL_ENTRY.decode(this.view, u);
        return { kind: 'fail_entry', hardwareEntryFailureReason: e.hardware_entry_failure_reason, cpu: e.cpu };
      }
      default:
        return {
          kind: 'unknown',
          exitReason: reason,
          exitReasonName: exitReasonName(reason),
          hardwareExitReason: KVM_RUN_HW.decode(this.view, u).hardware_exit_reason,
        };
    }
  }
}

/** The EINTR exit, for callers that saw KVM_RUN fail with EINTR. */
export function intrExit(): IntrExit {
  return INTR;
}

function msrExitReason(bits: number): MsrExitReason | null {
  if (bits === KVM_MSR_EXIT_REASON_FILTER) return 'filter';
  if (bits === KVM_MSR_EXIT_REASON_UNKNOWN) return 'unknown';
  if (bits === KVM_MSR_EXIT_REASON_INVAL) return 'inval';
  return null;
}

function systemEventType(code: number): SystemEventType {
  switch (code) {
    case KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_SHUTDOWN:
      return 'shutdown';
    case KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_RESET:
      return 'reset';
    case KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_CRASH:
      return 'crash';
    case KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_WAKEUP:
      return 'wakeup';
    case KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_SUSPEND:
      return 'suspend';
    case KVM_SYSTEM_EVENT.KVM_SYSTEM_EVENT_SEV_TERM:
      return 'sev_term';
    default:
      return 'unknown';
  }
}

function internalErrorName(code: number): string {
  for (const [name, value] of Object.entries(KVM_INTERNAL_ERROR)) if (value === code) return name;
  return `KVM_INTERNAL_ERROR_${code}`;
}

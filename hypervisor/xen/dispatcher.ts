// The hypercall dispatcher: hypercall number -> family module, and the ABI edge where typed errors
// become -errno. One instance per domain; every transport (KVM exits, process guests, Dom0's
// control socket) calls dispatch() with the same register-style arguments.
//
// Nothing a guest passes may throw out of here. Deliberate failures are XenAbiError subclasses
// and map to their errno. Anything else is a bug on our side that the guest provoked: it is logged
// (rate-limited) and the guest gets -EINVAL, or -EFAULT for a guest-memory error that escaped
// GuestAccess, and the shim keeps running.
import { GuestMemoryError, type GuestMemory } from '../memory/guest-memory.ts';
import { NotImplementedError, NotPermittedError, XEN_EFAULT, XEN_EINVAL, XenAbiError } from './errors.ts';
import { GuestAccess, type CpuContext } from './guest-access.ts';
import type { HypercallArgs, HypercallFamily, HypercallOutcome } from './hypercall.ts';
import type { RateLimitedLog } from './log.ts';

export interface DispatcherOptions {
  readonly memory: GuestMemory;
  readonly families: readonly HypercallFamily[];
  readonly log: RateLimitedLog;
  /** Prefix for log lines, e.g. 'dom5'. */
  readonly name?: string;
}

const U64_MAX = 0xffff_ffff_ffff_ffffn;

export class HypercallDispatcher {
  private readonly memory: GuestMemory;
  private readonly families = new Map<number, HypercallFamily>();
  private readonly log: RateLimitedLog;
  private readonly name: string;

  constructor(options: DispatcherOptions) {
    this.memory = options.memory;
    this.log = options.log;
    this.name = options.name ?? 'domain';
    for (const f of options.families) {
      if (this.families.has(f.nr)) throw new Error(`two hypercall families registered for number ${f.nr}`);
      this.families.set(f.nr, f);
    }
  }

  /** Hypercall numbers with a family. */
  get implemented(): readonly number[] {
    return [...this.families.keys()].sort((a, b) => a - b);
  }

  /**
   * Runs hypercall `nr` (the caller's rax) with `args` (rdi, rsi, rdx, r10, r8) for `cpu`.
   * Returns the value for rax and, for scheduling ops, what the engine should do next.
   */
  dispatch(cpu: CpuContext, nr: bigint | number, args: HypercallArgs): HypercallOutcome {
    const family = this.family(nr);
    const label = family ? family.name : `hypercall ${String(nr)}`;
    try {
      if (cpu.cpl !== 0) throw new NotPermittedError(`${label} from CPL ${cpu.cpl}`);
      if (!family) throw new NotImplementedError(label, false);
      for (const a of args) {
        if (typeof a !== 'bigint' || a < 0n || a > U64_MAX) throw new TypeError(`${label}: argument ${String(a)} is not a u64`);
      }
      const out = family.handle({ cpu, guest: new GuestAccess(this.memory, cpu), args });
      return typeof out === 'number' ? { result: out } : out;
    } catch (err) {
      return { result: -this.errnoFor(err, cpu, label) };
    }
  }

  private family(nr: bigint | number): HypercallFamily | undefined {
    const n = typeof nr === 'bigint' ? (nr >= 0n && nr <= 0xffff_ffffn ? Number(nr) : -1) : nr;
    return Number.isInteger(n) ? this.families.get(n) : undefined;
  }

  private errnoFor(err: unknown, cpu: CpuContext, label: string): number {
    if (err instanceof NotImplementedError) {
      if (!err.deliberate) this.log.warn(`enosys:${err.what}`, `${this.name} vcpu${cpu.vcpuId}: ${err.what} is not implemented, returning -ENOSYS`);
      return err.errno;
    }
    if (err instanceof XenAbiError) return err.errno;
    if (err instanceof GuestMemoryError) {
      this.log.warn(`memerr:${label}`, `${this.name} vcpu${cpu.vcpuId}: ${label}: guest memory error escaped GuestAccess: ${err.message}`);
      return XEN_EFAULT;
    }
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.log.warn(`bug:${label}`, `${this.name} vcpu${cpu.vcpuId}: ${label} failed unexpectedly (${what}); returning -EINVAL`);
    return XEN_EINVAL;
  }
}

/** rax as the KVM engine writes it back: the result as an unsigned 64-bit register value. */
export function resultToRax(result: number): bigint {
  return BigInt.asUintN(64, BigInt(result));
}

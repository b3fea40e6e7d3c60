// The shapes shared by the dispatcher and the hypercall families: arguments, outcomes, and what a
// family module provides.
//
// Register convention (the same for every transport): rax = hypercall number; arguments in
// rdi, rsi, rdx, r10, r8 (args[0..4]) as unsigned 64-bit values; result in rax, a non-negative
// value or -errno. Pointer arguments are guest-virtual addresses, reached through GuestAccess.
import { NotImplementedError } from './errors.ts';
import type { CpuContext, GuestAccess } from './guest-access.ts';
import type { ShutdownReason } from './domain-events.ts';

/** rdi, rsi, rdx, r10, r8 as unsigned 64-bit values. */
export type HypercallArgs = readonly [bigint, bigint, bigint, bigint, bigint];

/**
 * What the CPU engine should do with the calling vCPU after writing the result, for hypercalls
 * that are about scheduling. The dispatcher itself never blocks: it runs inside whatever thread
 * took the exit, and a vCPU that must wait is parked by its engine.
 */
export type VcpuDirective =
  /** SCHEDOP_yield: give the host CPU away briefly, then resume. */
  | { readonly kind: 'yield' }
  /** SCHEDOP_block: resume once an upcall is pending for this vCPU (UpcallInjector.wake helps). */
  | { readonly kind: 'block' }
  /**
   * SCHEDOP_poll with none of `ports` pending: resume when one is (UpcallInjector.wake tells the
   * engine something changed), when `timeoutNs` passes (absolute Xen system time; 0 = no timeout),
   * or spuriously: the guest tolerates early returns.
   */
  | { readonly kind: 'poll'; readonly ports: readonly number[]; readonly timeoutNs: bigint }
  /** SCHEDOP_shutdown: the domain is going down; stop running this vCPU. The domain event is out. */
  | { readonly kind: 'shutdown'; readonly reason: ShutdownReason };

export interface HypercallOutcome {
  /** Value for rax: >= 0 on success, -errno on failure. */
  readonly result: number;
  readonly directive?: VcpuDirective;
}

/** One hypercall as a family handler sees it. */
export interface HypercallCall {
  readonly cpu: CpuContext;
  readonly guest: GuestAccess;
  readonly args: HypercallArgs;
}

/** One hypercall family (one module each), registered with the dispatcher under its number. */
export interface HypercallFamily {
  readonly nr: number;
  /** Xen's name, e.g. 'event_channel_op'. */
  readonly name: string;
  /** Returns the rax value or an outcome; throws XenAbiError subclasses for failures. */
  handle(call: HypercallCall): number | HypercallOutcome;
}

/**
 * The low 32 bits of an argument that Xen declares `unsigned int` (most `cmd` arguments and
 * counts): the C calling convention ignores the upper half of the register, and so do we.
 */
export function u32Arg(arg: bigint): number {
  return Number(arg & 0xffff_ffffn);
}

/** Throws the -ENOSYS error for a sub-op of `family` we do not implement. */
export function unknownSubOp(family: string, op: number, name?: string): never {
  throw new NotImplementedError(`${family}(${name ?? op})`, false);
}

/** Throws -ENOSYS for a sub-op refused on purpose, because the guest probes it and falls back. */
export function refusedSubOp(family: string, name: string): never {
  throw new NotImplementedError(`${family}(${name})`, true);
}

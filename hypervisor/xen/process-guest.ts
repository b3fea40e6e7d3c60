// The process-guest CPU engine: a domain whose vCPUs are TypeScript programs in the shim process.
// A guest program calls hypercall(nr, a1..a5) with the same register-style arguments a KVM vCPU
// would put in rdi, rsi, rdx, r10, r8; its pointers are guest-physical addresses in its own memory
// file (guest-virtual = guest-physical, identity translation). Upcalls arrive as callbacks.
//
// The engine models the parts of a real vCPU that event delivery depends on, so process guests
// exercise the same paths (and pitfalls) as KVM guests:
// - an interrupt-enable flag standing for "LAPIC software-enabled and EFLAGS.IF set"; an upcall
//   injected while it is off is dropped, like KVM drops a fixed interrupt to a disabled LAPIC;
//   turning it on calls reinjectIfPending(), as the KVM vCPU loop does after an APIC enable;
// - an IRR-like set of pending vectors: repeated injections of one vector coalesce;
// - delivery only at instruction boundaries: when a hypercall returns, or from a microtask for
//   events raised by the host while the guest program is idle; never in the middle of a dispatch;
// - no nesting: an upcall handler runs with delivery held off (interrupt gate), and what arrives
//   meanwhile is delivered when it returns.
import type { Gpa, GuestMemory } from '../memory/guest-memory.ts';
import { XenDomain, type XenDomainConfig } from './domain.ts';
import type { UpcallInjector } from './event-delivery.ts';
import { identityTranslate, type AccessKind, type CpuContext } from './guest-access.ts';
import type { HypercallArgs, VcpuDirective } from './hypercall.ts';

export type ProcessGuestConfig = Omit<XenDomainConfig, 'injector'>;

/** The guest program misused its vCPU (not a guest-visible error: the program is ours). */
export class ProcessVcpuError extends Error {
  override readonly name = 'ProcessVcpuError';
}

export class ProcessGuest {
  readonly domain: XenDomain;
  readonly memory: GuestMemory;
  private readonly vcpus: ProcessVcpu[];

  constructor(config: ProcessGuestConfig) {
    const vcpus: ProcessVcpu[] = [];
    const injector: UpcallInjector = {
      inject: (vcpuId, vector) => vcpus[vcpuId]?.raise(vector),
    };
    this.domain = new XenDomain({ ...config, injector });
    this.memory = config.memory;
    for (let i = 0; i < config.vcpus; i++) vcpus.push(new ProcessVcpu(this.domain, i));
    this.vcpus = vcpus;
  }

  vcpu(id: number): ProcessVcpu {
    const v = this.vcpus[id];
    if (!v) throw new ProcessVcpuError(`no vCPU ${id}`);
    return v;
  }
}

export class ProcessVcpu implements CpuContext {
  readonly cpl = 0;
  /** The guest's handler for upcall vectors (its IDT entry). */
  onUpcall: ((vector: number) => void) | null = null;
  /** What the last hypercall asked the engine to do with this vCPU, if anything. */
  lastDirective: VcpuDirective | null = null;
  /** Injections dropped because interrupts were off: the lost edges. */
  droppedInjections = 0;
  private enabled = false;
  private inHypercall = false;
  private inHandler = false;
  private stopped = false;
  private readonly irr = new Set<number>();
  private deliveryQueued = false;

  constructor(
    private readonly domain: XenDomain,
    readonly vcpuId: number,
  ) {}

  translate(gva: bigint, _access: AccessKind): Gpa | null {
    return identityTranslate(gva);
  }

  get interruptsEnabled(): boolean {
    return this.enabled;
  }

  /** True once SCHEDOP_shutdown stopped this vCPU. */
  get isStopped(): boolean {
    return this.stopped;
  }

  /** hypercall nr with up to five arguments; returns rax as a signed number (-errno on failure). */
  hypercall(nr: number, ...args: Array<number | bigint>): number {
    if (this.stopped) throw new ProcessVcpuError(`vCPU ${this.vcpuId} has shut down`);
    if (args.length > 5) throw new ProcessVcpuError('a hypercall takes at most five arguments');
    const regs = [0, 1, 2, 3, 4].map((i) => BigInt.asUintN(64, BigInt(args[i] ?? 0))) as unknown as HypercallArgs;
    this.inHypercall = true;
    let result: number;
    try {
      const out = this.domain.dispatch(this, nr, regs);
      result = out.result;
      this.lastDirective = out.directive ?? null;
      if (out.directive?.kind === 'shutdown') this.stopped = true;
    } finally {
      this.inHypercall = false;
    }
    this.deliver();
    return result;
  }

  /** Enables interrupts (LAPIC on, sti) and re-injects a pending upcall, as the KVM loop does. */
  enableInterrupts(): void {
    this.enabled = true;
    this.domain.reinjectIfPending(this.vcpuId);
    this.deliver();
  }

  disableInterrupts(): void {
    this.enabled = false;
  }

  /** Called through the domain's UpcallInjector. */
  raise(vector: number): void {
    if (!this.enabled || this.stopped) {
      this.droppedInjections++;
      return;
    }
    this.irr.add(vector);
    if (this.inHypercall || this.inHandler) return; // delivered at the next boundary
    if (!this.deliveryQueued) {
      // Raised by the host while the guest program is not inside a hypercall: deliver as soon as
      // the current JavaScript task yields, which is the process guest's instruction boundary.
      this.deliveryQueued = true;
      queueMicrotask(() => {
        this.deliveryQueued = false;
        this.deliver();
      });
    }
  }

  /** Runs the handler for every pending vector, lowest first; nothing nests. */
  deliver(): void {
    if (this.inHandler || this.inHypercall) return;
    while (this.enabled && !this.stopped && this.irr.size > 0 && this.onUpcall) {
      const vector = Math.min(...this.irr);
      this.irr.delete(vector);
      this.inHandler = true;
      try {
        this.onUpcall(vector);
      } finally {
        this.inHandler = false;
      }
    }
  }
}

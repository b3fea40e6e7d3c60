// The Xen state of one domain and its hypercall dispatcher, assembled from the injected parts a
// CPU engine provides. This is what a shim (KVM vCPUs) or a process guest instantiates once per
// domain. Everything here is plain TypeScript over GuestMemory: no KVM, no koffi.
//
// Threading: a XenDomain belongs to one JavaScript thread. Its only shared-memory effects are the
// atomic bit operations on shared_info/vcpu_info (see shared-info.ts), which are safe against
// the guest's vCPUs running concurrently; the engine must bring hypercalls and host events to that
// one thread.
import type { GuestMemory } from '../memory/guest-memory.ts';
import { consoleIo, type ConsoleIoSink } from './console-io.ts';
import { xenCpuidLeaves, type CpuidEntry } from './cpuid.ts';
import { HypercallDispatcher } from './dispatcher.ts';
import type { DomainEventSink } from './domain-events.ts';
import { eventChannelOp } from './event-channel-op.ts';
import { EventChannelTable } from './event-channels.ts';
import { EventDelivery, type UpcallInjector } from './event-delivery.ts';
import type { CpuContext } from './guest-access.ts';
import { grantTableOp } from './grant-table-op.ts';
import { GrantTable, type GrantFrameBacking } from './grant-table.ts';
import type { HypercallArgs, HypercallOutcome } from './hypercall.ts';
import { HvmParams } from './hvm-params.ts';
import { hvmOp } from './hvm-op.ts';
import { defaultXenIdentity, type XenIdentity } from './identity.ts';
import { RateLimitedLog, consoleLog, type HypervisorLog, type RateLimitOptions } from './log.ts';
import { memoryOp, type E820Entry } from './memory-op.ts';
import { schedOp } from './sched-op.ts';
import { vcpuOp } from './vcpu-op.ts';
import { xenVersionOp } from './xen-version-op.ts';

export interface XenDomainConfig {
  /** Our domain id (1..0x7fef for a DomU; 0 for Dom0). */
  readonly domid: number;
  /** Number of vCPUs; Xen vCPU ids are 0..vcpus-1. */
  readonly vcpus: number;
  readonly memory: GuestMemory;
  readonly injector: UpcallInjector;
  readonly events: DomainEventSink;
  /** Where CONSOLEIO_write goes; without one console_io answers -ENOSYS. */
  readonly console?: ConsoleIoSink;
  readonly log?: HypervisorLog;
  readonly logLimits?: RateLimitOptions;
  readonly identity?: Partial<XenIdentity>;
  /** Ports 0..maxEventChannels-1 (default 1024, at most 4096). */
  readonly maxEventChannels?: number;
  /** Answer for XENMEM_memory_map. */
  readonly memoryMap?: readonly E820Entry[];
  /** XENMEM_maximum_reservation in pages. */
  readonly maxPages?: number;
  /** Where the grant-table frames live (the engine's); without one the domain has no grants. */
  readonly grantFrames?: GrantFrameBacking;
}

export class XenDomain {
  readonly domid: number;
  readonly memory: GuestMemory;
  readonly identity: XenIdentity;
  readonly log: RateLimitedLog;
  readonly delivery: EventDelivery;
  readonly evtchn: EventChannelTable;
  readonly hvmParams = new HvmParams();
  readonly grantTable: GrantTable;
  readonly dispatcher: HypercallDispatcher;

  constructor(config: XenDomainConfig) {
    if (!Number.isInteger(config.domid) || config.domid < 0 || config.domid >= 0x7ff0) throw new RangeError(`bad domid ${config.domid}`);
    if (!Number.isInteger(config.vcpus) || config.vcpus < 1) throw new RangeError(`bad vCPU count ${config.vcpus}`);
    this.domid = config.domid;
    this.memory = config.memory;
    this.identity = defaultXenIdentity(config.identity);
    this.log = new RateLimitedLog(config.log ?? consoleLog, config.logLimits);
    this.delivery = new EventDelivery({ memory: config.memory, vcpus: config.vcpus, injector: config.injector });
    this.evtchn = new EventChannelTable({
      domid: config.domid,
      delivery: this.delivery,
      ...(config.maxEventChannels === undefined ? {} : { maxPorts: config.maxEventChannels }),
    });
    this.grantTable = new GrantTable(config.grantFrames ?? null);
    this.dispatcher = new HypercallDispatcher({
      memory: config.memory,
      log: this.log,
      name: `dom${config.domid}`,
      families: [
        xenVersionOp(this.identity),
        memoryOp({
          domid: config.domid,
          memory: config.memory,
          delivery: this.delivery,
          grantTable: this.grantTable,
          ...(config.memoryMap === undefined ? {} : { memoryMap: config.memoryMap }),
          ...(config.maxPages === undefined ? {} : { maxPages: config.maxPages }),
        }),
        hvmOp({ domid: config.domid, params: this.hvmParams, delivery: this.delivery, log: this.log }),
        vcpuOp(this.delivery),
        schedOp({ evtchn: this.evtchn, events: config.events }),
        consoleIo(config.console, this.log),
        eventChannelOp(this.evtchn),
        grantTableOp({ domid: config.domid, table: this.grantTable }),
      ],
    });
  }

  get vcpuCount(): number {
    return this.delivery.vcpuCount;
  }

  /** One hypercall from `cpu`: rax = nr, args = rdi, rsi, rdx, r10, r8. Never throws. */
  dispatch(cpu: CpuContext, nr: bigint | number, args: HypercallArgs): HypercallOutcome {
    return this.dispatcher.dispatch(cpu, nr, args);
  }

  /** Re-inject the upcall if vCPU `vcpuId` still has one pending (the lost-edge cure). */
  reinjectIfPending(vcpuId: number): boolean {
    return this.delivery.reinjectIfPending(vcpuId);
  }

  /** The Xen CPUID leaves for vCPU `vcpuId`. */
  cpuid(vcpuId: number, options: { base?: number; hypercallMsr?: number } = {}): CpuidEntry[] {
    if (!Number.isInteger(vcpuId) || vcpuId < 0 || vcpuId >= this.vcpuCount) throw new RangeError(`no vCPU ${vcpuId}`);
    return xenCpuidLeaves({ identity: this.identity, vcpuId, ...options });
  }
}

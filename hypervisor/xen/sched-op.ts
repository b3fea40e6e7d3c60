// __HYPERVISOR_sched_op(cmd, arg): yielding, blocking, polling ports and shutting the domain down.
//
// The dispatcher never blocks. yield, block and poll return at once with a directive that tells
// the CPU engine how to park the vCPU; SCHEDOP_shutdown reports a domain event and tells the engine
// to stop the vCPU. Linux's PV spinlocks BUG() if SCHEDOP_poll returns non-zero, and tolerate
// spurious wake-ups, so poll always answers 0 once its arguments are valid.
import {
  SCHEDOP_POLL_MAX_PORTS,
  SCHEDOP_block,
  SCHEDOP_poll,
  SCHEDOP_remote_shutdown,
  SCHEDOP_shutdown,
  SCHEDOP_shutdown_code,
  SCHEDOP_watchdog,
  SCHEDOP_yield,
  SHUTDOWN_soft_reset,
  __HYPERVISOR_sched_op,
} from './abi.ts';
import { SHUTDOWN_REASONS, type DomainEventSink, type ShutdownReason } from './domain-events.ts';
import { InvalidArgumentError, NotImplementedError, NotPermittedError } from './errors.ts';
import type { EventChannelTable } from './event-channels.ts';
import { u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily, type HypercallOutcome } from './hypercall.ts';
import { sched_poll, sched_shutdown } from './wire.ts';

export interface SchedOpOptions {
  readonly evtchn: EventChannelTable;
  readonly events: DomainEventSink;
}

export function schedOp({ evtchn, events }: SchedOpOptions): HypercallFamily {
  /** SCHEDOP_shutdown_code latches a reason that a later shutdown reports instead of its own. */
  let latched: ShutdownReason | null = null;

  const reasonOf = (code: number): ShutdownReason => {
    const reason = SHUTDOWN_REASONS.get(code);
    if (!reason) throw new InvalidArgumentError(`no shutdown reason ${code}`);
    return reason;
  };

  const poll = ({ guest, args }: HypercallCall): HypercallOutcome => {
    const sp = guest.read(sched_poll, args[1]);
    if (sp.nr_ports > SCHEDOP_POLL_MAX_PORTS) throw new InvalidArgumentError(`SCHEDOP_poll of ${sp.nr_ports} ports (max ${SCHEDOP_POLL_MAX_PORTS})`);
    const raw = guest.copyIn(sp.ports, sp.nr_ports * 4);
    const dv = new DataView(raw.buffer);
    const ports: number[] = [];
    for (let i = 0; i < sp.nr_ports; i++) {
      const port = dv.getUint32(i * 4, true);
      if (port >= evtchn.maxPorts) throw new InvalidArgumentError(`SCHEDOP_poll on port ${port}`);
      ports.push(port);
    }
    if (evtchn.anyPending(ports)) return { result: 0 };
    return { result: 0, directive: { kind: 'poll', ports, timeoutNs: sp.timeout } };
  };

  return {
    nr: __HYPERVISOR_sched_op,
    name: 'sched_op',
    handle(call: HypercallCall): number | HypercallOutcome {
      const { guest, args, cpu } = call;
      const cmd = u32Arg(args[0]);
      switch (cmd) {
        case SCHEDOP_yield:
          return { result: 0, directive: { kind: 'yield' } };
        case SCHEDOP_block:
          return { result: 0, directive: { kind: 'block' } };
        case SCHEDOP_poll:
          return poll(call);
        case SCHEDOP_shutdown: {
          const { reason: code } = guest.read(sched_shutdown, args[1]);
          const requested = reasonOf(code);
          const reason = latched ?? requested;
          events.domainEvent({ kind: 'shutdown', reason, vcpuId: cpu.vcpuId });
          return { result: 0, directive: { kind: 'shutdown', reason } };
        }
        case SCHEDOP_shutdown_code: {
          const { reason: code } = guest.read(sched_shutdown, args[1]);
          latched = reasonOf(code);
          return 0;
        }
        case SCHEDOP_remote_shutdown:
          throw new NotPermittedError('SCHEDOP_remote_shutdown is for privileged domains');
        case SCHEDOP_watchdog:
          return unknownSubOp('sched_op', cmd, 'SCHEDOP_watchdog');
        default:
          return unknownSubOp('sched_op', cmd);
      }
    },
  };
}

// __HYPERVISOR_event_channel_op(cmd, arg): the guest's side of the port table. Each case copies its
// struct in once, lets the table act on the private copy, and copies the struct back out when it
// has OUT fields (as Xen does: if that last copy faults the guest gets -EFAULT, and the port it
// was given stays allocated, again as on Xen).
//
// FIFO event channels (EVTCHNOP_init_control and friends) are refused on purpose: Linux tries
// FIFO first and falls back to the 2-level ABI on any error.
import {
  EVTCHNOP_alloc_unbound,
  EVTCHNOP_bind_interdomain,
  EVTCHNOP_bind_ipi,
  EVTCHNOP_bind_pirq,
  EVTCHNOP_bind_vcpu,
  EVTCHNOP_bind_virq,
  EVTCHNOP_close,
  EVTCHNOP_expand_array,
  EVTCHNOP_init_control,
  EVTCHNOP_reset,
  EVTCHNOP_send,
  EVTCHNOP_set_priority,
  EVTCHNOP_status,
  EVTCHNOP_unmask,
  __HYPERVISOR_event_channel_op,
} from './abi.ts';
import { NotPermittedError } from './errors.ts';
import type { EventChannelTable } from './event-channels.ts';
import { refusedSubOp, u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import {
  evtchn_alloc_unbound,
  evtchn_bind_interdomain,
  evtchn_bind_ipi,
  evtchn_bind_vcpu,
  evtchn_bind_virq,
  evtchn_close,
  evtchn_send,
  evtchn_status,
  evtchn_unmask,
} from './wire.ts';

export function eventChannelOp(table: EventChannelTable): HypercallFamily {
  /** Ops that name a domain may name only this one (others need privilege: Xen's XSM check). */
  const ownDomain = (dom: number, what: string): void => {
    if (!table.isSelf(dom)) throw new NotPermittedError(`${what} for domain ${dom}`);
  };

  return {
    nr: __HYPERVISOR_event_channel_op,
    name: 'event_channel_op',
    handle({ guest, args }: HypercallCall): number {
      const cmd = u32Arg(args[0]);
      const arg = args[1];
      switch (cmd) {
        case EVTCHNOP_alloc_unbound: {
          const a = guest.read(evtchn_alloc_unbound, arg);
          ownDomain(a.dom, 'EVTCHNOP_alloc_unbound');
          const port = table.allocUnbound(a.remote_dom);
          guest.write(evtchn_alloc_unbound, arg, { ...a, port });
          return 0;
        }
        case EVTCHNOP_bind_interdomain: {
          const b = guest.read(evtchn_bind_interdomain, arg);
          const local_port = table.bindInterdomain(b.remote_dom, b.remote_port);
          guest.write(evtchn_bind_interdomain, arg, { ...b, local_port });
          return 0;
        }
        case EVTCHNOP_bind_virq: {
          const b = guest.read(evtchn_bind_virq, arg);
          const port = table.bindVirq(b.virq, b.vcpu);
          guest.write(evtchn_bind_virq, arg, { ...b, port });
          return 0;
        }
        case EVTCHNOP_bind_ipi: {
          const b = guest.read(evtchn_bind_ipi, arg);
          const port = table.bindIpi(b.vcpu);
          guest.write(evtchn_bind_ipi, arg, { ...b, port });
          return 0;
        }
        case EVTCHNOP_close:
          table.close(guest.read(evtchn_close, arg).port);
          return 0;
        case EVTCHNOP_send:
          table.send(guest.read(evtchn_send, arg).port);
          return 0;
        case EVTCHNOP_unmask:
          table.unmask(guest.read(evtchn_unmask, arg).port);
          return 0;
        case EVTCHNOP_status: {
          const s = guest.read(evtchn_status, arg);
          ownDomain(s.dom, 'EVTCHNOP_status');
          const st = table.status(s.port);
          guest.write(evtchn_status, arg, { dom: s.dom, port: s.port, status: st.status, vcpu: st.vcpu, u_word0: st.word0, u_word1: st.word1 });
          return 0;
        }
        case EVTCHNOP_bind_vcpu: {
          const b = guest.read(evtchn_bind_vcpu, arg);
          table.bindVcpu(b.port, b.vcpu);
          return 0;
        }
        case EVTCHNOP_init_control:
          return refusedSubOp('event_channel_op', 'EVTCHNOP_init_control');
        case EVTCHNOP_expand_array:
          return refusedSubOp('event_channel_op', 'EVTCHNOP_expand_array');
        case EVTCHNOP_set_priority:
          return refusedSubOp('event_channel_op', 'EVTCHNOP_set_priority');
        case EVTCHNOP_bind_pirq:
          return unknownSubOp('event_channel_op', cmd, 'EVTCHNOP_bind_pirq');
        case EVTCHNOP_reset:
          return unknownSubOp('event_channel_op', cmd, 'EVTCHNOP_reset');
        default:
          return unknownSubOp('event_channel_op', cmd);
      }
    },
  };
}

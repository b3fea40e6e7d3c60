// __HYPERVISOR_hvm_op(op, arg): HVM parameters and the per-vCPU upcall vector.
//
// Linux 6.1 PVH, with CPUID base+4's UPCALL_VECTOR flag, registers vector 0xF3 per vCPU with
// HVMOP_set_evtchn_upcall_vector and then writes HVM_PARAM_CALLBACK_IRQ = 1 (a fake GSI "to trick
// the toolstack"). We deliver through the per-vCPU vector only: a global callback vector is
// injected by Xen outside the local APIC and never EOIed by Linux, which an MSI through KVM's
// LAPIC cannot reproduce (it would block every lower-priority interrupt). A CALLBACK_IRQ value
// is therefore stored and readable, and a guest that asks only for a global vector is logged.
import { DOMID_SELF, HVMOP_get_param, HVMOP_get_time, HVMOP_pagetable_dying, HVMOP_set_evtchn_upcall_vector, HVMOP_set_param, HVM_PARAM_CALLBACK_IRQ, __HYPERVISOR_hvm_op } from './abi.ts';
import { NoSuchDomainError } from './errors.ts';
import type { EventDelivery } from './event-delivery.ts';
import { refusedSubOp, u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import type { HvmParams } from './hvm-params.ts';
import type { RateLimitedLog } from './log.ts';
import { xen_hvm_evtchn_upcall_vector, xen_hvm_param } from './wire.ts';

export interface HvmOpOptions {
  readonly domid: number;
  readonly params: HvmParams;
  readonly delivery: EventDelivery;
  readonly log: RateLimitedLog;
}

export function hvmOp({ domid, params, delivery, log }: HvmOpOptions): HypercallFamily {
  const checkDom = (dom: number): void => {
    if (dom !== DOMID_SELF && dom !== domid) throw new NoSuchDomainError(dom);
  };

  return {
    nr: __HYPERVISOR_hvm_op,
    name: 'hvm_op',
    handle({ guest, args, cpu }: HypercallCall): number {
      const op = u32Arg(args[0]);
      const arg = args[1];
      switch (op) {
        case HVMOP_set_param: {
          const hp = guest.read(xen_hvm_param, arg);
          checkDom(hp.domid);
          params.guestSet(hp.index, hp.value);
          if (hp.index === HVM_PARAM_CALLBACK_IRQ) {
            const via = params.callbackVia;
            if (via.kind === 'vector' && delivery.upcallVector(cpu.vcpuId) === 0) {
              log.warn('global-callback', `guest asked for global callback vector 0x${via.vector.toString(16)}; only per-vCPU upcall vectors are delivered`);
            }
          }
          return 0;
        }
        case HVMOP_get_param: {
          const hp = guest.read(xen_hvm_param, arg);
          checkDom(hp.domid);
          guest.write(xen_hvm_param, arg, { ...hp, value: params.guestGet(hp.index) });
          return 0;
        }
        case HVMOP_set_evtchn_upcall_vector: {
          const up = guest.read(xen_hvm_evtchn_upcall_vector, arg);
          delivery.setUpcallVector(up.vcpu, up.vector);
          return 0;
        }
        case HVMOP_pagetable_dying:
          // Linux probes it and turns the optimisation off on failure (as with QEMU).
          return refusedSubOp('hvm_op', 'HVMOP_pagetable_dying');
        case HVMOP_get_time:
          return unknownSubOp('hvm_op', op, 'HVMOP_get_time');
        default:
          return unknownSubOp('hvm_op', op);
      }
    },
  };
}

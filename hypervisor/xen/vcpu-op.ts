// __HYPERVISOR_vcpu_op(cmd, vcpuid, arg).
//
// Linux 6.1 PVH uses only VCPUOP_register_vcpu_info (and panics if it fails). It brings APs up
// natively (INIT-SIPI-SIPI), so VCPUOP_initialise/up/down/is_up are PV-only here; and the timer
// and runstate ops are used only when XENFEAT_hvm_safe_pvclock is advertised, which we do not do
// until a Xen clock exists. Those all answer -ENOSYS and are logged, so a guest that does use
// them shows up in the log.
import {
  VCPUOP_down,
  VCPUOP_initialise,
  VCPUOP_is_up,
  VCPUOP_register_runstate_memory_area,
  VCPUOP_register_vcpu_info,
  VCPUOP_register_vcpu_time_memory_area,
  VCPUOP_set_periodic_timer,
  VCPUOP_set_singleshot_timer,
  VCPUOP_stop_periodic_timer,
  VCPUOP_stop_singleshot_timer,
  VCPUOP_up,
  __HYPERVISOR_vcpu_op,
} from './abi.ts';
import { NoSuchVcpuError } from './errors.ts';
import type { EventDelivery } from './event-delivery.ts';
import { u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import { vcpu_register_vcpu_info } from './wire.ts';

const NAMES: ReadonlyMap<number, string> = new Map([
  [VCPUOP_initialise, 'VCPUOP_initialise'],
  [VCPUOP_up, 'VCPUOP_up'],
  [VCPUOP_down, 'VCPUOP_down'],
  [VCPUOP_is_up, 'VCPUOP_is_up'],
  [VCPUOP_register_runstate_memory_area, 'VCPUOP_register_runstate_memory_area'],
  [VCPUOP_set_periodic_timer, 'VCPUOP_set_periodic_timer'],
  [VCPUOP_stop_periodic_timer, 'VCPUOP_stop_periodic_timer'],
  [VCPUOP_set_singleshot_timer, 'VCPUOP_set_singleshot_timer'],
  [VCPUOP_stop_singleshot_timer, 'VCPUOP_stop_singleshot_timer'],
  [VCPUOP_register_vcpu_time_memory_area, 'VCPUOP_register_vcpu_time_memory_area'],
]);

export function vcpuOp(delivery: EventDelivery): HypercallFamily {
  return {
    nr: __HYPERVISOR_vcpu_op,
    name: 'vcpu_op',
    handle({ guest, args }: HypercallCall): number {
      const cmd = u32Arg(args[0]);
      const vcpuid = u32Arg(args[1]);
      // Xen looks the target vCPU up before it looks at the command.
      if (vcpuid >= delivery.vcpuCount) throw new NoSuchVcpuError(vcpuid);
      switch (cmd) {
        case VCPUOP_register_vcpu_info: {
          const rvi = guest.read(vcpu_register_vcpu_info, args[2]);
          delivery.registerVcpuInfo(vcpuid, rvi.mfn, rvi.offset);
          return 0;
        }
        default:
          return unknownSubOp('vcpu_op', cmd, NAMES.get(cmd));
      }
    },
  };
}

// __HYPERVISOR_memory_op(cmd, arg): the guest's physical memory map as Xen sees it.
//
// Linux PVH needs XENMEM_add_to_physmap for shared_info (it BUG()s if that fails) and, for grant
// frames, XENMAPSPACE_grant_table (grant-table.ts places them where the guest asks). XENMEM_memory_map
// is only asked for when start_info has no memory map; the reservation queries serve the balloon
// driver.
import { PAGE_SIZE, type GuestMemory } from '../memory/guest-memory.ts';
import {
  DOMID_SELF,
  XENMAPSPACE_dev_mmio,
  XENMAPSPACE_gmfn,
  XENMAPSPACE_gmfn_foreign,
  XENMAPSPACE_gmfn_range,
  XENMAPSPACE_grant_table,
  XENMAPSPACE_shared_info,
  XENMEM_add_to_physmap,
  XENMEM_current_reservation,
  XENMEM_maximum_gpfn,
  XENMEM_maximum_reservation,
  XENMEM_memory_map,
  __HYPERVISOR_memory_op,
} from './abi.ts';
import { InvalidArgumentError, NoSuchDomainError, NotImplementedError, NotPermittedError, NotSupportedError } from './errors.ts';
import type { EventDelivery } from './event-delivery.ts';
import type { GrantTable } from './grant-table.ts';
import { u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import { e820entry, xen_add_to_physmap, xen_memory_domain, xen_memory_map } from './wire.ts';

/** One E820 record, as XENMEM_memory_map returns it (types: 1 RAM, 2 reserved, 3 ACPI, ...). */
export interface E820Entry {
  readonly addr: bigint;
  readonly size: bigint;
  readonly type: number;
}

export interface MemoryOpOptions {
  readonly domid: number;
  readonly memory: GuestMemory;
  readonly delivery: EventDelivery;
  readonly grantTable: GrantTable;
  /** The guest's E820 map, if XENMEM_memory_map should answer (the PVH loader's memmap). */
  readonly memoryMap?: readonly E820Entry[];
  /** XENMEM_maximum_reservation in pages; defaults to the current RAM size. */
  readonly maxPages?: number;
}

export function memoryOp(options: MemoryOpOptions): HypercallFamily {
  const { domid, memory, delivery } = options;
  const ramPages = memory.regions.reduce((n, r) => n + Math.floor(r.size / PAGE_SIZE), 0);
  const maxGpfn = memory.regions.reduce((m, r) => Math.max(m, Math.floor((r.base + r.size) / PAGE_SIZE) - 1), 0);
  const maxPages = options.maxPages ?? ramPages;
  const isSelf = (dom: number): boolean => dom === DOMID_SELF || dom === domid;

  const addToPhysmap = ({ guest, args }: HypercallCall): number => {
    const xatp = guest.read(xen_add_to_physmap, args[1]);
    if (!isSelf(xatp.domid)) throw new NoSuchDomainError(xatp.domid);
    switch (xatp.space) {
      case XENMAPSPACE_shared_info:
        if (xatp.idx !== 0n) throw new InvalidArgumentError(`shared_info has no frame ${xatp.idx}`);
        delivery.mapSharedInfo(xatp.gpfn);
        return 0;
      case XENMAPSPACE_grant_table: {
        const gpfn = Number(xatp.gpfn);
        if (xatp.idx > 0xffff_ffffn || !Number.isSafeInteger(gpfn)) throw new InvalidArgumentError(`grant frame ${xatp.idx} at gpfn ${xatp.gpfn}`);
        options.grantTable.addToPhysmap(Number(xatp.idx), gpfn);
        return 0;
      }
      case XENMAPSPACE_gmfn:
      case XENMAPSPACE_gmfn_range:
        throw new NotSupportedError(`XENMAPSPACE ${xatp.space} (moving RAM frames) is not offered`);
      case XENMAPSPACE_gmfn_foreign:
      case XENMAPSPACE_dev_mmio:
        throw new NotPermittedError(`XENMAPSPACE ${xatp.space} is for privileged domains`);
      default:
        throw new InvalidArgumentError(`no XENMAPSPACE ${xatp.space}`);
    }
  };

  const memoryMap = ({ guest, args }: HypercallCall): number => {
    if (!options.memoryMap) throw new NotImplementedError('memory_op(XENMEM_memory_map) without a configured map', false);
    const map = guest.read(xen_memory_map, args[1]);
    const n = Math.min(map.nr_entries, options.memoryMap.length);
    const out = new Uint8Array(n * e820entry.size);
    options.memoryMap.slice(0, n).forEach((e, i) => out.set(e820entry.encode(e), i * e820entry.size));
    guest.copyOut(map.buffer, out);
    guest.write(xen_memory_map, args[1], { nr_entries: n, buffer: map.buffer });
    return 0;
  };

  const reservation = (pages: number) => ({ guest, args }: HypercallCall): number => {
    const { domid: dom } = guest.read(xen_memory_domain, args[1]);
    if (!isSelf(dom)) throw new NoSuchDomainError(dom);
    return pages;
  };

  return {
    nr: __HYPERVISOR_memory_op,
    name: 'memory_op',
    handle(call: HypercallCall): number {
      // The whole cmd is the op: Xen keeps a continuation extent in bits 6 and up, which only the
      // reservation ops use and which Linux never sets when calling these.
      const cmd = u32Arg(call.args[0]);
      switch (cmd) {
        case XENMEM_add_to_physmap:
          return addToPhysmap(call);
        case XENMEM_memory_map:
          return memoryMap(call);
        case XENMEM_current_reservation:
          return reservation(ramPages)(call);
        case XENMEM_maximum_reservation:
          return reservation(maxPages)(call);
        case XENMEM_maximum_gpfn:
          return reservation(maxGpfn)(call);
        default:
          return unknownSubOp('memory_op', cmd);
      }
    },
  };
}

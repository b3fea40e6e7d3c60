// __HYPERVISOR_grant_table_op(cmd, uop, count), as a DomU issues it: grant table v1 and its frame
// counts (the frames themselves are placed through memory_op, grant-table.ts). Dom0's operations
// (map, unmap, copy) are not a DomU's to call here; setup_table is for PV guests, which PVH
// Linux does not use (auto-translated); both get -ENOSYS.
import {
  DOMID_SELF,
  GNTST_bad_domain,
  GNTST_okay,
  GNTTABOP_copy,
  GNTTABOP_get_status_frames,
  GNTTABOP_get_version,
  GNTTABOP_map_grant_ref,
  GNTTABOP_query_size,
  GNTTABOP_set_version,
  GNTTABOP_setup_table,
  GNTTABOP_unmap_grant_ref,
  __HYPERVISOR_grant_table_op,
} from './abi.ts';
import { InvalidArgumentError, NoSuchDomainError, NotSupportedError } from './errors.ts';
import { u32Arg, unknownSubOp, type HypercallCall, type HypercallFamily } from './hypercall.ts';
import type { GrantTable } from './grant-table.ts';
import { gnttab_get_version, gnttab_query_size, gnttab_set_version } from './wire.ts';

export interface GrantTableOpOptions {
  readonly domid: number;
  readonly table: GrantTable;
}

const NAMES: ReadonlyMap<number, string> = new Map([
  [GNTTABOP_map_grant_ref, 'GNTTABOP_map_grant_ref'],
  [GNTTABOP_unmap_grant_ref, 'GNTTABOP_unmap_grant_ref'],
  [GNTTABOP_setup_table, 'GNTTABOP_setup_table'],
  [GNTTABOP_copy, 'GNTTABOP_copy'],
  [GNTTABOP_get_status_frames, 'GNTTABOP_get_status_frames'],
]);

/** The only grant-table version we implement. */
const GNTTAB_VERSION = 1;

export function grantTableOp(options: GrantTableOpOptions): HypercallFamily {
  const { table } = options;
  const isSelf = (dom: number): boolean => dom === DOMID_SELF || dom === options.domid;

  /** query_size, set_version and get_version take exactly one struct (Xen: count != 1 is -EINVAL). */
  const one = (count: number, what: string): void => {
    if (count !== 1) throw new InvalidArgumentError(`${what} with count ${count}`);
  };

  return {
    nr: __HYPERVISOR_grant_table_op,
    name: 'grant_table_op',
    handle({ guest, args }: HypercallCall): number {
      const cmd = u32Arg(args[0]);
      const uop = args[1];
      const count = u32Arg(args[2]);
      switch (cmd) {
        case GNTTABOP_query_size: {
          one(count, 'GNTTABOP_query_size');
          const q = guest.read(gnttab_query_size, uop);
          // Errors about the domain travel in `status`; the hypercall itself succeeds.
          if (!isSelf(q.dom)) guest.write(gnttab_query_size, uop, { ...q, nr_frames: 0, max_nr_frames: 0, status: GNTST_bad_domain });
          else guest.write(gnttab_query_size, uop, { ...q, nr_frames: table.nrFrames, max_nr_frames: table.maxFrames, status: GNTST_okay });
          return 0;
        }
        case GNTTABOP_set_version: {
          one(count, 'GNTTABOP_set_version');
          const { version } = guest.read(gnttab_set_version, uop);
          // Xen writes the version in force back whatever happened; Linux treats any error as v1.
          guest.write(gnttab_set_version, uop, { version: GNTTAB_VERSION });
          if (version !== GNTTAB_VERSION) throw new NotSupportedError(`grant table v${version} (only v1 is implemented)`);
          return 0;
        }
        case GNTTABOP_get_version: {
          one(count, 'GNTTABOP_get_version');
          const g = guest.read(gnttab_get_version, uop);
          if (!isSelf(g.dom)) throw new NoSuchDomainError(g.dom);
          guest.write(gnttab_get_version, uop, { ...g, version: GNTTAB_VERSION });
          return 0;
        }
        default:
          return unknownSubOp('grant_table_op', cmd, NAMES.get(cmd));
      }
    },
  };
}

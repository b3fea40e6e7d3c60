// The XenStore tree a toolstack writes for each domain before it runs, laid out and permissioned
// the way libxl does it, so a guest (Linux's xenbus, our xenbus client) finds what it expects:
//
//   /local/domain/N                 owner dom0, guest may read
//     name, domid, vm, memory/{target,static-max}, cpu/<i>/availability
//     control/                      guest may read; shutdown, sysrq, feature-* writable by it
//     data/, drivers/, feature/, attr/, error/, device/   the guest's own (writable)
//     store/{ring-ref,port}, console/{ring-ref,port,type,limit}
//   /vm/<uuid>/{name,uuid}          owner dom0, guest may read
//
// The guest's home is given to dom0 with read for the guest, and the writable parts to the
// guest, exactly as the permission lists below say; releasing the domain removes all of it.
import type { XenstoreClient, XsPermission } from '../../frontends/xenbus/index.ts';
import type { ToolstackRing } from '../../hypervisor/shim/dom0-link.ts';

export interface DomainXenstoreLayout {
  readonly domid: number;
  readonly name: string;
  readonly uuid: string;
  readonly memoryMiB: number;
  readonly vcpus: number;
  readonly store: ToolstackRing;
  readonly console: ToolstackRing;
}

export const domainHome = (domid: number): string => `/local/domain/${domid}`;

/** Nodes under the guest's home that the guest itself may write (libxl's rwperm list). */
const GUEST_WRITABLE = ['data', 'drivers', 'feature', 'attr', 'error', 'device', 'control/shutdown', 'control/sysrq', 'control/feature-poweroff', 'control/feature-reboot', 'control/feature-suspend'];

export async function writeDomainXenstore(xs: XenstoreClient, d: DomainXenstoreLayout): Promise<void> {
  const home = domainHome(d.domid);
  const readOnly: XsPermission[] = [
    { domid: 0, access: 'none' },
    { domid: d.domid, access: 'read' },
  ];
  const guestOwned: XsPermission[] = [{ domid: d.domid, access: 'none' }];
  const vm = `/vm/${d.uuid}`;
  await xs.transaction(async (t) => {
    for (const dir of [home, vm]) {
      await t.mkdir(dir);
      await t.setPerms(dir, readOnly);
    }
    await t.write(`${vm}/name`, d.name);
    await t.write(`${vm}/uuid`, d.uuid);
    await t.write(`${home}/name`, d.name);
    await t.write(`${home}/domid`, String(d.domid));
    await t.write(`${home}/vm`, vm);
    await t.write(`${home}/memory/static-max`, String(d.memoryMiB * 1024));
    await t.write(`${home}/memory/target`, String(d.memoryMiB * 1024));
    for (let i = 0; i < d.vcpus; i++) await t.write(`${home}/cpu/${i}/availability`, 'online');
    await t.write(`${home}/store/ring-ref`, String(d.store.pfn));
    await t.write(`${home}/store/port`, String(d.store.port));
    await t.write(`${home}/console/ring-ref`, String(d.console.pfn));
    await t.write(`${home}/console/port`, String(d.console.port));
    await t.write(`${home}/console/type`, 'xenconsoled');
    await t.write(`${home}/console/limit`, String(1024 * 1024));
    await t.mkdir(`${home}/control`);
    for (const node of GUEST_WRITABLE) {
      await t.write(`${home}/${node}`, '');
      await t.setPerms(`${home}/${node}`, guestOwned);
    }
    // Linux's xenbus issues XS_RESET_WATCHES at start when the toolstack says xenstored has it.
    await t.write(`${home}/control/platform-feature-xs_reset_watches`, '1');
  });
}

/** Removes what writeDomainXenstore wrote (the engine's release removes the rest the guest owned). */
export async function removeDomainXenstore(xs: XenstoreClient, domid: number, uuid: string): Promise<void> {
  await xs.rm(domainHome(domid)).catch(() => undefined);
  await xs.rm(`/vm/${uuid}`).catch(() => undefined);
}

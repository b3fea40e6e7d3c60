// The two pages and event channels a Xen toolstack gives every domain before it runs: the
// XenStore ring (HVM_PARAM_STORE_PFN/EVTCHN) and the PV console ring (HVM_PARAM_CONSOLE_PFN/
// EVTCHN). The shim zeroes both pages, leaves a port of the guest unbound for domain 0 for each,
// binds it as a host endpoint and publishes the parameters; the rings themselves are served by
// xltsd, which maps the pages from the guest's RAM file. Events cross the process boundary here:
// the guest's EVTCHNOP_send on either port becomes onKick(port); raise(port) is Dom0's notify.
import { PAGE_SIZE, gpa } from '../memory/guest-memory.ts';
import { HVM_PARAM_CONSOLE_EVTCHN, HVM_PARAM_CONSOLE_PFN, HVM_PARAM_STORE_EVTCHN, HVM_PARAM_STORE_PFN, type HostEndpoint, type XenDomain } from '../xen/index.ts';
import type { ToolstackRing } from './dom0-link.ts';

export const DOM0_DOMID = 0;

export interface ToolstackRingPages {
  readonly storePfn: number;
  readonly consolePfn: number;
}

export class ToolstackRings {
  readonly store: ToolstackRing;
  readonly console: ToolstackRing;
  private readonly endpoints = new Map<number, HostEndpoint>();

  constructor(
    private readonly domain: XenDomain,
    pages: ToolstackRingPages,
    private readonly onKick: (port: number) => void,
  ) {
    const bind = (pfn: number, pfnParam: number, portParam: number): ToolstackRing => {
      domain.memory.view(gpa(pfn * PAGE_SIZE), PAGE_SIZE).fill(0);
      const port = domain.evtchn.allocUnbound(DOM0_DOMID);
      // Dom0's port number is not visible to the guest beyond EVTCHNOP_status; 1 is as good as any.
      const endpoint = domain.evtchn.connectHost(port, DOM0_DOMID, 1, {
        notify: () => onKick(port),
        closed: () => this.endpoints.delete(port),
      });
      this.endpoints.set(port, endpoint);
      domain.hvmParams.set(pfnParam, BigInt(pfn));
      domain.hvmParams.set(portParam, BigInt(port));
      return { pfn, port };
    };
    this.store = bind(pages.storePfn, HVM_PARAM_STORE_PFN, HVM_PARAM_STORE_EVTCHN);
    this.console = bind(pages.consolePfn, HVM_PARAM_CONSOLE_PFN, HVM_PARAM_CONSOLE_EVTCHN);
  }

  /**
   * Dom0 binds a port the guest left unbound for it (a frontend's event channel): from now on the
   * guest's sends on it become onKick(port) and raise(port) notifies the guest. Throws the event
   * channel table's error (not unbound, not for Dom0) for the caller to report.
   */
  bindDom0(port: number): void {
    if (this.endpoints.has(port)) return;
    const endpoint = this.domain.evtchn.connectHost(port, DOM0_DOMID, port, {
      notify: () => this.onKick(port),
      closed: () => this.endpoints.delete(port),
    });
    this.endpoints.set(port, endpoint);
  }

  unbindDom0(port: number): void {
    if (port === this.store.port || port === this.console.port) return;
    this.endpoints.get(port)?.close();
    this.endpoints.delete(port);
  }

  /** Dom0 notifies the guest on `port`; false if that is not one of ours (or the guest closed it). */
  raise(port: number): boolean {
    return this.endpoints.get(port)?.raise() ?? false;
  }

  close(): void {
    for (const e of [...this.endpoints.values()]) e.close();
    this.endpoints.clear();
  }
}

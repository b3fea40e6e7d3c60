// The event-channel port table of one domain (2-level ABI) and the operations on it, shared by the
// guest's EVTCHNOP_* hypercalls (event-channel-op.ts) and the host side (console and xenstore
// backends, timers, Dom0 links).
//
// A port is in exactly one state (Xen's ECS_*), a closed union below. Rules follow Xen's
// common/event_channel.c where Linux can observe them:
// - port 0 is reserved and never allocated; new ports are the lowest free one;
// - virq and ipi ports notify the vCPU they were bound on; the others notify vCPU 0 until
//   EVTCHNOP_bind_vcpu moves them (IPIs and per-vCPU VIRQs cannot move);
// - EVTCHNOP_send on an unbound port is dropped silently; on a virq port it is -EINVAL;
// - closing one end of an interdomain channel leaves the other end unbound, waiting again;
// - closing clears the port's pending bit, so a rebound port starts clean.
//
// Interdomain peers. Within the domain (remote_dom = DOMID_SELF) both ends are ports of this
// table. Any other domain is, from this shim's point of view, a host endpoint: the shim (or the
// Dom0 link it serves) binds to a port the guest left unbound for it, gets called when the guest
// sends, and raises the port when it has something for the guest.
import {
  DOMID_SELF,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  NR_EVENT_CHANNELS,
  NR_VIRQS,
  PER_VCPU_VIRQS,
} from './abi.ts';
import { AlreadyBoundError, InvalidArgumentError, NoFreePortError, NoSuchDomainError, NoSuchVcpuError } from './errors.ts';
import type { EventDelivery } from './event-delivery.ts';

/** The host side of an interdomain channel, told what the guest does on its end. */
export interface HostEndpointListener {
  /** The guest sent on its end (EVTCHNOP_send). Called inside the hypercall: keep it short. */
  notify(): void;
  /** The guest closed its end; the endpoint is dead and raise() will do nothing. */
  closed(): void;
}

/** A live interdomain channel as the host holds it. */
export interface HostEndpoint {
  /** The guest's port. */
  readonly port: number;
  /** Raises the guest's port; false if the channel is gone. */
  raise(): boolean;
  /** Closes the host end: the guest's port goes back to unbound, as when a Xen peer closes. */
  close(): void;
}

type Peer = { readonly kind: 'local' } | { readonly kind: 'host'; readonly listener: HostEndpointListener; readonly token: object };

export type PortBinding =
  | { readonly state: 'free' }
  | { readonly state: 'reserved' }
  | { readonly state: 'unbound'; readonly remoteDom: number }
  | { readonly state: 'interdomain'; readonly remoteDom: number; readonly remotePort: number; readonly peer: Peer }
  | { readonly state: 'virq'; readonly virq: number }
  | { readonly state: 'ipi' };

interface Port {
  binding: PortBinding;
  notifyVcpu: number;
}

/** What EVTCHNOP_status reports. */
export interface PortStatus {
  readonly status: number;
  readonly vcpu: number;
  /** unbound/interdomain: remote domain; virq: the virq. */
  readonly word0: number;
  /** interdomain: remote port. */
  readonly word1: number;
}

export interface EventChannelTableOptions {
  readonly domid: number;
  readonly delivery: EventDelivery;
  /** Ports 0..maxPorts-1 exist (Xen's max_evtchn_port + 1). At most NR_EVENT_CHANNELS. */
  readonly maxPorts?: number;
}

/** xl's default max_event_channels is 1023, i.e. ports 0..1023. */
export const DEFAULT_MAX_PORTS = 1024;

export class EventChannelTable {
  readonly domid: number;
  readonly maxPorts: number;
  private readonly delivery: EventDelivery;
  private readonly ports: Port[];
  /** virqPorts[vcpu][virq]: bound port or 0. Global VIRQs live in vCPU 0's row. */
  private readonly virqPorts: number[][];

  constructor(options: EventChannelTableOptions) {
    this.domid = options.domid;
    this.delivery = options.delivery;
    this.maxPorts = options.maxPorts ?? DEFAULT_MAX_PORTS;
    if (!Number.isInteger(this.maxPorts) || this.maxPorts < 2 || this.maxPorts > NR_EVENT_CHANNELS) {
      throw new RangeError(`maxPorts must be 2..${NR_EVENT_CHANNELS}, got ${this.maxPorts}`);
    }
    this.ports = Array.from({ length: this.maxPorts }, (_, i) => ({ binding: i === 0 ? { state: 'reserved' } : { state: 'free' }, notifyVcpu: 0 }));
    this.virqPorts = Array.from({ length: this.delivery.vcpuCount }, () => new Array<number>(NR_VIRQS).fill(0));
  }

  /** DOMID_SELF or our own id, as a domain id; anything else is another domain. */
  resolveDomid(dom: number): number {
    return dom === DOMID_SELF ? this.domid : dom;
  }

  isSelf(dom: number): boolean {
    return this.resolveDomid(dom) === this.domid;
  }

  binding(port: number): PortBinding {
    return this.port(port).binding;
  }

  notifyVcpu(port: number): number {
    return this.port(port).notifyVcpu;
  }

  // ------------------------------------------------------------------ guest operations

  /** EVTCHNOP_alloc_unbound: a port waiting for `remoteDom` to bind to it. */
  allocUnbound(remoteDom: number): number {
    const port = this.allocate();
    this.ports[port]!.binding = { state: 'unbound', remoteDom: this.resolveDomid(remoteDom) };
    return port;
  }

  /**
   * EVTCHNOP_bind_interdomain within this domain: connect a new port to our own unbound
   * `remotePort`, which must be waiting for us. Other domains are reached through host endpoints.
   */
  bindInterdomain(remoteDom: number, remotePort: number): number {
    if (!this.isSelf(remoteDom)) throw new NoSuchDomainError(remoteDom);
    const remote = this.port(remotePort);
    if (remote.binding.state !== 'unbound' || remote.binding.remoteDom !== this.domid) {
      throw new InvalidArgumentError(`port ${remotePort} is not waiting for a binding from domain ${this.domid}`);
    }
    const local = this.allocate();
    this.ports[local]!.binding = { state: 'interdomain', remoteDom: this.domid, remotePort, peer: { kind: 'local' } };
    remote.binding = { state: 'interdomain', remoteDom: this.domid, remotePort: local, peer: { kind: 'local' } };
    // Xen marks the new port pending: notifications sent to the unbound end were dropped, so the
    // binder is told to look once.
    this.delivery.setPending(local, this.ports[local]!.notifyVcpu);
    return local;
  }

  /** EVTCHNOP_bind_virq. */
  bindVirq(virq: number, vcpu: number): number {
    if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) throw new InvalidArgumentError(`no VIRQ ${virq}`);
    this.checkVcpu(vcpu);
    if (!PER_VCPU_VIRQS.has(virq) && vcpu !== 0) throw new InvalidArgumentError(`global VIRQ ${virq} must be bound on vCPU 0`);
    const row = this.virqPorts[vcpu]!;
    if (row[virq] !== 0) throw new AlreadyBoundError(`VIRQ ${virq} is already bound on vCPU ${vcpu} (port ${row[virq]})`);
    const port = this.allocate();
    this.ports[port] = { binding: { state: 'virq', virq }, notifyVcpu: vcpu };
    row[virq] = port;
    return port;
  }

  /** EVTCHNOP_bind_ipi. */
  bindIpi(vcpu: number): number {
    this.checkVcpu(vcpu);
    const port = this.allocate();
    this.ports[port] = { binding: { state: 'ipi' }, notifyVcpu: vcpu };
    return port;
  }

  /** EVTCHNOP_send. */
  send(port: number): void {
    const p = this.port(port);
    const b = p.binding;
    switch (b.state) {
      case 'interdomain':
        if (b.peer.kind === 'local') {
          this.delivery.setPending(b.remotePort, this.ports[b.remotePort]!.notifyVcpu);
        } else {
          b.peer.listener.notify();
        }
        return;
      case 'ipi':
        this.delivery.setPending(port, p.notifyVcpu);
        return;
      case 'unbound':
        return; // no one listens yet: Xen drops it silently
      case 'free':
      case 'reserved':
      case 'virq':
        throw new InvalidArgumentError(`cannot send on ${b.state} port ${port}`);
    }
  }

  /** EVTCHNOP_close. */
  close(port: number): void {
    const p = this.port(port);
    const b = p.binding;
    switch (b.state) {
      case 'free':
      case 'reserved':
        throw new InvalidArgumentError(`port ${port} is not open`);
      case 'virq': {
        const row = PER_VCPU_VIRQS.has(b.virq) ? this.virqPorts[p.notifyVcpu]! : this.virqPorts[0]!;
        row[b.virq] = 0;
        break;
      }
      case 'interdomain':
        if (b.peer.kind === 'local') {
          const other = this.ports[b.remotePort]!;
          other.binding = { state: 'unbound', remoteDom: this.domid };
        } else {
          b.peer.listener.closed();
        }
        break;
      case 'unbound':
      case 'ipi':
        break;
    }
    this.free(port);
  }

  /** EVTCHNOP_unmask. */
  unmask(port: number): void {
    const p = this.port(port);
    if (p.binding.state === 'free' || p.binding.state === 'reserved') throw new InvalidArgumentError(`port ${port} is not open`);
    this.delivery.unmask(port, p.notifyVcpu);
  }

  /** EVTCHNOP_status for one of our ports. Free and reserved ports report closed. */
  status(port: number): PortStatus {
    const p = this.port(port);
    const b = p.binding;
    switch (b.state) {
      case 'free':
      case 'reserved':
        return { status: EVTCHNSTAT_closed, vcpu: p.notifyVcpu, word0: 0, word1: 0 };
      case 'unbound':
        return { status: EVTCHNSTAT_unbound, vcpu: p.notifyVcpu, word0: b.remoteDom, word1: 0 };
      case 'interdomain':
        return { status: EVTCHNSTAT_interdomain, vcpu: p.notifyVcpu, word0: b.remoteDom, word1: b.remotePort };
      case 'virq':
        return { status: EVTCHNSTAT_virq, vcpu: p.notifyVcpu, word0: b.virq, word1: 0 };
      case 'ipi':
        return { status: EVTCHNSTAT_ipi, vcpu: p.notifyVcpu, word0: 0, word1: 0 };
    }
  }

  /** EVTCHNOP_bind_vcpu: move notifications of `port` to `vcpu`. */
  bindVcpu(port: number, vcpu: number): void {
    this.checkVcpu(vcpu);
    const p = this.port(port);
    const b = p.binding;
    switch (b.state) {
      case 'unbound':
      case 'interdomain':
        p.notifyVcpu = vcpu;
        return;
      case 'virq':
        // A global VIRQ may move; a per-vCPU one belongs to the vCPU it was bound on.
        if (PER_VCPU_VIRQS.has(b.virq)) throw new InvalidArgumentError(`VIRQ ${b.virq} on port ${port} is per-vCPU`);
        p.notifyVcpu = vcpu;
        return;
      case 'ipi':
      case 'free':
      case 'reserved':
        throw new InvalidArgumentError(`cannot rebind ${b.state} port ${port}`);
    }
  }

  /** True when any of `ports` is pending (SCHEDOP_poll's wake-up condition); ports are pre-validated. */
  anyPending(ports: readonly number[]): boolean {
    return ports.some((port) => this.delivery.sharedInfo.isPending(port));
  }

  // ------------------------------------------------------------------ host operations

  /**
   * Binds the host end of an interdomain channel to `port`, which the guest (or the toolstack on
   * its behalf, via allocUnbound) left unbound for domain `remoteDom`. `remotePort` is the port
   * number the guest will see in EVTCHNOP_status for the other end.
   */
  connectHost(port: number, remoteDom: number, remotePort: number, listener: HostEndpointListener): HostEndpoint {
    const p = this.port(port);
    if (p.binding.state !== 'unbound' || p.binding.remoteDom !== remoteDom) {
      throw new InvalidArgumentError(`port ${port} is not waiting for a binding from domain ${remoteDom}`);
    }
    const token = {};
    p.binding = { state: 'interdomain', remoteDom, remotePort, peer: { kind: 'host', listener, token } };
    const live = (): Port | null => {
      const cur = this.ports[port]!;
      return cur.binding.state === 'interdomain' && cur.binding.peer.kind === 'host' && cur.binding.peer.token === token ? cur : null;
    };
    return {
      port,
      raise: () => {
        const cur = live();
        if (!cur) return false;
        this.delivery.setPending(port, cur.notifyVcpu);
        return true;
      },
      close: () => {
        const cur = live();
        if (cur) cur.binding = { state: 'unbound', remoteDom };
      },
    };
  }

  /** Raises VIRQ `virq` for `vcpu` (vCPU 0 for global VIRQs); false if the guest has not bound it. */
  raiseVirq(virq: number, vcpu = 0): boolean {
    if (!Number.isInteger(virq) || virq < 0 || virq >= NR_VIRQS) throw new RangeError(`no VIRQ ${virq}`);
    const row = this.virqPorts[PER_VCPU_VIRQS.has(virq) ? vcpu : 0];
    if (!row) throw new RangeError(`no vCPU ${vcpu}`);
    const port = row[virq]!;
    if (port === 0) return false;
    this.delivery.setPending(port, this.ports[port]!.notifyVcpu);
    return true;
  }

  // ------------------------------------------------------------------ internals

  /** The port if `port` is within this domain's range; -EINVAL otherwise (Xen's port_is_valid). */
  private port(port: number): Port {
    const p = Number.isInteger(port) ? this.ports[port] : undefined;
    if (!p) throw new InvalidArgumentError(`port ${port} is outside 0..${this.maxPorts - 1}`);
    return p;
  }

  private allocate(): number {
    for (let i = 1; i < this.ports.length; i++) {
      if (this.ports[i]!.binding.state === 'free') return i;
    }
    throw new NoFreePortError(this.maxPorts - 1);
  }

  private free(port: number): void {
    this.delivery.sharedInfo.clearPending(port);
    this.ports[port] = { binding: { state: 'free' }, notifyVcpu: 0 };
  }

  private checkVcpu(vcpu: number): void {
    if (!Number.isInteger(vcpu) || vcpu < 0 || vcpu >= this.delivery.vcpuCount) throw new NoSuchVcpuError(vcpu);
  }
}

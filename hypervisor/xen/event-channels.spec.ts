import { beforeEach, describe, expect, it } from 'vitest';
import { PAGE_SIZE, gpa } from '../memory/guest-memory.ts';
import {
  DOMID_SELF,
  EVTCHNSTAT_closed,
  EVTCHNSTAT_interdomain,
  EVTCHNSTAT_ipi,
  EVTCHNSTAT_unbound,
  EVTCHNSTAT_virq,
  VIRQ_CONSOLE,
  VIRQ_DEBUG,
  VIRQ_TIMER,
} from './abi.ts';
import { AlreadyBoundError, InvalidArgumentError, NoFreePortError, NoSuchDomainError, NoSuchVcpuError } from './errors.ts';
import { EventChannelTable } from './event-channels.ts';
import { EventDelivery, type UpcallInjector } from './event-delivery.ts';
import { ArrayGuestMemory } from './test-support.ts';

class Recorder implements UpcallInjector {
  readonly injected: Array<[number, number]> = [];
  readonly woken: number[] = [];
  inject(vcpuId: number, vector: number): void {
    this.injected.push([vcpuId, vector]);
  }
  wake(vcpuId: number): void {
    this.woken.push(vcpuId);
  }
}

const SHINFO_GFN = 0x10n;
const VECTOR = 0xf3;

function setup(vcpus = 2, maxPorts?: number) {
  const memory = ArrayGuestMemory.flat(64);
  const injector = new Recorder();
  const delivery = new EventDelivery({ memory, vcpus, injector });
  const table = new EventChannelTable({ domid: 5, delivery, ...(maxPorts === undefined ? {} : { maxPorts }) });
  const page = () => memory.view(gpa(Number(SHINFO_GFN) * PAGE_SIZE), PAGE_SIZE);
  const u64 = (offset: number) => new DataView(page().buffer, page().byteOffset).getBigUint64(offset, true);
  return { memory, injector, delivery, table, page, u64 };
}

describe('event delivery (2-level)', () => {
  let s: ReturnType<typeof setup>;
  beforeEach(() => {
    s = setup();
    s.delivery.mapSharedInfo(SHINFO_GFN);
    s.delivery.setUpcallVector(0, VECTOR);
    s.delivery.setUpcallVector(1, VECTOR + 1);
  });

  it('sets pending, selector and upcall_pending, and injects once on the 0->1 edge', () => {
    const port = s.table.bindIpi(1);
    s.table.send(port);
    expect(s.u64(0x800)).toBe(1n << BigInt(port));
    const vi1 = 64;
    expect(s.page()[vi1]).toBe(1); // evtchn_upcall_pending of vCPU 1
    expect(s.u64(vi1 + 8)).toBe(1n); // selector bit 0: port < 64
    expect(s.injector.injected).toEqual([[1, VECTOR + 1]]);
    // A second port in the same word, same vCPU: upcall already pending, no second injection.
    s.table.send(s.table.bindIpi(1));
    expect(s.injector.injected.length).toBe(1);
  });

  it('sets the right selector bit and pending word for a high port', () => {
    const d = setup(1, 4096);
    d.delivery.mapSharedInfo(SHINFO_GFN);
    d.delivery.setUpcallVector(0, VECTOR);
    const ports: number[] = [];
    for (let i = 0; i < 200; i++) ports.push(d.table.bindIpi(0));
    const port = ports[199]!; // 200: word 3, bit 8
    d.table.send(port);
    expect(port).toBe(200);
    expect(d.u64(0x800 + 3 * 8)).toBe(1n << 8n);
    expect(d.u64(8)).toBe(1n << 3n);
  });

  it('a masked port stays pending without an upcall; unmask delivers it', () => {
    const port = s.table.bindIpi(0);
    s.delivery.sharedInfo.setMask(port);
    s.table.send(port);
    expect(s.delivery.sharedInfo.isPending(port)).toBe(true);
    expect(s.injector.injected).toEqual([]);
    expect(s.injector.woken).toEqual([0]); // pollers still hear about it
    s.table.unmask(port);
    expect(s.injector.injected).toEqual([[0, VECTOR]]);
    expect(s.delivery.sharedInfo.isMasked(port)).toBe(false);
  });

  it('unmask of a port that is not pending delivers nothing', () => {
    const port = s.table.bindIpi(0);
    s.delivery.sharedInfo.setMask(port);
    s.table.unmask(port);
    expect(s.injector.injected).toEqual([]);
  });

  it('does not re-raise a port that is already pending', () => {
    const port = s.table.bindIpi(0);
    s.table.send(port);
    s.page()[0] = 0; // guest clears upcall_pending but has not scanned yet
    s.table.send(port);
    expect(s.injector.injected.length).toBe(1);
  });

  it('re-injects while upcall_pending stays set (lost edge)', () => {
    const port = s.table.bindIpi(0);
    s.table.send(port); // imagine the LAPIC dropped this one
    expect(s.delivery.reinjectIfPending(0)).toBe(true);
    expect(s.injector.injected).toEqual([
      [0, VECTOR],
      [0, VECTOR],
    ]);
    s.page()[0] = 0; // the guest took the upcall
    expect(s.delivery.reinjectIfPending(0)).toBe(false);
  });
});

describe('events before shared_info is mapped and vcpu_info registration', () => {
  it('keeps bits raised before the mapping and injects once a vector arrives', () => {
    const s = setup();
    const port = s.table.bindIpi(0);
    s.table.send(port);
    expect(s.injector.injected).toEqual([]);
    s.delivery.mapSharedInfo(SHINFO_GFN);
    expect(s.u64(0x800)).toBe(1n << BigInt(port));
    s.delivery.setUpcallVector(0, VECTOR); // Xen delivers at once when upcall_pending is set
    expect(s.injector.injected).toEqual([[0, VECTOR]]);
  });

  it('zeroes the rest of the adopted page', () => {
    const s = setup();
    s.page().fill(0xee);
    s.delivery.mapSharedInfo(SHINFO_GFN);
    expect(s.page().every((b) => b === 0)).toBe(true);
  });

  it('refuses a shared_info frame outside RAM', () => {
    const s = setup();
    expect(() => s.delivery.mapSharedInfo(64n)).toThrow(InvalidArgumentError);
    expect(() => s.delivery.mapSharedInfo(1n << 60n)).toThrow(InvalidArgumentError);
  });

  it('moves vcpu_info, marks everything pending there and delivers to it', () => {
    const s = setup();
    s.delivery.mapSharedInfo(SHINFO_GFN);
    s.delivery.setUpcallVector(1, VECTOR);
    s.delivery.registerVcpuInfo(1, 0x20n, 0x40);
    const vi = s.memory.view(gpa(0x20 * PAGE_SIZE + 0x40), 64);
    expect(vi[0]).toBe(1);
    expect(new DataView(vi.buffer, vi.byteOffset).getBigUint64(8, true)).toBe(0xffff_ffff_ffff_ffffn);
    expect(s.injector.injected).toEqual([[1, VECTOR]]);
    vi.fill(0);
    const port = s.table.bindIpi(1);
    s.table.send(port);
    expect(vi[0]).toBe(1);
    expect(s.page()[64]).toBe(0); // legacy slot of vCPU 1 untouched
  });

  it('accepts a vcpu_info straddling a page boundary of contiguous RAM, refuses misalignment and holes', () => {
    const s = setup();
    expect(() => s.delivery.registerVcpuInfo(0, 0x20n, 4096 - 32)).not.toThrow();
    expect(s.delivery.registeredVcpuInfo(0)).toBe(0x20 * PAGE_SIZE + 4096 - 32);
    expect(() => s.delivery.registerVcpuInfo(0, 0x20n, 4)).toThrow(InvalidArgumentError);
    expect(() => s.delivery.registerVcpuInfo(0, 0x20n, 4096)).toThrow(InvalidArgumentError);
    expect(() => s.delivery.registerVcpuInfo(0, 63n, 4096 - 32)).toThrow(InvalidArgumentError); // runs off RAM
    expect(() => s.delivery.registerVcpuInfo(2, 0x20n, 0)).toThrow(NoSuchVcpuError);
  });

  it('refuses upcall vectors below 0x10', () => {
    const s = setup();
    expect(() => s.delivery.setUpcallVector(0, 0x0f)).toThrow(InvalidArgumentError);
    expect(() => s.delivery.setUpcallVector(0, 0x100)).toThrow(InvalidArgumentError);
  });
});

describe('EventChannelTable', () => {
  let s: ReturnType<typeof setup>;
  beforeEach(() => {
    s = setup();
    s.delivery.mapSharedInfo(SHINFO_GFN);
    s.delivery.setUpcallVector(0, VECTOR);
  });

  it('allocates the lowest free port from 1 and reuses closed ones', () => {
    expect(s.table.allocUnbound(0)).toBe(1);
    expect(s.table.bindIpi(0)).toBe(2);
    expect(s.table.bindVirq(VIRQ_DEBUG, 0)).toBe(3);
    s.table.close(2);
    expect(s.table.bindIpi(1)).toBe(2);
  });

  it('reports status for every state, closed for free and reserved ports', () => {
    const unbound = s.table.allocUnbound(0);
    const virq = s.table.bindVirq(VIRQ_TIMER, 1);
    const ipi = s.table.bindIpi(1);
    expect(s.table.status(unbound)).toEqual({ status: EVTCHNSTAT_unbound, vcpu: 0, word0: 0, word1: 0 });
    expect(s.table.status(virq)).toEqual({ status: EVTCHNSTAT_virq, vcpu: 1, word0: VIRQ_TIMER, word1: 0 });
    expect(s.table.status(ipi)).toEqual({ status: EVTCHNSTAT_ipi, vcpu: 1, word0: 0, word1: 0 });
    expect(s.table.status(0).status).toBe(EVTCHNSTAT_closed);
    expect(s.table.status(100).status).toBe(EVTCHNSTAT_closed);
    expect(() => s.table.status(1024)).toThrow(InvalidArgumentError);
  });

  it('binds VIRQs once per vCPU; global VIRQs only on vCPU 0', () => {
    s.table.bindVirq(VIRQ_TIMER, 0);
    s.table.bindVirq(VIRQ_TIMER, 1);
    expect(() => s.table.bindVirq(VIRQ_TIMER, 0)).toThrow(AlreadyBoundError);
    expect(() => s.table.bindVirq(VIRQ_CONSOLE, 1)).toThrow(InvalidArgumentError);
    expect(() => s.table.bindVirq(24, 0)).toThrow(InvalidArgumentError);
    expect(() => s.table.bindVirq(VIRQ_TIMER, 2)).toThrow(NoSuchVcpuError);
    expect(() => s.table.bindIpi(2)).toThrow(NoSuchVcpuError);
  });

  it('raises a bound VIRQ from the host, and can rebind it after close', () => {
    const port = s.table.bindVirq(VIRQ_TIMER, 0);
    expect(s.table.raiseVirq(VIRQ_TIMER, 0)).toBe(true);
    expect(s.delivery.sharedInfo.isPending(port)).toBe(true);
    expect(s.table.raiseVirq(VIRQ_TIMER, 1)).toBe(false);
    s.table.close(port);
    expect(s.delivery.sharedInfo.isPending(port)).toBe(false); // close clears pending
    expect(s.table.raiseVirq(VIRQ_TIMER, 0)).toBe(false);
    expect(s.table.bindVirq(VIRQ_TIMER, 0)).toBe(port);
  });

  it('drops sends on unbound ports, refuses sends on virq, free and reserved ports', () => {
    const unbound = s.table.allocUnbound(0);
    s.table.send(unbound);
    expect(s.delivery.sharedInfo.isPending(unbound)).toBe(false);
    const virq = s.table.bindVirq(VIRQ_DEBUG, 0);
    expect(() => s.table.send(virq)).toThrow(InvalidArgumentError);
    expect(() => s.table.send(0)).toThrow(InvalidArgumentError);
    expect(() => s.table.send(500)).toThrow(InvalidArgumentError);
    expect(() => s.table.send(-1)).toThrow(InvalidArgumentError);
    expect(() => s.table.send(1.5)).toThrow(InvalidArgumentError);
  });

  it('closes only open ports', () => {
    expect(() => s.table.close(0)).toThrow(InvalidArgumentError);
    expect(() => s.table.close(7)).toThrow(InvalidArgumentError);
    const p = s.table.bindIpi(0);
    s.table.close(p);
    expect(() => s.table.close(p)).toThrow(InvalidArgumentError);
    expect(() => s.table.unmask(p)).toThrow(InvalidArgumentError);
  });

  it('connects a loopback interdomain channel and sends both ways', () => {
    const a = s.table.allocUnbound(DOMID_SELF);
    const b = s.table.bindInterdomain(DOMID_SELF, a);
    expect(s.table.status(a)).toEqual({ status: EVTCHNSTAT_interdomain, vcpu: 0, word0: 5, word1: b });
    expect(s.table.status(b)).toEqual({ status: EVTCHNSTAT_interdomain, vcpu: 0, word0: 5, word1: a });
    expect(s.delivery.sharedInfo.isPending(b)).toBe(true); // Xen's conservative notification
    s.table.send(b);
    expect(s.delivery.sharedInfo.isPending(a)).toBe(true);
    s.table.close(a);
    expect(s.table.status(b)).toEqual({ status: EVTCHNSTAT_unbound, vcpu: 0, word0: 5, word1: 0 });
  });

  it('refuses interdomain binds to ports not waiting for us and to other domains', () => {
    const forDom0 = s.table.allocUnbound(0);
    expect(() => s.table.bindInterdomain(DOMID_SELF, forDom0)).toThrow(InvalidArgumentError);
    expect(() => s.table.bindInterdomain(DOMID_SELF, s.table.bindIpi(0))).toThrow(InvalidArgumentError);
    expect(() => s.table.bindInterdomain(0, forDom0)).toThrow(NoSuchDomainError);
  });

  it('moves notifications with bind_vcpu for unbound, interdomain and global VIRQ ports only', () => {
    s.delivery.setUpcallVector(1, VECTOR);
    const a = s.table.allocUnbound(DOMID_SELF);
    const b = s.table.bindInterdomain(DOMID_SELF, a);
    s.table.bindVcpu(a, 1);
    s.table.send(b);
    expect(s.injector.injected.at(-1)).toEqual([1, VECTOR]);
    expect(() => s.table.bindVcpu(s.table.bindIpi(0), 1)).toThrow(InvalidArgumentError);
    expect(() => s.table.bindVcpu(s.table.bindVirq(VIRQ_TIMER, 0), 1)).toThrow(InvalidArgumentError);
    expect(() => s.table.bindVcpu(s.table.bindVirq(VIRQ_CONSOLE, 0), 1)).not.toThrow();
    expect(() => s.table.bindVcpu(a, 9)).toThrow(NoSuchVcpuError);
  });

  it('runs out of ports with -ENOSPC', () => {
    const small = setup(1, 4);
    small.table.bindIpi(0);
    small.table.bindIpi(0);
    small.table.bindIpi(0);
    expect(() => small.table.bindIpi(0)).toThrow(NoFreePortError);
  });

  it('serves host endpoints: guest sends reach the listener, host raises reach the guest', () => {
    const port = s.table.allocUnbound(0);
    const events: string[] = [];
    const ep = s.table.connectHost(port, 0, 7, { notify: () => events.push('notify'), closed: () => events.push('closed') });
    expect(s.table.status(port)).toEqual({ status: EVTCHNSTAT_interdomain, vcpu: 0, word0: 0, word1: 7 });
    s.table.send(port);
    expect(events).toEqual(['notify']);
    expect(ep.raise()).toBe(true);
    expect(s.delivery.sharedInfo.isPending(port)).toBe(true);
    s.table.close(port);
    expect(events).toEqual(['notify', 'closed']);
    expect(ep.raise()).toBe(false);
    // A new binding on the same port number is not reachable through the old endpoint.
    const again = s.table.allocUnbound(0);
    expect(again).toBe(port);
    s.table.connectHost(again, 0, 8, { notify: () => undefined, closed: () => undefined });
    ep.close();
    expect(s.table.binding(again).state).toBe('interdomain');
  });

  it('host close leaves the guest port unbound for the same remote domain', () => {
    const port = s.table.allocUnbound(0);
    const ep = s.table.connectHost(port, 0, 7, { notify: () => undefined, closed: () => undefined });
    ep.close();
    expect(s.table.status(port)).toEqual({ status: EVTCHNSTAT_unbound, vcpu: 0, word0: 0, word1: 0 });
    expect(() => s.table.connectHost(port, 3, 1, { notify: () => undefined, closed: () => undefined })).toThrow(InvalidArgumentError);
  });
});

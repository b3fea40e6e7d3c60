// Event delivery for one domain: where shared_info and each vcpu_info live, each vCPU's upcall
// vector, and the 2-level "set pending" that turns a port notification into an interrupt.
//
// Two-level raise (Xen's evtchn_2l_set_pending and vcpu_mark_events_pending):
//   1. test-and-set evtchn_pending[port]; if it was already set, stop (the guest has yet to see it);
//   2. if evtchn_mask[port] is set, stop (the guest will find it when it unmasks);
//   3. test-and-set bit port/64 of the target vcpu_info's evtchn_pending_sel; if set, stop;
//   4. test-and-set evtchn_upcall_pending; inject the vCPU's upcall vector only on its 0 -> 1 edge.
// The guest's upcall handler clears upcall_pending, swaps pending_sel to 0, then scans
// pending & ~mask, and loops while upcall_pending is set again, so an event raised during its scan
// re-triggers step 4 and nothing is lost.
//
// Lost edge. KVM drops a fixed interrupt sent to a LAPIC that software has not enabled yet, and
// Linux registers its upcall vector before it enables the LAPIC (and for APs still waiting for
// SIPI). An event raised then sets upcall_pending, the injection is dropped, and every later event
// stops at step 4 because upcall_pending is already 1: the vCPU would never get another upcall.
// Xen re-injects when the guest enables its LAPIC; our vCPU loops call reinjectIfPending() at the
// equivalent points (after an APIC enable, on exits while upcall_pending stays set).
import { GuestMemoryError, PAGE_SIZE, gpa, type Gpa, type GuestMemory } from '../memory/guest-memory.ts';
import { BITS_PER_EVTCHN_WORD, MIN_UPCALL_VECTOR, XEN_LEGACY_MAX_VCPUS, XEN_PAGE_SIZE } from './abi.ts';
import { InvalidArgumentError, NoSuchVcpuError } from './errors.ts';
import { SharedInfoView, VCPU_INFO_SIZE, VcpuInfoView, shared_info } from './shared-info.ts';

/**
 * How an upcall reaches a vCPU. The KVM engine sends an MSI to the vCPU's APIC
 * (KVM_SIGNAL_MSI or an irqfd routed as MSI: fixed delivery, edge, the guest EOIs); a process
 * guest queues a callback.
 */
export interface UpcallInjector {
  /** Deliver `vector` to vCPU `vcpuId`. It may be lost if the target's LAPIC is disabled. */
  inject(vcpuId: number, vector: number): void;
  /**
   * Optional: a port notifying `vcpuId` just became pending (masked or not). An engine that parked
   * the vCPU in SCHEDOP_poll or SCHEDOP_block uses it to resume the vCPU and re-check.
   */
  wake?(vcpuId: number): void;
}

interface VcpuSlot {
  /** Guest-physical address of a registered vcpu_info, or null while it is the legacy slot. */
  registered: Gpa | null;
  registeredView: VcpuInfoView | null;
  /** Upcall vector from HVMOP_set_evtchn_upcall_vector; 0 = none. */
  vector: number;
}

export interface EventDeliveryOptions {
  readonly memory: GuestMemory;
  readonly vcpus: number;
  readonly injector: UpcallInjector;
}

export class EventDelivery {
  private readonly memory: GuestMemory;
  private readonly injector: UpcallInjector;
  private readonly slots: VcpuSlot[];
  private shared: SharedInfoView;
  private sharedGfn: number | null = null;
  /** Views of the legacy vcpu_info slots of the current shared_info, made on first use. */
  private legacy: Array<VcpuInfoView | undefined> = [];
  /** vcpu_info for vCPUs >= XEN_LEGACY_MAX_VCPUS that have not registered one: events wait here. */
  private readonly overflowInfo: VcpuInfoView[];

  constructor(options: EventDeliveryOptions) {
    this.memory = options.memory;
    this.injector = options.injector;
    // Until the guest maps shared_info, its bits live in a private page. Xen's shared_info page
    // exists from domain creation, so events raised before the mapping must survive it.
    this.shared = new SharedInfoView(new Uint8Array(XEN_PAGE_SIZE));
    this.slots = Array.from({ length: options.vcpus }, () => ({ registered: null, registeredView: null, vector: 0 }));
    this.overflowInfo = Array.from({ length: Math.max(0, options.vcpus - XEN_LEGACY_MAX_VCPUS) }, () => new VcpuInfoView(new Uint8Array(VCPU_INFO_SIZE)));
  }

  get vcpuCount(): number {
    return this.slots.length;
  }

  get sharedInfo(): SharedInfoView {
    return this.shared;
  }

  /** Guest frame number the guest mapped shared_info at, or null before XENMEM_add_to_physmap. */
  get sharedInfoGfn(): number | null {
    return this.sharedGfn;
  }

  /**
   * XENMAPSPACE_shared_info: make guest page `gfn` the shared_info page.
   *
   * On Xen, shared_info is a hypervisor page that add_to_physmap inserts at `gfn`, replacing
   * whatever RAM page was there. We have no separate page to insert without creating a KVM memory
   * slot, so we adopt the guest's own RAM page at `gfn` and initialise it as shared_info. For the
   * guest this is the same: from now on the page at `gfn` reads as shared_info, and its previous
   * RAM contents are gone, as they would be on Xen (Linux picks a page it reserved for this).
   * A gfn that is not guest RAM (a hole) would need a new memory slot, which this layer cannot
   * create: it is refused with -EINVAL.
   */
  mapSharedInfo(gfn: bigint): void {
    const page = this.ramPage(gfn, XEN_PAGE_SIZE);
    if (page === null) throw new InvalidArgumentError(`shared_info gfn 0x${gfn.toString(16)} is not a guest RAM page`);
    if (Number(gfn) === this.sharedGfn) return;
    const bytes = this.memory.view(page, XEN_PAGE_SIZE);
    // Carry over everything raised so far (stand-in page or previous mapping), zero the rest.
    const previous = this.shared.bytes.slice(0, shared_info.size);
    bytes.fill(0);
    bytes.set(previous, 0);
    this.shared = new SharedInfoView(bytes);
    this.legacy = [];
    this.sharedGfn = Number(gfn);
  }

  /**
   * VCPUOP_register_vcpu_info: vCPU `vcpuId` moves its vcpu_info to guest-physical
   * mfn * 4096 + offset.
   *
   * Xen requires the 64 bytes to sit inside one page. Linux 6.1 places vcpu_info in a per-CPU
   * variable it does not align to 64, so it can straddle a page boundary, and 6.1 treats a failure
   * here as fatal. Since the address is guest-physical (no page-by-page translation involved), we
   * accept a straddling vcpu_info whenever the 64 bytes are contiguous guest RAM. We do require
   * 8-byte alignment (the C struct's own alignment) so the pending words can be updated atomically.
   */
  registerVcpuInfo(vcpuId: number, mfn: bigint, offset: number): void {
    const slot = this.slot(vcpuId);
    if (offset >= XEN_PAGE_SIZE) throw new InvalidArgumentError(`vcpu_info offset ${offset} is outside the page`);
    if (offset % 8 !== 0) throw new InvalidArgumentError(`vcpu_info offset ${offset} is not 8-byte aligned`);
    // [page start, end of vcpu_info) must be one stretch of RAM; that covers the straddling case.
    const base = this.ramPage(mfn, offset + VCPU_INFO_SIZE);
    if (base === null) throw new InvalidArgumentError(`vcpu_info at mfn 0x${mfn.toString(16)}+${offset} is not contiguous guest RAM`);
    const where = gpa(base + offset);
    const next = new VcpuInfoView(this.memory.view(where, VCPU_INFO_SIZE));
    this.vcpuInfo(vcpuId).copyTo(next);
    next.markAllPending();
    slot.registered = where;
    slot.registeredView = next;
    this.kick(vcpuId);
  }

  /** Guest-physical address of vCPU `vcpuId`'s registered vcpu_info, or null (legacy slot). */
  registeredVcpuInfo(vcpuId: number): Gpa | null {
    return this.slot(vcpuId).registered;
  }

  /** The vcpu_info events for `vcpuId` are delivered to right now. */
  vcpuInfo(vcpuId: number): VcpuInfoView {
    const slot = this.slot(vcpuId);
    if (slot.registeredView) return slot.registeredView;
    if (vcpuId < XEN_LEGACY_MAX_VCPUS) return (this.legacy[vcpuId] ??= new VcpuInfoView(this.shared.vcpuInfoSlot(vcpuId)));
    return this.overflowInfo[vcpuId - XEN_LEGACY_MAX_VCPUS]!;
  }

  /** HVMOP_set_evtchn_upcall_vector. Like Xen, delivers at once if an upcall is already pending. */
  setUpcallVector(vcpuId: number, vector: number): void {
    // Xen checks the vector (-EINVAL) before it looks the vCPU up (-ENOENT).
    if (!Number.isInteger(vector) || vector < MIN_UPCALL_VECTOR || vector > 0xff) {
      throw new InvalidArgumentError(`upcall vector ${vector} is below 0x${MIN_UPCALL_VECTOR.toString(16)} or above 0xff`);
    }
    const slot = this.slot(vcpuId);
    slot.vector = vector;
    this.reinjectIfPending(vcpuId);
  }

  upcallVector(vcpuId: number): number {
    return this.slot(vcpuId).vector;
  }

  /** Steps 1-4 for `port`, bound to `vcpuId`. */
  setPending(port: number, vcpuId: number): void {
    if (this.shared.testAndSetPending(port)) return;
    this.injector.wake?.(vcpuId);
    if (this.shared.isMasked(port)) return;
    this.markSelector(port, vcpuId);
  }

  /** EVTCHNOP_unmask in the 2-level ABI: clear the mask; if it was set and the port is pending, steps 3-4. */
  unmask(port: number, vcpuId: number): void {
    if (this.shared.testAndClearMask(port) && this.shared.isPending(port)) this.markSelector(port, vcpuId);
  }

  /**
   * Injects the upcall vector again if `vcpuId` still has evtchn_upcall_pending set: the cure for a
   * lost edge (see the top of this file). Returns whether it injected. Cheap enough to call on
   * every exit; a spurious upcall only costs the guest an empty scan.
   */
  reinjectIfPending(vcpuId: number): boolean {
    const slot = this.slot(vcpuId);
    if (slot.vector === 0 || !this.vcpuInfo(vcpuId).upcallPending) return false;
    this.injector.inject(vcpuId, slot.vector);
    return true;
  }

  private markSelector(port: number, vcpuId: number): void {
    const info = this.vcpuInfo(vcpuId);
    if (info.testAndSetSelector(Math.floor(port / BITS_PER_EVTCHN_WORD))) return;
    if (info.testAndSetUpcallPending()) return;
    this.kick(vcpuId);
  }

  /** upcall_pending just went 0 -> 1 (or was forced to 1): inject if the guest gave us a vector. */
  private kick(vcpuId: number): void {
    const vector = this.slot(vcpuId).vector;
    // No vector yet is normal early in boot: Linux registers vcpu_info (which marks everything
    // pending) before init_IRQ sets the vector. The event waits; setUpcallVector delivers it.
    if (vector !== 0) this.injector.inject(vcpuId, vector);
  }

  private slot(vcpuId: number): VcpuSlot {
    const slot = Number.isInteger(vcpuId) ? this.slots[vcpuId] : undefined;
    if (!slot) throw new NoSuchVcpuError(vcpuId);
    return slot;
  }

  /** Guest-physical base of frame `frame` if [base, base + length) is guest RAM, else null. */
  private ramPage(frame: bigint, length: number): Gpa | null {
    if (frame < 0n || frame > BigInt(Math.floor(Number.MAX_SAFE_INTEGER / PAGE_SIZE)) - 2n) return null;
    try {
      const base = gpa(Number(frame) * PAGE_SIZE);
      return this.memory.contains(base, length) ? base : null;
    } catch (err) {
      if (err instanceof GuestMemoryError) return null;
      throw err;
    }
  }
}

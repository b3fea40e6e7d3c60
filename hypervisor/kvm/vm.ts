// A KVM VM file descriptor (rust-vmm's `VmFd`): guest memory slots, the in-kernel irqchip and PIT,
// interrupt and notification plumbing (irqfd, ioeventfd, MSI), VM-wide capabilities, the MSR
// filter, and vCPU creation. Every operation that needs an optional capability checks it first and
// throws KvmCapabilityError naming it, instead of letting the ioctl fail with a bare EINVAL.
import * as fs from 'node:fs';
import type { FileGuestMemory, Gpa } from '../memory/guest-memory.ts';
import { PAGE_SIZE } from '../memory/guest-memory.ts';
import type { SharedMemoryFile } from '../memory/shared-memory-file.ts';
import { withNativeBuffer } from '../native/libc.ts';
import { KvmArgumentError, KvmCapabilityError, KvmClosedError } from './errors.ts';
import { kvmIoctl, kvmIoctlValue } from './ioctl.ts';
import {
  KVM_CAPS,
  KVM_IOCTLS,
  KVM_IOEVENTFD_FLAG_DATAMATCH,
  KVM_IOEVENTFD_FLAG_DEASSIGN,
  KVM_IOEVENTFD_FLAG_PIO,
  KVM_IRQCHIP_IOAPIC,
  KVM_IRQCHIP_PIC_MASTER,
  KVM_IRQCHIP_PIC_SLAVE,
  KVM_IRQFD_FLAG_DEASSIGN,
  KVM_IRQ_ROUTING_IRQCHIP,
  KVM_IRQ_ROUTING_MSI,
  KVM_MEM_LOG_DIRTY_PAGES,
  KVM_MEM_READONLY,
  KVM_MSI_VALID_DEVID,
  KVM_MSR_EXIT_REASON_FILTER,
  KVM_MSR_EXIT_REASON_INVAL,
  KVM_MSR_EXIT_REASON_UNKNOWN,
  KVM_MSR_FILTER_DEFAULT_ALLOW,
  KVM_MSR_FILTER_DEFAULT_DENY,
  KVM_MSR_FILTER_MAX_BITMAP_SIZE,
  KVM_MSR_FILTER_MAX_RANGES,
  KVM_MSR_FILTER_READ,
  KVM_MSR_FILTER_WRITE,
  KVM_PIT_SPEAKER_DUMMY,
  type KvmCapName,
} from './kvm-ioctls.ts';
import {
  KVM_ENABLE_CAP,
  KVM_IOEVENTFD,
  KVM_IRQFD,
  KVM_IRQ_LEVEL,
  KVM_IRQ_ROUTING,
  KVM_IRQ_ROUTING_IRQCHIP_ENTRY,
  KVM_IRQ_ROUTING_MSI_ENTRY,
  KVM_MSI,
  KVM_MSR_FILTER,
  KVM_PIT_CONFIG,
  KVM_USERSPACE_MEMORY_REGION,
} from './kvm-structs.ts';
import { Vcpu } from './vcpu.ts';

/** One guest-physical range backed by part of a shared-memory file. */
export interface UserMemoryRegion {
  readonly slot: number;
  readonly guestPhysAddr: Gpa;
  /** Bytes; a multiple of the page size. */
  readonly size: number;
  readonly file: SharedMemoryFile;
  /** Offset of guestPhysAddr within the file; page-aligned. */
  readonly fileOffset: number;
  /** Guest writes exit as MMIO instead of landing in memory (KVM_CAP_READONLY_MEM). */
  readonly readonly?: boolean;
  readonly logDirty?: boolean;
}

export interface IoeventfdSpec {
  /** The eventfd KVM signals on a matching guest write. */
  readonly eventfd: number;
  readonly space: 'pio' | 'mmio';
  readonly address: number;
  /** Access width to match: 1, 2, 4 or 8 bytes; 0 matches any width (KVM_CAP_IOEVENTFD_ANY_LENGTH). */
  readonly length: 0 | 1 | 2 | 4 | 8;
  /** Only writes of this value trigger the eventfd. */
  readonly datamatch?: bigint;
}

export interface MsiMessage {
  /** 64-bit MSI address, e.g. 0xFEE00000 | (apicId << 12). */
  readonly address: bigint;
  readonly data: number;
  readonly devid?: number;
}

/** One GSI routing entry: to an in-kernel irqchip pin, or to an MSI (e.g. a vCPU's upcall vector). */
export type GsiRoute =
  | { readonly gsi: number; readonly kind: 'irqchip'; readonly irqchip: 'pic-master' | 'pic-slave' | 'ioapic'; readonly pin: number }
  | { readonly gsi: number; readonly kind: 'msi'; readonly msi: MsiMessage };

/**
 * The routing KVM installs with KVM_CREATE_IRQCHIP: GSIs 0-15 to both the PICs and the IOAPIC,
 * 16-23 to the IOAPIC. KVM_SET_GSI_ROUTING replaces the whole table, so a caller adding MSI
 * routes starts from this.
 */
export function defaultIrqchipRoutes(): GsiRoute[] {
  const routes: GsiRoute[] = [];
  for (let gsi = 0; gsi < 24; gsi++) {
    if (gsi < 8) routes.push({ gsi, kind: 'irqchip', irqchip: 'pic-master', pin: gsi });
    else if (gsi < 16) routes.push({ gsi, kind: 'irqchip', irqchip: 'pic-slave', pin: gsi - 8 });
    routes.push({ gsi, kind: 'irqchip', irqchip: 'ioapic', pin: gsi });
  }
  return routes;
}

/** Which userspace MSR exits to enable with KVM_CAP_X86_USER_SPACE_MSR. */
export interface UserSpaceMsrExits {
  /** MSRs denied by the MSR filter (KVM_MSR_EXIT_REASON_FILTER). */
  readonly filter?: boolean;
  /** MSRs KVM does not know (KVM_MSR_EXIT_REASON_UNKNOWN). */
  readonly unknown?: boolean;
  /** Accesses KVM knows but rejects (KVM_MSR_EXIT_REASON_INVAL). */
  readonly inval?: boolean;
}

/**
 * One range of the MSR filter. An MSR whose bitmap bit is 0 is *denied* for the listed
 * operations: with user-space filter exits enabled, the access exits to us instead of reaching KVM.
 */
export interface MsrFilterRange {
  readonly base: number;
  readonly nmsrs: number;
  readonly read: boolean;
  readonly write: boolean;
  /** Bit i allows base+i; absent means all zero, i.e. every MSR of the range exits to userspace. */
  readonly bitmap?: Uint8Array;
}

export interface MsrFilter {
  /** What happens to MSRs outside every range. */
  readonly defaultAction: 'allow' | 'deny';
  readonly ranges: readonly MsrFilterRange[];
}

export class Vm {
  private closed = false;
  private readonly caps = new Map<KvmCapName, number>();
  private readonly slots = new Map<number, UserMemoryRegion>();
  private irqchip = false;

  /** Built by Kvm.createVm(); owns `fd`. */
  constructor(
    readonly fd: number,
    readonly vcpuMmapSize: number,
  ) {}

  private liveFd(): number {
    if (this.closed) throw new KvmClosedError('VM');
    return this.fd;
  }

  /** KVM_CHECK_EXTENSION on the VM fd (answers for this VM, e.g. after KVM_CREATE_IRQCHIP). */
  checkExtension(cap: KvmCapName): number {
    const cached = this.caps.get(cap);
    if (cached !== undefined) return cached;
    const value = kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_CHECK_EXTENSION, KVM_CAPS[cap], cap);
    this.caps.set(cap, value);
    return value;
  }

  hasCapability(cap: KvmCapName): boolean {
    return this.checkExtension(cap) > 0;
  }

  /** Throws KvmCapabilityError naming `cap` when this VM lacks it. */
  requireCapability(cap: KvmCapName, operation: string): void {
    if (!this.hasCapability(cap)) throw new KvmCapabilityError(cap, operation);
  }

  /** KVM_SET_USER_MEMORY_REGION: maps part of a shared-memory file at a guest-physical address. */
  setUserMemoryRegion(region: UserMemoryRegion): void {
    const { slot, guestPhysAddr, size, file, fileOffset } = region;
    if (!Number.isInteger(slot) || slot < 0 || slot > 0x7fff) throw new KvmArgumentError(`memory slot ${slot} out of range`);
    if (guestPhysAddr % PAGE_SIZE !== 0) throw new KvmArgumentError(`guest address 0x${guestPhysAddr.toString(16)} is not page-aligned`);
    if (!Number.isSafeInteger(size) || size <= 0 || size % PAGE_SIZE !== 0) throw new KvmArgumentError(`region size ${size} is not a positive multiple of ${PAGE_SIZE}`);
    if (!Number.isSafeInteger(fileOffset) || fileOffset < 0 || fileOffset % PAGE_SIZE !== 0 || fileOffset + size > file.size) {
      throw new KvmArgumentError(`file range ${fileOffset}+${size} is not a page-aligned part of the ${file.size}-byte file`);
    }
    let flags = 0;
    if (region.readonly) {
      this.requireCapability('KVM_CAP_READONLY_MEM', 'a read-only memory slot');
      flags |= KVM_MEM_READONLY;
    }
    if (region.logDirty) flags |= KVM_MEM_LOG_DIRTY_PAGES;
    const arg = KVM_USERSPACE_MEMORY_REGION.encode({
      slot,
      flags,
      guest_phys_addr: BigInt(guestPhysAddr),
      memory_size: BigInt(size),
      userspace_addr: file.hostAddress + BigInt(fileOffset),
    });
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_USER_MEMORY_REGION, arg, `slot ${slot}`);
    // Keeping the region here keeps its file reachable while KVM holds the mapping's address.
    this.slots.set(slot, region);
  }

  /** Deletes a slot (KVM_SET_USER_MEMORY_REGION with memory_size 0). */
  removeUserMemoryRegion(slot: number): void {
    if (!this.slots.has(slot)) throw new KvmArgumentError(`memory slot ${slot} is not in use`);
    const arg = KVM_USERSPACE_MEMORY_REGION.encode({ slot, flags: 0, guest_phys_addr: 0n, memory_size: 0n, userspace_addr: 0n });
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_USER_MEMORY_REGION, arg, `slot ${slot}`);
    this.slots.delete(slot);
  }

  /** Registers every region of `memory` in consecutive slots from `firstSlot`; returns the slots. */
  mapGuestMemory(memory: FileGuestMemory, firstSlot = 0): number[] {
    return memory.regions.map((r, i) => {
      const slot = firstSlot + i;
      this.setUserMemoryRegion({ slot, guestPhysAddr: r.base, size: r.size, file: memory.file, fileOffset: r.fileOffset });
      return slot;
    });
  }

  get memoryRegions(): ReadonlyMap<number, UserMemoryRegion> {
    return this.slots;
  }

  /** KVM_CREATE_IRQCHIP: in-kernel PIC, IOAPIC and a LAPIC per vCPU; before any vCPU is created. */
  createIrqchip(): void {
    this.requireCapability('KVM_CAP_IRQCHIP', 'createIrqchip');
    kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_CREATE_IRQCHIP, 0);
    this.irqchip = true;
  }

  get hasIrqchip(): boolean {
    return this.irqchip;
  }

  /** KVM_CREATE_PIT2: the in-kernel i8254, delivering IRQ0 through the in-kernel irqchip. */
  createPit2(options: { speakerDummy?: boolean } = {}): void {
    this.requireCapability('KVM_CAP_PIT2', 'createPit2');
    if (!this.irqchip) throw new KvmArgumentError('createPit2 needs the in-kernel irqchip: call createIrqchip first');
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_CREATE_PIT2, KVM_PIT_CONFIG.encode({ flags: options.speakerDummy ? KVM_PIT_SPEAKER_DUMMY : 0 }));
  }

  /** KVM_SET_TSS_ADDR: three pages below 4 GiB that Intel VMX needs for real-mode emulation. */
  setTssAddr(address: number): void {
    this.requireCapability('KVM_CAP_SET_TSS_ADDR', 'setTssAddr');
    if (!Number.isInteger(address) || address < 0 || address > 0xffff_ffff - 3 * PAGE_SIZE) throw new KvmArgumentError(`TSS address 0x${address.toString(16)} must be below 4 GiB`);
    kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_SET_TSS_ADDR, address);
  }

  /** KVM_SET_IDENTITY_MAP_ADDR: the page VMX uses for its identity map; before any vCPU exists. */
  setIdentityMapAddr(address: bigint): void {
    this.requireCapability('KVM_CAP_SET_IDENTITY_MAP_ADDR', 'setIdentityMapAddr');
    const arg = new Uint8Array(8);
    new DataView(arg.buffer).setBigUint64(0, address, true);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_IDENTITY_MAP_ADDR, arg);
  }

  /** KVM_IRQ_LINE: drive an in-kernel irqchip input (GSI) high or low. */
  irqLine(irq: number, level: boolean): void {
    if (!this.irqchip) throw new KvmArgumentError('irqLine needs the in-kernel irqchip');
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_IRQ_LINE, KVM_IRQ_LEVEL.encode({ irq, level: level ? 1 : 0 }));
  }

  /**
   * KVM_SET_GSI_ROUTING: replaces the GSI routing table. With an MSI route, an irqfd on that GSI
   * injects the MSI straight from an eventfd write (Dom0 -> guest events with no JavaScript hop).
   */
  setGsiRouting(routes: readonly GsiRoute[]): void {
    this.requireCapability('KVM_CAP_IRQ_ROUTING', 'setGsiRouting');
    if (!this.irqchip) throw new KvmArgumentError('setGsiRouting needs the in-kernel irqchip');
    const entrySize = KVM_IRQ_ROUTING_MSI_ENTRY.size;
    const buf = new Uint8Array(KVM_IRQ_ROUTING.size + routes.length * entrySize);
    KVM_IRQ_ROUTING.encode({ nr: routes.length, flags: 0 }, buf);
    routes.forEach((r, i) => {
      const at = KVM_IRQ_ROUTING.size + i * entrySize;
      if (r.kind === 'irqchip') {
        const chip = r.irqchip === 'pic-master' ? KVM_IRQCHIP_PIC_MASTER : r.irqchip === 'pic-slave' ? KVM_IRQCHIP_PIC_SLAVE : KVM_IRQCHIP_IOAPIC;
        KVM_IRQ_ROUTING_IRQCHIP_ENTRY.encode({ gsi: r.gsi, type: KVM_IRQ_ROUTING_IRQCHIP, flags: 0, 'u.irqchip.irqchip': chip, 'u.irqchip.pin': r.pin }, buf, at);
      } else {
        KVM_IRQ_ROUTING_MSI_ENTRY.encode(
          {
            gsi: r.gsi,
            type: KVM_IRQ_ROUTING_MSI,
            flags: r.msi.devid === undefined ? 0 : KVM_MSI_VALID_DEVID,
            'u.msi.address_lo': Number(r.msi.address & 0xffff_ffffn),
            'u.msi.address_hi': Number((r.msi.address >> 32n) & 0xffff_ffffn),
            'u.msi.data': r.msi.data,
            'u.msi.devid': r.msi.devid ?? 0,
          },
          buf,
          at,
        );
      }
    });
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SET_GSI_ROUTING, buf, `${routes.length} routes`);
  }

  /** KVM_IRQFD: a write to `eventfd` raises `gsi`, with no userspace on the path. */
  registerIrqfd(eventfd: number, gsi: number): void {
    this.requireCapability('KVM_CAP_IRQFD', 'registerIrqfd');
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_IRQFD, KVM_IRQFD.encode({ fd: eventfd, gsi, flags: 0, resamplefd: 0 }), `gsi ${gsi}`);
  }

  unregisterIrqfd(eventfd: number, gsi: number): void {
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_IRQFD, KVM_IRQFD.encode({ fd: eventfd, gsi, flags: KVM_IRQFD_FLAG_DEASSIGN, resamplefd: 0 }), `gsi ${gsi}`);
  }

  /** KVM_IOEVENTFD: a guest write to the address signals `eventfd` instead of exiting to us. */
  registerIoeventfd(spec: IoeventfdSpec): void {
    this.requireCapability('KVM_CAP_IOEVENTFD', 'registerIoeventfd');
    if (spec.length === 0) this.requireCapability('KVM_CAP_IOEVENTFD_ANY_LENGTH', 'a zero-length ioeventfd');
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_IOEVENTFD, encodeIoeventfd(spec, 0), `${spec.space} 0x${spec.address.toString(16)}`);
  }

  unregisterIoeventfd(spec: IoeventfdSpec): void {
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_IOEVENTFD, encodeIoeventfd(spec, KVM_IOEVENTFD_FLAG_DEASSIGN), `${spec.space} 0x${spec.address.toString(16)}`);
  }

  /**
   * KVM_SIGNAL_MSI: injects one MSI. True when it was delivered, false when the guest had it
   * blocked (e.g. its LAPIC still software-disabled: the lost-edge case the event code re-injects).
   */
  signalMsi(msi: MsiMessage): boolean {
    this.requireCapability('KVM_CAP_SIGNAL_MSI', 'signalMsi');
    const arg = KVM_MSI.encode({
      address_lo: Number(msi.address & 0xffff_ffffn),
      address_hi: Number((msi.address >> 32n) & 0xffff_ffffn),
      data: msi.data,
      flags: msi.devid === undefined ? 0 : KVM_MSI_VALID_DEVID,
      devid: msi.devid ?? 0,
    });
    return kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_SIGNAL_MSI, arg) > 0;
  }

  /** KVM_ENABLE_CAP on the VM fd. */
  enableCap(cap: KvmCapName, args: readonly bigint[] = [], flags = 0): void {
    this.requireCapability(cap, `enableCap(${cap})`);
    if (args.length > 4) throw new KvmArgumentError('kvm_enable_cap takes at most 4 arguments');
    const padded = [...args, 0n, 0n, 0n, 0n].slice(0, 4);
    kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_ENABLE_CAP, KVM_ENABLE_CAP.encode({ cap: KVM_CAPS[cap], flags, args: padded }), cap);
  }

  /** KVM_CAP_X86_USER_SPACE_MSR: route the chosen kinds of MSR accesses to userspace exits. */
  enableUserSpaceMsr(exits: UserSpaceMsrExits): void {
    let mask = 0;
    if (exits.filter) mask |= KVM_MSR_EXIT_REASON_FILTER;
    if (exits.unknown) mask |= KVM_MSR_EXIT_REASON_UNKNOWN;
    if (exits.inval) mask |= KVM_MSR_EXIT_REASON_INVAL;
    this.enableCap('KVM_CAP_X86_USER_SPACE_MSR', [BigInt(mask)]);
  }

  /** KVM_X86_SET_MSR_FILTER. KVM copies the bitmaps, so they only live for the call. */
  setMsrFilter(filter: MsrFilter): void {
    this.requireCapability('KVM_CAP_X86_MSR_FILTER', 'setMsrFilter');
    if (filter.ranges.length > KVM_MSR_FILTER_MAX_RANGES) throw new KvmArgumentError(`an MSR filter has at most ${KVM_MSR_FILTER_MAX_RANGES} ranges`);
    const sizes = filter.ranges.map((r) => {
      if (!Number.isInteger(r.base) || r.base < 0 || r.base > 0xffff_ffff) throw new KvmArgumentError(`MSR range base ${r.base} is not a u32`);
      const bytes = Math.ceil(r.nmsrs / 8);
      if (!Number.isInteger(r.nmsrs) || r.nmsrs < 1 || bytes > KVM_MSR_FILTER_MAX_BITMAP_SIZE) throw new KvmArgumentError(`MSR range of ${r.nmsrs} MSRs`);
      if (!r.read && !r.write) throw new KvmArgumentError('an MSR range must filter reads, writes or both');
      if (r.bitmap && r.bitmap.length < bytes) throw new KvmArgumentError(`MSR range bitmap has ${r.bitmap.length} bytes, ${bytes} needed`);
      return bytes;
    });
    const total = sizes.reduce((a, b) => a + b, 0);
    withNativeBuffer(Math.max(total, 1), (ptr, native) => {
      let at = 0;
      const ranges = Array.from({ length: KVM_MSR_FILTER_MAX_RANGES }, (_, i) => {
        const r = filter.ranges[i];
        const bytes = sizes[i];
        if (r === undefined || bytes === undefined) return { flags: 0, nmsrs: 0, base: 0, bitmap: 0n };
        if (r.bitmap) native.set(r.bitmap.subarray(0, bytes), at);
        const range = {
          flags: (r.read ? KVM_MSR_FILTER_READ : 0) | (r.write ? KVM_MSR_FILTER_WRITE : 0),
          nmsrs: r.nmsrs,
          base: r.base,
          bitmap: ptr + BigInt(at),
        };
        at += bytes;
        return range;
      });
      const flags = filter.defaultAction === 'deny' ? KVM_MSR_FILTER_DEFAULT_DENY : KVM_MSR_FILTER_DEFAULT_ALLOW;
      kvmIoctl(this.liveFd(), KVM_IOCTLS.KVM_X86_SET_MSR_FILTER, KVM_MSR_FILTER.encode({ flags, ranges }));
    });
  }

  /** KVM_CREATE_VCPU: vCPU `id` (its initial APIC ID), with its kvm_run page mapped. */
  createVcpu(id: number): Vcpu {
    if (!Number.isInteger(id) || id < 0 || id > 0xffff) throw new KvmArgumentError(`vCPU id ${id} out of range`);
    const fd = kvmIoctlValue(this.liveFd(), KVM_IOCTLS.KVM_CREATE_VCPU, id, `vcpu ${id}`);
    return Vcpu.own(fd, id, this.vcpuMmapSize);
  }

  /** Closes the VM fd. vCPUs keep the VM alive in the kernel until they are closed too. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.slots.clear();
    fs.closeSync(this.fd);
  }
}

function encodeIoeventfd(spec: IoeventfdSpec, extraFlags: number): Uint8Array {
  if (!Number.isSafeInteger(spec.address) || spec.address < 0) throw new KvmArgumentError(`ioeventfd address ${spec.address}`);
  if (spec.space === 'pio' && spec.address > 0xffff) throw new KvmArgumentError(`I/O port 0x${spec.address.toString(16)} out of range`);
  let flags = extraFlags;
  if (spec.space === 'pio') flags |= KVM_IOEVENTFD_FLAG_PIO;
  if (spec.datamatch !== undefined) flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
  return KVM_IOEVENTFD.encode({
    datamatch: spec.datamatch ?? 0n,
    addr: BigInt(spec.address),
    len: spec.length,
    fd: spec.eventfd,
    flags,
  });
}

// The shared_info page and vcpu_info, x86_64 layout, and the atomic bit operations event delivery
// performs on them while the guest works on the same words from its own vCPUs.
//
// Concurrency. These bytes are live guest memory: a plain ArrayBuffer over the mmap'd RAM file
// (koffi.view), not a SharedArrayBuffer. Atomics works on integer typed arrays over any
// ArrayBuffer and V8 emits the same locked instructions either way, so our read-modify-writes are
// atomic against the guest's `lock bts`/`lock btr`/`xchg` on the same words.
//
// 64-bit words with 32-bit atomics. The guest's pending, mask and pending_sel arrays are unsigned
// longs (64-bit), which Linux updates with locked bit operations on the whole word. We touch one
// bit at a time with a 32-bit Atomics.or/and on the half that holds it: on little-endian x86 bit b
// of the 64-bit word at offset o is bit (b & 31) of the 32-bit word at o + 4 * (b >> 5). Both
// halves lie in the same naturally aligned 8 bytes (one cache line), and x86 locked operations
// are atomic against every other locked operation on overlapping memory, so a 32-bit locked OR
// can neither lose nor be lost by a concurrent 64-bit locked bit op on the other half. This avoids
// BigInt traffic on the delivery path.
import { BITS_PER_EVTCHN_WORD, NR_EVENT_CHANNELS, XEN_LEGACY_MAX_VCPUS } from './abi.ts';
import { LayoutError, defineStruct } from '../../ring-buffer/layout.ts';

// struct vcpu_time_info {
//     uint32_t version;           /* odd while an update is in progress */
//     uint32_t pad0;
//     uint64_t tsc_timestamp;     /* TSC at last update of time vals */
//     uint64_t system_time;       /* ns since boot */
//     uint32_t tsc_to_system_mul;
//     int8_t   tsc_shift;
//     uint8_t  flags;             /* XEN_PVCLOCK_TSC_STABLE_BIT, ... */
//     uint8_t  pad1[2];
// }; /* 32 bytes */
export const vcpu_time_info = defineStruct('vcpu_time_info', 32, {
  version: { offset: 0, type: 'u32' },
  pad0: { offset: 4, type: 'u32' },
  tsc_timestamp: { offset: 8, type: 'u64' },
  system_time: { offset: 16, type: 'u64' },
  tsc_to_system_mul: { offset: 24, type: 'u32' },
  tsc_shift: { offset: 28, type: 'i8' },
  flags: { offset: 29, type: 'u8' },
  pad1: { offset: 30, type: { bytes: 2 } },
});

// struct vcpu_info {
//     uint8_t evtchn_upcall_pending;   /* set by Xen, cleared by the guest before it scans */
//     uint8_t evtchn_upcall_mask;      /* PV only; HVM Linux uses EFLAGS.IF instead */
//     xen_ulong_t evtchn_pending_sel;  /* bit i: a port in evtchn_pending[i] became pending */
//     struct arch_vcpu_info arch;      /* x86_64: unsigned long cr2, pad */
//     vcpu_time_info_t time;
// }; /* 64 bytes */
export const vcpu_info = defineStruct('vcpu_info', 64, {
  evtchn_upcall_pending: { offset: 0, type: 'u8' },
  evtchn_upcall_mask: { offset: 1, type: 'u8' },
  evtchn_pending_sel: { offset: 8, type: 'u64' },
  arch_cr2: { offset: 16, type: 'u64', c: 'arch.cr2' },
  arch_pad: { offset: 24, type: 'u64', c: 'arch.pad' },
  time: { offset: 32, type: { bytes: 32 } },
});

// struct shared_info {
//     struct vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];      /* 32 x 64 bytes */
//     xen_ulong_t evtchn_pending[sizeof(xen_ulong_t) * 8];   /* 64 x u64: one bit per port */
//     xen_ulong_t evtchn_mask[sizeof(xen_ulong_t) * 8];
//     uint32_t wc_version;      /* wallclock, seqlock-style version */
//     uint32_t wc_sec;
//     uint32_t wc_nsec;
//     uint32_t wc_sec_hi;       /* x86_64 only */
//     struct arch_shared_info arch;   /* max_pfn, p2m fields: PV only, 48 bytes */
// };
export const shared_info = defineStruct('shared_info', 3136, {
  vcpu_info: { offset: 0x000, type: { bytes: XEN_LEGACY_MAX_VCPUS * 64 } },
  evtchn_pending: { offset: 0x800, type: { bytes: 512 } },
  evtchn_mask: { offset: 0xa00, type: { bytes: 512 } },
  wc_version: { offset: 0xc00, type: 'u32' },
  wc_sec: { offset: 0xc04, type: 'u32' },
  wc_nsec: { offset: 0xc08, type: 'u32' },
  wc_sec_hi: { offset: 0xc0c, type: 'u32' },
  arch: { offset: 0xc10, type: { bytes: 48 } },
});

export const SHARED_INFO_LAYOUTS = [vcpu_time_info, vcpu_info, shared_info] as const;

export const VCPU_INFO_SIZE = vcpu_info.size;
const PENDING_OFFSET = shared_info.fields.evtchn_pending.offset;
const MASK_OFFSET = shared_info.fields.evtchn_mask.offset;
const SEL_OFFSET = vcpu_info.fields.evtchn_pending_sel.offset;

function int32Words(bytes: Uint8Array, what: string): Int32Array {
  if (bytes.byteOffset % 8 !== 0) throw new LayoutError(what, '*', `must be 8-byte aligned in its buffer (offset ${bytes.byteOffset})`);
  return new Int32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
}

/** Index of the Int32 word and the mask for bit `bit` of the 64-bit word at byte `offset`. */
function halfWord(offset: number, bit: number): [number, number] {
  return [(offset >> 2) + (bit >> 5), 1 << (bit & 31)];
}

/**
 * The event bitmaps of a shared_info page. The view is either the guest's page (after
 * XENMEM_add_to_physmap) or a private stand-in that holds events raised before the guest maps it.
 */
export class SharedInfoView {
  private readonly words: Int32Array;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.length < shared_info.size) throw new LayoutError('shared_info', '*', `needs ${shared_info.size} bytes, got ${bytes.length}`);
    this.words = int32Words(bytes, 'shared_info');
  }

  /** Sets port's pending bit; true if it was already set. */
  testAndSetPending(port: number): boolean {
    const [i, m] = this.portBit(PENDING_OFFSET, port);
    return (Atomics.or(this.words, i, m) & m) !== 0;
  }

  clearPending(port: number): void {
    const [i, m] = this.portBit(PENDING_OFFSET, port);
    Atomics.and(this.words, i, ~m);
  }

  isPending(port: number): boolean {
    const [i, m] = this.portBit(PENDING_OFFSET, port);
    return (Atomics.load(this.words, i) & m) !== 0;
  }

  isMasked(port: number): boolean {
    const [i, m] = this.portBit(MASK_OFFSET, port);
    return (Atomics.load(this.words, i) & m) !== 0;
  }

  /** Clears port's mask bit (EVTCHNOP_unmask); true if it was set. */
  testAndClearMask(port: number): boolean {
    const [i, m] = this.portBit(MASK_OFFSET, port);
    return (Atomics.and(this.words, i, ~m) & m) !== 0;
  }

  setMask(port: number): void {
    const [i, m] = this.portBit(MASK_OFFSET, port);
    Atomics.or(this.words, i, m);
  }

  /** The legacy vcpu_info slot of vCPU `vcpuId` (< XEN_LEGACY_MAX_VCPUS) inside this page. */
  vcpuInfoSlot(vcpuId: number): Uint8Array {
    if (!Number.isInteger(vcpuId) || vcpuId < 0 || vcpuId >= XEN_LEGACY_MAX_VCPUS) {
      throw new LayoutError('shared_info', 'vcpu_info', `has no slot for vCPU ${vcpuId}`);
    }
    return this.bytes.subarray(vcpuId * VCPU_INFO_SIZE, (vcpuId + 1) * VCPU_INFO_SIZE);
  }

  private portBit(arrayOffset: number, port: number): [number, number] {
    if (!Number.isInteger(port) || port < 0 || port >= NR_EVENT_CHANNELS) throw new LayoutError('shared_info', 'evtchn_pending', `port ${port} is outside the 2-level bitmaps`);
    const word = Math.floor(port / BITS_PER_EVTCHN_WORD);
    return halfWord(arrayOffset + word * 8, port % BITS_PER_EVTCHN_WORD);
  }
}

/** One vcpu_info: wherever it lives (a shared_info slot, a registered guest page, a stand-in). */
export class VcpuInfoView {
  private readonly words: Int32Array;

  constructor(readonly bytes: Uint8Array) {
    if (bytes.length !== VCPU_INFO_SIZE) throw new LayoutError('vcpu_info', '*', `is ${VCPU_INFO_SIZE} bytes, got ${bytes.length}`);
    this.words = int32Words(bytes, 'vcpu_info');
  }

  /** Sets evtchn_upcall_pending; true if it was already non-zero. */
  testAndSetUpcallPending(): boolean {
    // A byte-wide xchg, as Xen does: the guest clears this byte with a plain store.
    return Atomics.exchange(this.bytes, 0, 1) !== 0;
  }

  get upcallPending(): boolean {
    return Atomics.load(this.bytes, 0) !== 0;
  }

  /** Sets bit `bit` (a pending-word index, 0..63) of evtchn_pending_sel; true if it was set. */
  testAndSetSelector(bit: number): boolean {
    if (!Number.isInteger(bit) || bit < 0 || bit >= BITS_PER_EVTCHN_WORD) throw new LayoutError('vcpu_info', 'evtchn_pending_sel', `selector bit ${bit} out of range`);
    const [i, m] = halfWord(SEL_OFFSET, bit);
    return (Atomics.or(this.words, i, m) & m) !== 0;
  }

  get pendingSelector(): bigint {
    const lo = BigInt(Atomics.load(this.words, SEL_OFFSET >> 2) >>> 0);
    const hi = BigInt(Atomics.load(this.words, (SEL_OFFSET >> 2) + 1) >>> 0);
    return (hi << 32n) | lo;
  }

  /**
   * Marks every selector bit and upcall_pending, so the guest rescans all ports on its next upcall.
   * Xen does this when a vcpu_info moves: an event raised while it moved is then not lost, at the
   * cost of one spurious scan.
   */
  markAllPending(): void {
    Atomics.store(this.words, SEL_OFFSET >> 2, -1);
    Atomics.store(this.words, (SEL_OFFSET >> 2) + 1, -1);
    Atomics.store(this.bytes, 0, 1);
  }

  /** Copies the current contents (time, arch, flags) into `target`, word by word. */
  copyTo(target: VcpuInfoView): void {
    for (let i = 0; i < VCPU_INFO_SIZE >> 2; i++) Atomics.store(target.words, i, Atomics.load(this.words, i));
  }
}

// The KVM CPU engine of the shim: what happens on each vCPU exit that reaches user space. It is
// the VcpuExitHandler the vCPU threads call (main thread, one exit at a time per vCPU), and it
// knows nothing of how the VM was built: it gets the Xen domain, the guest memory, a way to send
// MSIs and a place to report the guest's fate. Tests drive it with fake exits and a fake vCPU.
//
//   exit                               what the guest gets
//   ---------------------------------  ------------------------------------------------------------
//   OUT 0x5e, 4 bytes (hypercall stub)  rax = dispatch(rax; rdi, rsi, rdx, r10, r8) (regs read once)
//   WRMSR 0x40000200                   hypercall page written at the value's page; #GP if refused
//   RDMSR 0x40000200, other MSR exits  #GP (the hypercall MSR is write-only, as in Xen)
//   OUT/IN PM1a_EVT, PM1a_CNT          reads 0 / SCI_EN; an S5 sleep write is the guest's poweroff
//   OUT 0xcf9 (reset bit), OUT 0x64 fe reboot
//   OUT 0xe9                           bytes to the console output (debug port, early output)
//   other port IN / MMIO read          all ones (nothing there), logged once per port / page
//   other port OUT / MMIO write        ignored, logged once per port / page
//   triple fault, KVM internal error   the guest crashed
//   KVM system event                   shutdown -> poweroff, reset -> reboot, crash -> crash
//
// After each exit handled for a running vCPU: reinjectIfPending (the lost-edge cure: an upcall
// sent while the guest's LAPIC was software-disabled was dropped by KVM; upcall_pending stays 1).
//
// Costs: each KVM_GET_REGS/KVM_SET_REGS/KVM_GET_SREGS is an ioctl of ~7 us on this host, so a
// hypercall reads the general registers once and writes them once; the segment registers (for the
// caller's CPL) are read only when the dispatcher asks, which it does once per hypercall.
import type { MsiMessage, VcpuExit, VcpuExitAction, VcpuExitHandler, VcpuStateAccess } from '../kvm/index.ts';
import type { IoExit, MmioExit, RdmsrExit, WrmsrExit } from '../kvm/vcpu-exit.ts';
import type { KvmSregs } from '../kvm/vcpu.ts';
import type { Gpa, GuestMemory } from '../memory/guest-memory.ts';
import {
  ACPI_PM1A_CNT_BLK,
  ACPI_PM1A_EVT_BLK,
  ACPI_PM1_CNT_LEN,
  ACPI_PM1_CNT_SCI_EN,
  ACPI_PM1_EVT_LEN,
  ACPI_RESET_PORT,
  ACPI_S5_SLP_TYP,
  decodePm1aControlWrite,
} from '../pvh/acpi.ts';
import {
  HypercallMsrError,
  XEN_HYPERCALL_MSR,
  XEN_HYPERCALL_PORT,
  installHypercallPage,
  resultToRax,
  type AccessKind,
  type CpuContext,
  type UpcallInjector,
  type VcpuDirective,
  type XenDomain,
} from '../xen/index.ts';
import type { GuestFate } from './exit-status.ts';

/** Bochs/QEMU debug console port: the test guests' output before their hypercall page exists. */
export const DEBUG_CONSOLE_PORT = 0xe9;
/** The 8042 keyboard controller's command port; command 0xfe pulses the CPU reset line. */
export const I8042_COMMAND_PORT = 0x64;
export const I8042_CMD_RESET = 0xfe;
/** Reset control register bit 2: "reset CPU" (0x06 is a hard reset, 0x04 a soft one). */
const RESET_CONTROL_RESET_CPU = 0x04;

/** Longest a vCPU parks on SCHEDOP_poll/SCHEDOP_block before returning (spurious wake-ups are allowed). */
export const PARK_MAX_MS = 10;

/** Where the engine sends MSIs: the VM (KVM_SIGNAL_MSI), or a fake in tests. */
export interface MsiSink {
  signalMsi(msi: MsiMessage): boolean;
}

/** The x86 MSI that delivers `vector` to the LAPIC with id `apicId`: fixed, edge, physical. */
export function upcallMsi(apicId: number, vector: number): MsiMessage {
  return { address: 0xfee0_0000n | (BigInt(apicId & 0xff) << 12n), data: (vector & 0xff) | (1 << 14) };
}

/**
 * Parks vCPUs that asked to wait (SCHEDOP_poll, SCHEDOP_block) until an event for them is raised,
 * a bounded time passes, or the domain ends.
 */
export class VcpuParking {
  private readonly waiters = new Map<number, () => void>();

  park(vcpuId: number, maxMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, maxMs);
      const waiters = this.waiters;
      function done(): void {
        clearTimeout(timer);
        if (waiters.get(vcpuId) === done) waiters.delete(vcpuId);
        resolve();
      }
      this.waiters.get(vcpuId)?.();
      this.waiters.set(vcpuId, done);
    });
  }

  wake(vcpuId: number): void {
    this.waiters.get(vcpuId)?.();
  }

  wakeAll(): void {
    for (const w of [...this.waiters.values()]) w();
  }
}

/**
 * Which vCPUs were sent an upcall since the engine last looked: an exit whose handling already
 * injected (a hypercall that raised an event for its own vCPU) needs no lost-edge re-injection,
 * which would cost a second KVM_SIGNAL_MSI ioctl on the hottest event path.
 */
export class InjectionTracker {
  private readonly sent = new Set<number>();
  note(vcpuId: number): void {
    this.sent.add(vcpuId);
  }
  /** True if `vcpuId` was sent an upcall since the last call; clears the mark. */
  take(vcpuId: number): boolean {
    return this.sent.delete(vcpuId);
  }
}

/** The domain's UpcallInjector for KVM vCPUs: an MSI per upcall; wake() unparks a polling vCPU. */
export function kvmUpcallInjector(
  vm: MsiSink,
  parking: VcpuParking,
  tracker: InjectionTracker = new InjectionTracker(),
  apicIdOf: (vcpuId: number) => number = (id) => id,
): UpcallInjector {
  return {
    inject: (vcpuId, vector) => {
      tracker.note(vcpuId);
      // false: the LAPIC had it blocked (software-disabled); reinjectIfPending covers that.
      vm.signalMsi(upcallMsi(apicIdOf(vcpuId), vector));
    },
    wake: (vcpuId) => parking.wake(vcpuId),
  };
}

export interface KvmEngineOptions {
  readonly domain: XenDomain;
  readonly memory: GuestMemory;
  readonly parking: VcpuParking;
  /** Shared with the injector (kvmUpcallInjector) so re-injection skips exits that already injected. */
  readonly injections?: InjectionTracker;
  /** Debug-port output (port 0xe9). */
  readonly debugOutput: (bytes: Uint8Array) => void;
  /** Called once, with the first fate any vCPU reaches; the shim then stops every vCPU. */
  readonly onFate: (fate: GuestFate) => void;
}

/** The exit handler shared by all vCPUs of one domain. */
export class KvmEngine {
  private fate: GuestFate | null = null;
  private hypercallPage: Gpa | null = null;
  /** The PM1a enable register (the upper half of PM1a_EVT_BLK). */
  private pm1aEnable = 0;
  /** Exits handled, by kind (for diagnostics and the benchmark). */
  readonly exitCounts = new Map<string, number>();
  /** Port I/O exits by direction and port ("in 0x70"), other than hypercalls: where exit storms come from. */
  readonly portCounts = new Map<string, number>();
  hypercalls = 0;

  constructor(private readonly opts: KvmEngineOptions) {}

  get finished(): GuestFate | null {
    return this.fate;
  }

  /** Where the guest last installed its hypercall page. */
  get hypercallPageAt(): Gpa | null {
    return this.hypercallPage;
  }

  /** Ends the domain with `fate` unless it already ended; wakes every parked vCPU. */
  end(fate: GuestFate): void {
    if (this.fate !== null) return;
    this.fate = fate;
    this.opts.parking.wakeAll();
    this.opts.onFate(fate);
  }

  handlerFor(vcpuId: number): VcpuExitHandler {
    return { handleExit: (exit, vcpu) => this.handleExit(vcpuId, exit, vcpu) };
  }

  async handleExit(vcpuId: number, exit: VcpuExit, vcpu: VcpuStateAccess): Promise<VcpuExitAction> {
    if (this.fate !== null) return 'stop';
    this.exitCounts.set(exit.kind, (this.exitCounts.get(exit.kind) ?? 0) + 1);
    let action: VcpuExitAction;
    this.opts.injections?.take(vcpuId);
    try {
      action = await this.dispatchExit(vcpuId, exit, vcpu);
      const injected = this.opts.injections?.take(vcpuId) ?? false;
      if (action === 'resume' && this.fate === null && !injected) this.opts.domain.reinjectIfPending(vcpuId);
    } catch (err) {
      // Our bug or a KVM failure, never the guest's doing (guest errors are -errno or #GP above):
      // stop the domain with a shim error rather than leave it half-handled.
      const error = err instanceof Error ? err : new Error(String(err));
      this.end({ kind: 'shim-error', error: new Error(`vcpu${vcpuId} ${exit.kind} exit: ${error.message}`, { cause: error }) });
      return 'stop';
    }
    return this.fate === null ? action : 'stop';
  }

  private async dispatchExit(vcpuId: number, exit: VcpuExit, vcpu: VcpuStateAccess): Promise<VcpuExitAction> {
    switch (exit.kind) {
      case 'io':
        if (exit.port === XEN_HYPERCALL_PORT && exit.direction === 'out' && exit.size === 4 && exit.count === 1) return this.hypercall(vcpuId, vcpu);
        this.portIo(vcpuId, exit);
        return 'resume';
      case 'mmio':
        this.mmio(vcpuId, exit);
        return 'resume';
      case 'wrmsr':
        this.wrmsr(vcpuId, exit);
        return 'resume';
      case 'rdmsr':
        this.rdmsr(vcpuId, exit);
        return 'resume';
      case 'hlt':
        // Only without an in-kernel LAPIC does HLT reach us; the shim always creates one, so treat
        // it as an idle vCPU: wait a little for an event and let the guest re-check.
        await this.opts.parking.park(vcpuId, PARK_MAX_MS);
        return 'resume';
      case 'shutdown':
        this.end({ kind: 'crashed', how: `vcpu${vcpuId}: triple fault (${this.where(vcpu)})` });
        return 'stop';
      case 'system_event':
        if (exit.type === 'shutdown') this.end({ kind: 'shutdown', reason: 'poweroff', how: `vcpu${vcpuId}: KVM system event shutdown` });
        else if (exit.type === 'reset') this.end({ kind: 'shutdown', reason: 'reboot', how: `vcpu${vcpuId}: KVM system event reset` });
        else if (exit.type === 'crash') this.end({ kind: 'crashed', how: `vcpu${vcpuId}: KVM system event crash` });
        else {
          this.logOnce(`sysev:${exit.type}`, `vcpu${vcpuId}: KVM system event ${exit.type} (${exit.typeCode}) ignored`);
          return 'resume';
        }
        return 'stop';
      case 'internal_error':
        this.end({
          kind: 'crashed',
          how: `vcpu${vcpuId}: KVM internal error ${exit.suberrorName} (${exit.suberror}) at ${this.where(vcpu)}${exit.suberror === 1 ? ': an instruction KVM\'s emulator cannot run' : ''}`,
        });
        return 'stop';
      case 'fail_entry':
        this.end({ kind: 'crashed', how: `vcpu${vcpuId}: KVM could not enter the guest (hardware reason 0x${exit.hardwareEntryFailureReason.toString(16)})` });
        return 'stop';
      case 'hypercall':
        // KVM_EXIT_HYPERCALL needs KVM_CAP_EXIT_HYPERCALL, which the shim never enables.
        exit.setResult(resultToRax(-38));
        return 'resume';
      case 'intr':
        return 'resume';
      case 'unknown':
        this.end({ kind: 'crashed', how: `vcpu${vcpuId}: unexpected KVM exit ${exit.exitReasonName} (${exit.exitReason})` });
        return 'stop';
    }
  }

  /** The hypercall stub's OUT: registers in, dispatch, rax out, then act on the directive. */
  private async hypercall(vcpuId: number, vcpu: VcpuStateAccess): Promise<VcpuExitAction> {
    this.hypercalls++;
    const regs = vcpu.getRegs();
    let sregs: KvmSregs | null = null;
    const cpu: CpuContext = {
      vcpuId,
      get cpl(): number {
        sregs ??= vcpu.getSregs();
        return sregs.ss.dpl;
      },
      translate(gva: bigint, access: AccessKind): Gpa | null {
        const t = vcpu.translate(BigInt.asUintN(64, gva));
        if (!t.valid || (access === 'write' && !t.writeable)) return null;
        return t.gpa;
      },
    };
    const out = this.opts.domain.dispatch(cpu, regs.rax, [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8]);
    regs.rax = resultToRax(out.result);
    vcpu.setRegs(regs);
    return out.directive === undefined ? 'resume' : this.directive(vcpuId, out.directive);
  }

  private async directive(vcpuId: number, d: VcpuDirective): Promise<VcpuExitAction> {
    switch (d.kind) {
      case 'yield':
        await new Promise<void>((resolve) => setImmediate(resolve));
        return 'resume';
      case 'block':
      case 'poll':
        // Both tolerate an early return; parking is bounded so a lost wake-up costs only a retry.
        await this.opts.parking.park(vcpuId, PARK_MAX_MS);
        return 'resume';
      case 'shutdown':
        // The domain already told its DomainEventSink (the shim passes it to end()); make sure.
        this.end({ kind: 'shutdown', reason: d.reason, how: `vcpu${vcpuId}: SCHEDOP_shutdown` });
        return 'stop';
    }
  }

  private portIo(vcpuId: number, exit: IoExit): void {
    const { port, size, data } = exit;
    const key = `${exit.direction} 0x${port.toString(16)}`;
    this.portCounts.set(key, (this.portCounts.get(key) ?? 0) + 1);
    if (exit.direction === 'in') {
      if (port >= ACPI_PM1A_EVT_BLK && port < ACPI_PM1A_EVT_BLK + ACPI_PM1_EVT_LEN) fillRegister(data, size, port - ACPI_PM1A_EVT_BLK, this.pm1aEnable << 16);
      else if (port >= ACPI_PM1A_CNT_BLK && port < ACPI_PM1A_CNT_BLK + ACPI_PM1_CNT_LEN) fillRegister(data, size, port - ACPI_PM1A_CNT_BLK, ACPI_PM1_CNT_SCI_EN);
      else if (port === DEBUG_CONSOLE_PORT) data.fill(DEBUG_CONSOLE_PORT); // Bochs' "port present" answer
      else if (port === ACPI_RESET_PORT || port === I8042_COMMAND_PORT) data.fill(0); // 8042: buffers empty
      else {
        this.logOnce(`in:${port}`, `vcpu${vcpuId}: IN from unemulated port 0x${port.toString(16)} reads all ones`);
        data.fill(0xff);
      }
      return;
    }
    if (port === DEBUG_CONSOLE_PORT) {
      this.opts.debugOutput(data.slice());
      return;
    }
    const value = size === 1 ? (data[0] ?? 0) : size === 2 ? new DataView(data.buffer, data.byteOffset, 2).getUint16(0, true) : new DataView(data.buffer, data.byteOffset, 4).getUint32(0, true);
    if (port >= ACPI_PM1A_CNT_BLK && port < ACPI_PM1A_CNT_BLK + ACPI_PM1_CNT_LEN) {
      // A byte write to the high half lands in bits 15:8 of the register.
      const req = decodePm1aControlWrite((value << (8 * (port - ACPI_PM1A_CNT_BLK))) & 0xffff);
      if (req.kind === 'sleep' && req.slpTyp === ACPI_S5_SLP_TYP) this.end({ kind: 'shutdown', reason: 'poweroff', how: `vcpu${vcpuId}: ACPI S5 (PM1a_CNT)` });
      else if (req.kind === 'sleep') this.logOnce(`slp:${req.slpTyp}`, `vcpu${vcpuId}: ACPI sleep type ${req.slpTyp} is not supported; ignored`);
      return;
    }
    if (port === ACPI_RESET_PORT && (value & RESET_CONTROL_RESET_CPU) !== 0) {
      this.end({ kind: 'shutdown', reason: 'reboot', how: `vcpu${vcpuId}: reset control register 0xcf9 <- 0x${value.toString(16)}` });
      return;
    }
    if (port === I8042_COMMAND_PORT && (value & 0xff) === I8042_CMD_RESET) {
      this.end({ kind: 'shutdown', reason: 'reboot', how: `vcpu${vcpuId}: 8042 reset` });
      return;
    }
    if (port >= ACPI_PM1A_EVT_BLK && port < ACPI_PM1A_EVT_BLK + ACPI_PM1_EVT_LEN) {
      this.writePm1aEvent(port - ACPI_PM1A_EVT_BLK, size, value);
      return;
    }
    if (port === XEN_HYPERCALL_PORT) this.logOnce(`bad-hc:${size}`, `vcpu${vcpuId}: ${size}-byte OUT to the hypercall port is not a hypercall; ignored`);
    else this.logOnce(`out:${port}`, `vcpu${vcpuId}: OUT to unemulated port 0x${port.toString(16)} ignored`);
  }

  /**
   * PM1a_EVT_BLK is a status half (write 1 to clear; no event is ever raised, so it reads 0) and
   * an enable half that must read back what was written: Linux's ACPI enables the global-lock
   * event there and gives up on the lock ("No response from Global Lock hardware") otherwise.
   */
  private writePm1aEvent(offset: number, size: number, value: number): void {
    const enableHalf = ACPI_PM1_EVT_LEN / 2;
    for (let i = 0; i < size; i++) {
      const at = offset + i - enableHalf;
      if (at < 0 || at > 1) continue;
      const byte = (value >>> (8 * i)) & 0xff;
      this.pm1aEnable = (this.pm1aEnable & ~(0xff << (8 * at))) | (byte << (8 * at));
    }
  }

  private mmio(vcpuId: number, exit: MmioExit): void {
    const page = Math.floor(exit.address / 4096) * 4096;
    this.logOnce(`mmio:${page}`, `vcpu${vcpuId}: MMIO ${exit.isWrite ? 'write to' : 'read from'} unbacked page 0x${page.toString(16)} (${exit.isWrite ? 'ignored' : 'reads all ones'})`);
    if (!exit.isWrite) exit.data.fill(0xff);
  }

  private wrmsr(vcpuId: number, exit: WrmsrExit): void {
    if (exit.index !== XEN_HYPERCALL_MSR) {
      this.logOnce(`wrmsr:${exit.index}`, `vcpu${vcpuId}: WRMSR 0x${exit.index.toString(16)} (${exit.reason}) -> #GP`);
      exit.fail();
      return;
    }
    try {
      this.hypercallPage = installHypercallPage(this.opts.memory, exit.value);
    } catch (err) {
      if (!(err instanceof HypercallMsrError)) throw err;
      this.logOnce(`hcmsr:${exit.value}`, `vcpu${vcpuId}: ${err.message} -> #GP`);
      exit.fail();
    }
  }

  private rdmsr(vcpuId: number, exit: RdmsrExit): void {
    // Xen's hypercall MSR is write-only; anything else reaching us is an MSR we do not emulate.
    this.logOnce(`rdmsr:${exit.index}`, `vcpu${vcpuId}: RDMSR 0x${exit.index.toString(16)} (${exit.reason}) -> #GP`);
    exit.fail();
  }

  private where(vcpu: VcpuStateAccess): string {
    try {
      const r = vcpu.getRegs();
      return `rip 0x${r.rip.toString(16)}`;
    } catch {
      return 'rip unknown';
    }
  }

  /** Guest-provoked conditions go through the domain's rate-limited log (first of each key, then counts). */
  private logOnce(key: string, message: string): void {
    this.opts.domain.log.warn(`shim:${key}`, `dom${this.opts.domain.domid} ${message}`);
  }
}

/** Fills an IN's bytes from a little-endian register value, starting at byte `offset` of it. */
function fillRegister(data: Uint8Array, size: number, offset: number, value: number): void {
  for (let i = 0; i < size && i < data.length; i++) data[i] = (value >>> (8 * (offset + i))) & 0xff;
}

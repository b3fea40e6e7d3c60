// The hypervisor shim: one Xen PVH domain on KVM, run in the foreground until the guest's fate is
// known. Two phases, so that every refusal of the request comes before any VM exists:
//
//   prepareGuest(request)   read and check the kernel (ELF or bzImage, PVH note), the initrd, the
//                           sizes, the plan of guest-physical space, and whether this host's
//                           /dev/kvm can run this kernel at all. Throws ShimInputError.
//   runGuest(prepared, io)  KVM VM with memory from a memfd, in-kernel irqchip and PIT, the MSR
//                           filter that sends the hypercall MSR to us, ACPI tables, the loaded
//                           kernel, the Xen domain (hypercall dispatcher, event channels, PV
//                           console), one worker thread per vCPU with the KVM engine as exit
//                           handler; resolves with the guest's fate once every vCPU stopped and
//                           everything is closed again.
//
// This is the in-foreground form of the per-domain shim process of the design (xltsd will start
// it as a child and take the console and domain events over a socket); today its console is the
// caller's stdin/stdout.
import * as fs from 'node:fs/promises';
import {
  Kvm,
  KvmUnavailableError,
  VcpuThread,
  assertShimCapabilities,
  defaultIrqchipRoutes,
  type GsiRoute,
  type CpuidEntry as KvmCpuidEntry,
  type KvmSegment,
  type KvmSregs,
  type Vcpu,
  type Vm,
} from '../kvm/index.ts';
import { KVM_CPUID_FLAG_SIGNIFCANT_INDEX } from '../kvm/kvm-ioctls.ts';
import { FileGuestMemory, PAGE_SIZE } from '../memory/guest-memory.ts';
import { SharedMemoryFile } from '../memory/shared-memory-file.ts';
import { buildAcpiTables } from '../pvh/acpi.ts';
import type { PvhBootState, SegmentState } from '../pvh/boot-state.ts';
import { loadSegments } from '../pvh/elf.ts';
import type { PvhKernel } from '../pvh/elf-notes.ts';
import { PvhError } from '../pvh/errors.ts';
import { type GuestLayout, MAX_MEMORY_SIZE, MIN_MEMORY_SIZE, MiB, isInRam, planGuestLayout } from '../pvh/guest-layout.ts';
import { type KernelFormat, readPvhKernelFile } from '../pvh/kernel-image.ts';
import { loadPvhGuest } from '../pvh/loader.ts';
import { PvConsole, XenDomain, consoleLog, type DomainEvent, type HypervisorLog, type CpuidEntry as XenCpuidEntry } from '../xen/index.ts';
import { LinuxNeedsLabError, ShimError, ShimInputError } from './errors.ts';
import { type GuestFate, XLTS_RUN_EXIT, exitStatusForFate } from './exit-status.ts';
import { patchLinuxHypercallInstructions } from './linux-hypercall-fixup.ts';
import { InjectionTracker, KvmEngine, VcpuParking, kvmUpcallInjector } from './kvm-engine.ts';
import { KvmGrantFrames } from './grant-frames.ts';
import { ToolstackRings } from './toolstack-rings.ts';
import type { BuiltDomain } from './dom0-link.ts';
import { DEFAULT_MAX_GRANT_FRAMES } from '../xen/grant-table.ts';
import { detectKvmHost, type KvmHostInfo } from '../../lab/kvm-host.ts';
import { LEGACY_PORTS_MODULE, legacyPortsConfig } from '../devices/legacy-ports.ts';

export const DEFAULT_MEMORY_MIB = 256;
export const MAX_VCPUS = 64;
/** One KVM memory slot per grant frame: stay far below KVM's 509 user slots. */
export const MAX_GRANT_FRAMES_LIMIT = 256;
/** Our DomU's id as the guest sees it (DOMID_SELF resolves to it); xltsd will allocate them. */
export const SHIM_DOMID = 1;

export interface RunRequest {
  readonly kernelPath: string;
  readonly initrdPath?: string;
  readonly cmdline?: string;
  readonly memoryMiB?: number;
  readonly vcpus?: number;
  /** Stop the guest after this long (fate 'timeout'); none by default. */
  readonly timeoutMs?: number;
  /** Grant-table frames the guest may set up (xl's max_grant_frames; default 64). */
  readonly maxGrantFrames?: number;
}

export interface PreparedGuest {
  readonly kernel: PvhKernel;
  readonly format: KernelFormat;
  readonly isLinux: boolean;
  readonly layout: GuestLayout;
  readonly initrd: Uint8Array | null;
  readonly cmdline: string;
  readonly vcpus: number;
  readonly timeoutMs: number | null;
  readonly maxGrantFrames: number;
  readonly host: KvmHostInfo;
}

/** What detectKvmHost says; tests pass their own. */
export type HostCheck = () => KvmHostInfo;

/** A Linux kernel (as opposed to one of our tiny test guests): by container and by its Xen notes. */
export function looksLikeLinux(kernel: PvhKernel, format: KernelFormat): boolean {
  return format === 'bzImage' || kernel.notes.guestOs?.toLowerCase() === 'linux';
}

/** Reads and checks everything `runGuest` needs; throws ShimInputError before any VM exists. */
export async function prepareGuest(req: RunRequest, hostCheck: HostCheck = detectKvmHost): Promise<PreparedGuest> {
  const memoryMiB = req.memoryMiB ?? DEFAULT_MEMORY_MIB;
  if (!Number.isSafeInteger(memoryMiB) || memoryMiB * MiB < MIN_MEMORY_SIZE || memoryMiB * MiB > MAX_MEMORY_SIZE) {
    throw new ShimInputError(`--memory ${memoryMiB}: must be a whole number of MiB from ${MIN_MEMORY_SIZE / MiB} to ${MAX_MEMORY_SIZE / MiB}`);
  }
  const vcpus = req.vcpus ?? 1;
  if (!Number.isSafeInteger(vcpus) || vcpus < 1 || vcpus > MAX_VCPUS) throw new ShimInputError(`--vcpus ${vcpus}: must be from 1 to ${MAX_VCPUS}`);
  if (req.timeoutMs !== undefined && !(req.timeoutMs > 0)) throw new ShimInputError(`timeout ${req.timeoutMs} ms: must be positive`);
  const maxGrantFrames = req.maxGrantFrames ?? DEFAULT_MAX_GRANT_FRAMES;
  if (!Number.isSafeInteger(maxGrantFrames) || maxGrantFrames < 1 || maxGrantFrames > MAX_GRANT_FRAMES_LIMIT) {
    throw new ShimInputError(`max_grant_frames ${maxGrantFrames}: must be from 1 to ${MAX_GRANT_FRAMES_LIMIT}`);
  }

  await mustBeFile(req.kernelPath, 'kernel');
  let kernel: PvhKernel;
  let format: KernelFormat;
  try {
    ({ kernel, format } = await readPvhKernelFile(req.kernelPath));
  } catch (err) {
    if (err instanceof PvhError) throw new ShimInputError(`kernel ${req.kernelPath}: ${err.message}`, { cause: err });
    throw err;
  }
  let initrd: Uint8Array | null = null;
  if (req.initrdPath !== undefined) {
    await mustBeFile(req.initrdPath, 'initrd');
    initrd = new Uint8Array(await fs.readFile(req.initrdPath));
  }

  let layout: GuestLayout;
  try {
    layout = planGuestLayout({ memorySize: memoryMiB * MiB, moduleSizes: initrd ? [initrd.length] : [] });
  } catch (err) {
    if (err instanceof PvhError) throw new ShimInputError(`--memory ${memoryMiB}: ${err.message}`, { cause: err });
    throw err;
  }
  for (const s of loadSegments(kernel.image)) {
    if (!isInRam(layout, s.paddr, s.memsz)) {
      throw new ShimInputError(`kernel ${req.kernelPath}: segment ${s.index} at 0x${s.paddr.toString(16)}+0x${s.memsz.toString(16)} does not fit in ${memoryMiB} MiB of guest RAM`);
    }
    for (const m of layout.modules) {
      if (m.size > 0 && s.paddr < m.base + m.size && m.base < s.paddr + s.memsz) throw new ShimInputError(`kernel and initrd do not both fit in ${memoryMiB} MiB: give more --memory`);
    }
  }

  const host = hostCheck();
  if (!host.devKvm || !host.devKvmAccessible) throw new ShimInputError(`cannot use /dev/kvm: ${host.message}`);
  const isLinux = looksLikeLinux(kernel, format);
  if (isLinux && !host.canRunLinux) {
    const argv = ['npx', 'xlts', 'lab', '--', 'npx', 'xlts', 'run', '--kernel', req.kernelPath];
    throw new LinuxNeedsLabError(
      `${req.kernelPath} is a Linux kernel, and ${host.message.replace(/; run it in the KVM lab.*$/, '')}.\n` +
        `Run it in the KVM lab instead: ${argv.join(' ')} ... (same options)`,
    );
  }
  return { kernel, format, isLinux, layout, initrd, cmdline: req.cmdline ?? '', vcpus, timeoutMs: req.timeoutMs ?? null, maxGrantFrames, host };
}

async function mustBeFile(file: string, what: string): Promise<void> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw new ShimInputError(`${what} ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!st.isFile()) throw new ShimInputError(`${what} ${file}: not a regular file`);
  if (st.size === 0) throw new ShimInputError(`${what} ${file}: empty file`);
}

/**
 * The shim as xltsd's child (dom0-link.ts): guest RAM in a named file xltsd maps, the store and
 * console rings left to xltsd (toolstack-rings.ts), vCPUs held until xltsd says go, and pause,
 * unpause and event notifications from it.
 */
export interface Dom0Attachment {
  readonly ramPath: string;
  /** The domain is built and no vCPU has run; resolve to let them run. */
  built(info: BuiltDomain): Promise<void>;
  /** The guest notified one of Dom0's ports. */
  kick(port: number): void;
  /** The shim's handlers for what xltsd asks after start. */
  attach(handlers: Dom0Handlers): void;
}

export interface Dom0Handlers {
  raise(port: number): void;
  /** Binds a port the guest left unbound for Dom0; returns why not, or undefined. */
  bind(port: number): string | undefined;
  unbind(port: number): void;
  pause(): Promise<void>;
  unpause(): void;
  destroy(): void;
}

export interface ShimIo {
  /** The guest's console output (console_io, the PV console ring, the 0xe9 debug port). */
  readonly output: (bytes: Uint8Array) => void;
  /** Console input for the PV console's `in` ring; read until the guest ends. */
  readonly input?: NodeJS.ReadableStream;
  /** Guest-provoked warnings (rate-limited); default stderr. */
  readonly log?: HypervisorLog;
  /** Run under xltsd instead of in the foreground with a local console. */
  readonly dom0?: Dom0Attachment;
}

export interface GuestRunResult {
  readonly fate: GuestFate;
  /** The `xlts run` exit status for this fate. */
  readonly status: number;
  readonly hypercalls: number;
  readonly exits: ReadonlyMap<string, number>;
  /** Port I/O exits by "in|out 0xPORT" (hypercalls excluded), those answered in a vCPU worker marked so. */
  readonly ports: ReadonlyMap<string, number>;
  readonly elapsedMs: number;
}

/** Builds the VM, runs the guest until its fate is known, and tears everything down. */
export async function runGuest(p: PreparedGuest, io: ShimIo): Promise<GuestRunResult> {
  const started = Date.now();
  const cleanups: Array<() => void> = [];
  const threads: VcpuThread[] = [];
  let engine: KvmEngine | null = null;
  let resolveFate: (f: GuestFate) => void = () => undefined;
  const fateKnown = new Promise<GuestFate>((resolve) => (resolveFate = resolve));
  let fate: GuestFate | null = null;
  const setFate = (f: GuestFate): void => {
    if (fate !== null) return;
    fate = f;
    resolveFate(f);
  };

  try {
    let kvm: Kvm;
    try {
      kvm = Kvm.open();
      assertShimCapabilities(kvm);
    } catch (err) {
      if (err instanceof KvmUnavailableError) throw new ShimInputError(err.message, { cause: err });
      throw err;
    }
    cleanups.push(() => kvm.close());
    const file = io.dom0 ? SharedMemoryFile.create(io.dom0.ramPath, p.layout.memorySize) : SharedMemoryFile.anonymous('xlts-guest-ram', p.layout.memorySize);
    cleanups.push(() => file.close());
    const memory = new FileGuestMemory(file, p.layout.memoryRegions);

    const vm = kvm.createVm();
    cleanups.push(() => vm.close());
    configureVm(vm, p.layout);
    const ramSlots = vm.mapGuestMemory(memory);
    const grantFrames = new KvmGrantFrames(vm, p.layout, p.maxGrantFrames, ramSlots.length, io.dom0 ? `${io.dom0.ramPath}.gnttab` : undefined);
    cleanups.push(() => grantFrames.close());

    const acpi = buildAcpiTables({ base: p.layout.acpiTables.base, size: p.layout.acpiTables.size, vcpus: p.vcpus });
    const loaded = loadPvhGuest({
      memory,
      layout: p.layout,
      kernel: p.kernel,
      cmdline: p.cmdline,
      modules: p.initrd ? [{ data: p.initrd }] : [],
      acpi,
    });

    if (p.isLinux) {
      // Kernels with the XSA-466 hypercall rework VMCALL/VMMCALL directly: see the fix-up's header.
      const fix = patchLinuxHypercallInstructions(p.kernel, memory);
      (io.log ?? consoleLog).warn(
        fix.kind === 'patched'
          ? `xlts run: Linux hypercall instructions rewritten to the hypercall port at ${fix.at.map((a) => `0x${a.toString(16)}`).join(', ')}`
          : `xlts run: no Linux hypercall instructions rewritten (${fix.why})`,
      );
    }
    const parking = new VcpuParking();
    const injections = new InjectionTracker();
    const log = io.log ?? consoleLog;
    const domain = new XenDomain({
      domid: SHIM_DOMID,
      vcpus: p.vcpus,
      memory,
      injector: kvmUpcallInjector(vm, parking, injections),
      events: { domainEvent: (e: DomainEvent) => engine?.end({ kind: 'shutdown', reason: e.reason, how: `vcpu${e.vcpuId}: SCHEDOP_shutdown` }) },
      console: { write: (bytes) => io.output(bytes.slice()) },
      log,
      memoryMap: p.layout.memmap.map((e) => ({ addr: BigInt(e.addr), size: BigInt(e.size), type: e.type })),
      maxPages: Math.floor(p.layout.memorySize / PAGE_SIZE),
      grantFrames,
    });
    // In the foreground the shim serves the console itself; under xltsd both rings are xltsd's.
    const dom0 = io.dom0;
    const pvConsole = dom0 ? null : new PvConsole(domain, { pfn: p.layout.consoleRing / PAGE_SIZE, output: (bytes) => io.output(bytes.slice()) });
    const rings = dom0 ? new ToolstackRings(domain, { storePfn: p.layout.xenstoreRing / PAGE_SIZE, consolePfn: p.layout.consoleRing / PAGE_SIZE }, (port) => dom0.kick(port)) : null;
    if (rings) cleanups.push(() => rings.close());
    engine = new KvmEngine({ domain, memory, parking, injections, debugOutput: io.output, onFate: setFate });

    const supported = kvm.getSupportedCpuid();
    const vcpus: Vcpu[] = [];
    cleanups.push(() => vcpus.forEach((v) => v.close()));
    for (let id = 0; id < p.vcpus; id++) {
      const vcpu = vm.createVcpu(id);
      vcpus.push(vcpu);
      vcpu.setCpuid2(guestCpuid(supported, domain.cpuid(id), id));
      // vCPU 0 is the BSP and starts at the PVH entry; the others wait for INIT/SIPI in the
      // in-kernel LAPIC, as Linux brings them up natively (MADT + trampoline below 1 MiB).
      if (id === 0) applyBootState(vcpu, loaded.bootState);
    }

    if (io.input && pvConsole) attachInput(io.input, pvConsole, cleanups);
    if (p.timeoutMs !== null) {
      const ms = p.timeoutMs;
      const timer = setTimeout(() => engine?.end({ kind: 'timeout', seconds: ms / 1000 }), ms);
      cleanups.push(() => clearTimeout(timer));
    }

    // Legacy ports Linux polls by the thousand (RTC, PCI config) are answered in the vCPU workers.
    const workerPortIo = { module: LEGACY_PORTS_MODULE, config: legacyPortsConfig() };
    for (const vcpu of vcpus) {
      const thread = VcpuThread.start(vcpu, engine.handlerFor(vcpu.id), { workerPortIo, paused: dom0 !== undefined });
      threads.push(thread);
      // A worker that dies, or a handler that throws past the engine, ends the domain as a shim
      // error; a vCPU that stops because the engine said so needs nothing more.
      thread.done.then(
        () => undefined,
        (err: unknown) => engine?.end({ kind: 'shim-error', error: err instanceof Error ? err : new Error(String(err)) }),
      );
    }
    if (dom0 && rings) {
      const eng = engine;
      dom0.attach({
        raise: (port) => void rings.raise(port),
        bind: (port) => {
          try {
            rings.bindDom0(port);
            return undefined;
          } catch (err) {
            return err instanceof Error ? err.message : String(err);
          }
        },
        unbind: (port) => rings.unbindDom0(port),
        pause: async () => {
          await Promise.all(threads.filter((t) => t.state === 'running').map((t) => t.pause()));
        },
        unpause: () => threads.filter((t) => t.state === 'paused').forEach((t) => t.resume()),
        destroy: () => eng.end({ kind: 'shutdown', reason: 'poweroff', how: 'destroyed by xltsd' }),
      });
      const info: BuiltDomain = {
        ramPath: dom0.ramPath,
        ramSize: p.layout.memorySize,
        regions: p.layout.memoryRegions.map((r) => ({ base: r.base, size: r.size, fileOffset: r.fileOffset })),
        store: rings.store,
        console: rings.console,
        grantFrames: { path: `${dom0.ramPath}.gnttab`, frames: p.maxGrantFrames },
      };
      await Promise.race([dom0.built(info), fateKnown]);
      if (fate === null) threads.forEach((t) => t.resume());
    }
    const allDone = Promise.allSettled(threads.map((t) => t.done)).then(
      (): GuestFate => ({ kind: 'shim-error', error: new ShimError('every vCPU stopped without the guest shutting down') }),
    );
    const final = await Promise.race([fateKnown, allDone]);
    setFate(final);
  } catch (err) {
    if (err instanceof ShimInputError) {
      await stopAll(threads);
      runCleanups(cleanups);
      throw err;
    }
    setFate({ kind: 'shim-error', error: err instanceof Error ? err : new Error(String(err)) });
  }
  await stopAll(threads);
  runCleanups(cleanups);
  // (`fate` is assigned inside closures, which TypeScript's narrowing does not follow.)
  const f: GuestFate = (fate as GuestFate | null) ?? { kind: 'shim-error', error: new ShimError('no fate recorded') };
  return {
    fate: f,
    status: exitStatusForFate(f),
    hypercalls: engine?.hypercalls ?? 0,
    exits: engine?.exitCounts ?? new Map(),
    ports: mergePortCounts(engine?.portCounts ?? new Map(), threads),
    elapsedMs: Date.now() - started,
  };
}

/** prepareGuest + runGuest; input errors come back as a status too (for runners and the CLI). */
export async function runKernel(req: RunRequest, io: ShimIo, hostCheck?: HostCheck): Promise<GuestRunResult> {
  const prepared = await prepareGuest(req, hostCheck);
  return runGuest(prepared, io);
}

/**
 * KVM's default routing wires GSI n to IOAPIC pin n, but our MADT (like every PC's) says ISA IRQ 0,
 * the PIT, arrives at IOAPIC pin 2: without this Linux's timer check finds "8254 timer not
 * connected to IO-APIC" and falls back to ExtINT through the PIC. Pin 2 carries nothing else.
 */
export function pcIrqRoutes(): GsiRoute[] {
  return defaultIrqchipRoutes()
    .filter((r) => !(r.kind === 'irqchip' && r.irqchip === 'ioapic' && (r.pin === 0 || r.pin === 2)))
    .concat([{ gsi: 0, kind: 'irqchip', irqchip: 'ioapic', pin: 2 }]);
}

/** The engine's port counts plus what the workers answered themselves (marked "in worker"). */
function mergePortCounts(engine: ReadonlyMap<string, number>, threads: readonly VcpuThread[]): Map<string, number> {
  const all = new Map(engine);
  for (const t of threads) {
    for (const [k, v] of t.workerPortIoCounts) all.set(`${k} (in worker)`, (all.get(`${k} (in worker)`) ?? 0) + v);
  }
  return all;
}

function configureVm(vm: Vm, layout: GuestLayout): void {
  // KVM's private pages (Intel without unrestricted guest) go where the layout reserved them.
  vm.setTssAddr(layout.kvmTss);
  vm.setIdentityMapAddr(BigInt(layout.kvmIdentityMap));
  vm.createIrqchip();
  vm.setGsiRouting(pcIrqRoutes());
  // The speaker port 0x61 in the kernel too: its bit 5 is PIT channel 2's output, which Linux's
  // TSC calibration polls (without it: "Unable to calibrate against PIT", jiffies as clocksource).
  vm.createPit2({ speakerDummy: true });
  // Only filtered MSRs exit to us; MSRs KVM does not know keep KVM's own behaviour (#GP).
  vm.enableUserSpaceMsr({ filter: true });
  vm.setMsrFilter({ defaultAction: 'allow', ranges: [{ base: 0x40000200, nmsrs: 1, read: true, write: true }] });
}

/** Hypervisor leaves are ours alone: Linux picks the highest signature, so KVM's must go. */
const HYPERVISOR_LEAVES_FIRST = 0x4000_0000;
const HYPERVISOR_LEAVES_LAST = 0x4fff_ffff;
const CPUID_1_ECX_HYPERVISOR = 1 << 31;

export function guestCpuid(supported: readonly KvmCpuidEntry[], xen: readonly XenCpuidEntry[], vcpuId: number): KvmCpuidEntry[] {
  const out: KvmCpuidEntry[] = supported
    .filter((e) => e.function < HYPERVISOR_LEAVES_FIRST || e.function > HYPERVISOR_LEAVES_LAST)
    .map((e) => {
      const c = { ...e };
      if (c.function === 1) {
        // Initial APIC id in EBX[31:24] (Linux's SMP enumeration cross-checks it); hypervisor bit.
        c.ebx = ((c.ebx & 0x00ff_ffff) | ((vcpuId & 0xff) << 24)) >>> 0;
        c.ecx = (c.ecx | CPUID_1_ECX_HYPERVISOR) >>> 0;
      }
      if (c.function === 0xb || c.function === 0x1f) c.edx = vcpuId >>> 0; // x2APIC id
      return c;
    });
  for (const x of xen) {
    out.push({ function: x.function, index: x.index, flags: x.significantIndex ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0, eax: x.eax, ebx: x.ebx, ecx: x.ecx, edx: x.edx });
  }
  return out;
}

function segment(s: SegmentState): KvmSegment {
  return {
    base: BigInt(s.base),
    limit: s.limit,
    selector: s.selector,
    type: s.type,
    present: s.present ? 1 : 0,
    dpl: s.dpl,
    db: s.db,
    s: s.s,
    l: s.l,
    g: s.g,
    avl: s.avl,
    unusable: s.unusable ? 1 : 0,
  };
}

/** The PVH entry state (plain data from the loader) as kvm_sregs and kvm_regs. */
export function bootSregs(current: KvmSregs, b: PvhBootState): KvmSregs {
  return {
    ...current,
    cs: segment(b.cs),
    ds: segment(b.ds),
    es: segment(b.es),
    fs: segment(b.fs),
    gs: segment(b.gs),
    ss: segment(b.ss),
    tr: segment(b.tr),
    ldt: segment(b.ldt),
    gdt: { base: BigInt(b.gdt.base), limit: b.gdt.limit },
    idt: { base: BigInt(b.idt.base), limit: b.idt.limit },
    cr0: BigInt(b.cr0),
    cr2: BigInt(b.cr2),
    cr3: BigInt(b.cr3),
    cr4: BigInt(b.cr4),
    efer: BigInt(b.efer),
  };
}

function applyBootState(vcpu: Vcpu, b: PvhBootState): void {
  vcpu.setSregs(bootSregs(vcpu.getSregs(), b));
  const regs = vcpu.getRegs();
  const r = b.regs;
  vcpu.setRegs({
    ...regs,
    rax: BigInt(r.rax),
    rbx: BigInt(r.rbx),
    rcx: BigInt(r.rcx),
    rdx: BigInt(r.rdx),
    rsi: BigInt(r.rsi),
    rdi: BigInt(r.rdi),
    rsp: BigInt(r.rsp),
    rbp: BigInt(r.rbp),
    r8: BigInt(r.r8),
    r9: BigInt(r.r9),
    r10: BigInt(r.r10),
    r11: BigInt(r.r11),
    r12: BigInt(r.r12),
    r13: BigInt(r.r13),
    r14: BigInt(r.r14),
    r15: BigInt(r.r15),
    rip: BigInt(r.rip),
    rflags: BigInt(r.rflags),
  });
}

/** Feeds console input into the PV console ring; stops reading when the guest ends. */
function attachInput(input: NodeJS.ReadableStream, console: PvConsole, cleanups: Array<() => void>): void {
  const onData = (chunk: Buffer | string): void => {
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk);
    console.write(bytes);
  };
  input.on('data', onData);
  cleanups.push(() => {
    input.off('data', onData);
    input.pause();
  });
}

async function stopAll(threads: readonly VcpuThread[]): Promise<void> {
  await Promise.allSettled(
    threads.map((t) => {
      try {
        return t.state === 'stopped' ? t.done : t.stop();
      } catch (err) {
        // Teardown must reach every thread and the cleanups even if one refuses to stop.
        return Promise.reject(err);
      }
    }),
  );
}

function runCleanups(cleanups: Array<() => void>): void {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      // Teardown continues: one failed close must not leak the rest.
    }
  }
  cleanups.length = 0;
}

export { XLTS_RUN_EXIT };

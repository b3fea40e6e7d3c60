// The PVH domain builder: given a planned layout, a parsed kernel and its boot modules, fill guest
// memory (segments at p_paddr, modules, start_info, module list, memory map, command lines, boot
// GDT) and return the vCPU state to enter with. Every placement is checked before the first byte is
// written, so a refused kernel leaves guest memory untouched.
import { type GuestMemory, type Gpa, gpa } from '../memory/guest-memory.ts';
import type { AcpiTables } from './acpi.ts';
import { type PvhBootState, bootGdtBytes, pvhBootState } from './boot-state.ts';
import { loadSegments, segmentFileBytes } from './elf.ts';
import type { PvhKernel } from './elf-notes.ts';
import { CommandLineError, LayoutError, LoadOverlapError, SegmentOutsideRamError } from './errors.ts';
import { type GuestLayout, isInRam } from './guest-layout.ts';
import { XEN_HVM_START_INFO_VERSION, XEN_HVM_START_MAGIC_VALUE, encodeMemmap, hvmModlistEntry, hvmStartInfo } from './start-info.ts';

export interface BootModule {
  readonly data: Uint8Array;
  readonly cmdline?: string;
}

export interface PvhLoadRequest {
  readonly memory: GuestMemory;
  /** Planned with `moduleSizes` equal to the sizes of `modules`. */
  readonly layout: GuestLayout;
  readonly kernel: PvhKernel;
  readonly cmdline?: string;
  readonly modules?: readonly BootModule[];
  /** ACPI tables (buildAcpiTables for layout.acpiTables) to write and point start_info at; none if absent. */
  readonly acpi?: AcpiTables;
  /** hvm_start_info.flags: 0 for a DomU. */
  readonly startInfoFlags?: number;
}

export interface LoadedSegment {
  readonly index: number;
  readonly paddr: Gpa;
  readonly filesz: number;
  readonly memsz: number;
}

export interface PvhLoadResult {
  readonly bootState: PvhBootState;
  readonly entry: number;
  readonly startInfo: Gpa;
  readonly segments: readonly LoadedSegment[];
  /** Highest guest-physical byte + 1 used by the kernel image (segments, zero-fill included). */
  readonly kernelEnd: Gpa;
}

export function loadPvhGuest(req: PvhLoadRequest): PvhLoadResult {
  const { memory, layout, kernel } = req;
  const modules = req.modules ?? [];

  // ---- check everything ----
  if (modules.length !== layout.modules.length || modules.some((m, i) => m.data.length !== layout.modules[i]!.size)) {
    throw new LayoutError('boot modules differ from the ones the layout was planned for');
  }
  const segments = loadSegments(kernel.image);
  for (const s of segments) {
    const where = `segment ${s.index} at 0x${s.paddr.toString(16)}+0x${s.memsz.toString(16)}`;
    if (!isInRam(layout, s.paddr, s.memsz)) throw new SegmentOutsideRamError(`segment outside guest RAM: ${where}`);
    if (!memory.contains(gpa(s.paddr), s.memsz)) throw new SegmentOutsideRamError(`segment outside guest RAM: ${where} is not backed by guest memory`);
    for (const [i, m] of layout.modules.entries()) {
      if (m.size > 0 && overlaps(s.paddr, s.memsz, m.base, m.size)) {
        throw new LoadOverlapError(`${where} overlaps module ${i} at 0x${m.base.toString(16)}+0x${m.size.toString(16)}: too little memory for this kernel and its modules`);
      }
    }
  }
  const acpi = req.acpi;
  if (acpi && (acpi.base < layout.acpiTables.base || acpi.base + acpi.bytes.length > layout.acpiTables.base + layout.acpiTables.size)) {
    throw new LayoutError(`ACPI tables at 0x${acpi.base.toString(16)}+0x${acpi.bytes.length.toString(16)} are outside the layout's ACPI area`);
  }
  const strings = packCommandLines(req.cmdline ?? '', modules, layout.cmdline, layout.cmdlineCapacity);
  const flags = req.startInfoFlags ?? 0;

  // ---- write ----
  const loaded: LoadedSegment[] = [];
  let kernelEnd = 0;
  for (const s of segments) {
    const dest = memory.view(gpa(s.paddr), s.memsz);
    dest.set(segmentFileBytes(kernel.image, s));
    dest.fill(0, s.filesz); // .bss and other p_memsz > p_filesz tails
    loaded.push({ index: s.index, paddr: gpa(s.paddr), filesz: s.filesz, memsz: s.memsz });
    kernelEnd = Math.max(kernelEnd, s.paddr + s.memsz);
  }
  for (const [i, m] of modules.entries()) {
    if (m.data.length > 0) memory.view(layout.modules[i]!.base, m.data.length).set(m.data);
  }
  memory.view(layout.cmdline, strings.bytes.length).set(strings.bytes);
  if (acpi) memory.view(acpi.base, acpi.bytes.length).set(acpi.bytes);

  const modlist = new Uint8Array(modules.length * hvmModlistEntry.size);
  layout.modules.forEach((m, i) =>
    hvmModlistEntry.encode({ paddr: m.base, size: m.size, cmdline_paddr: strings.moduleCmdlines[i]! }, modlist, i * hvmModlistEntry.size),
  );
  if (modlist.length > 0) memory.view(layout.modlist, modlist.length).set(modlist);

  const memmap = encodeMemmap(layout.memmap);
  memory.view(layout.memmapTable, memmap.length).set(memmap);

  const startInfo = hvmStartInfo.encode({
    magic: XEN_HVM_START_MAGIC_VALUE,
    version: XEN_HVM_START_INFO_VERSION,
    flags,
    nr_modules: modules.length,
    modlist_paddr: modules.length > 0 ? layout.modlist : 0,
    cmdline_paddr: strings.kernelCmdline,
    rsdp_paddr: acpi?.rsdp ?? 0,
    memmap_paddr: layout.memmapTable,
    memmap_entries: layout.memmap.length,
  });
  memory.view(layout.startInfo, startInfo.length).set(startInfo);

  const bootState = pvhBootState(kernel.entry, layout.startInfo, layout.bootGdt);
  const gdt = bootGdtBytes(bootState);
  memory.view(layout.bootGdt, gdt.length).set(gdt);

  return { bootState, entry: kernel.entry, startInfo: layout.startInfo, segments: loaded, kernelEnd: gpa(kernelEnd) };
}

interface PackedCommandLines {
  readonly bytes: Uint8Array;
  /** Address of the kernel command line, or 0 when it is empty (start_info's "not present"). */
  readonly kernelCmdline: number;
  readonly moduleCmdlines: readonly number[];
}

/**
 * The kernel command line and the module command lines, each NUL-terminated, one after the other
 * in the command-line page. An empty string is passed as "not present" (address 0) rather than as
 * an empty string, as Xen's builder does.
 */
function packCommandLines(kernel: string, modules: readonly BootModule[], base: Gpa, capacity: number): PackedCommandLines {
  const parts: Uint8Array[] = [];
  let used = 0;
  const place = (s: string, what: string): number => {
    if (s.length === 0) return 0;
    if (s.includes('\0')) throw new CommandLineError(`${what} contains a NUL character`);
    const bytes = new TextEncoder().encode(`${s}\0`);
    if (used + bytes.length > capacity) throw new CommandLineError(`command lines need more than ${capacity} bytes (at ${what})`);
    const at = base + used;
    parts.push(bytes);
    used += bytes.length;
    return at;
  };
  const kernelCmdline = place(kernel, 'the kernel command line');
  const moduleCmdlines = modules.map((m, i) => place(m.cmdline ?? '', `module ${i} command line`));
  const bytes = new Uint8Array(used);
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { bytes, kernelCmdline, moduleCmdlines };
}

function overlaps(a: number, alen: number, b: number, blen: number): boolean {
  return a < b + blen && b < a + alen;
}

// Tiny guest programs for the KVM layer's own tests and the exit benchmark: a few plain integer
// instructions each (all this host's kvm_pvm emulator needs to cope with), as machine code with
// its assembly beside it. test/kvm-vcpu.test.ts assembles every listing with GNU as and checks
// the bytes, so the two cannot drift. Also a one-call fixture: a VM with RAM from a memfd and the
// vCPU set up to run one of these programs.
import { FileGuestMemory, gpa } from '../memory/guest-memory.ts';
import { SharedMemoryFile } from '../memory/shared-memory-file.ts';
import { enterLongMode, enterRealMode } from './cpu-modes.ts';
import { KvmArgumentError } from './errors.ts';
import { Kvm } from './kvm.ts';
import type { Vcpu } from './vcpu.ts';
import type { Vm } from './vm.ts';

export interface TinyGuestProgram {
  /** 'real': 16-bit real mode at REAL_MODE_ENTRY; 'long': 64-bit long mode at LONG_MODE_ENTRY. */
  readonly mode: 'real' | 'long';
  /** GNU as (AT&T) source, one instruction per line. */
  readonly asm: readonly string[];
  readonly bytes: readonly number[];
}

export const REAL_MODE_ENTRY = 0x1000;
export const LONG_MODE_ENTRY = 0x3000;
/** Long-mode page tables (3 pages) and stack top, below the code. */
export const LONG_MODE_PAGE_TABLES = 0x9000;
export const LONG_MODE_STACK = 0x8000;
/** Guest-virtual base of the alias of guest-physical [0, 1 GiB) that long-mode guests get. */
export const LONG_MODE_ALIAS_BASE = 0x4000_0000;

export const TINY_GUESTS = {
  /** OUT 0x10 (byte 'A'), OUT 0x11 (word 0x1234), IN 0x12 stored at 0x2000, then HLT. */
  realModeIo: {
    mode: 'real',
    asm: ['mov $0x41, %al', 'out %al, $0x10', 'mov $0x1234, %ax', 'out %ax, $0x11', 'in $0x12, %al', 'mov %al, 0x2000', 'hlt'],
    bytes: [0xb0, 0x41, 0xe6, 0x10, 0xb8, 0x34, 0x12, 0xe7, 0x11, 0xe4, 0x12, 0xa2, 0x00, 0x20, 0xf4],
  },
  /** Counts in EAX forever: a vCPU that never exits on its own. */
  realModeSpin: {
    mode: 'real',
    asm: ['1: inc %eax', 'jmp 1b'],
    bytes: [0x66, 0x40, 0xeb, 0xfc],
  },
  /** OUT 0x10 forever: one port-I/O exit per iteration (the exit benchmark). */
  realModeOutLoop: {
    mode: 'real',
    asm: ['1: out %al, $0x10', 'jmp 1b'],
    bytes: [0xe6, 0x10, 0xeb, 0xfc],
  },
  /** HLT forever: with the in-kernel irqchip the vCPU sleeps in the kernel and never exits. */
  realModeHltLoop: {
    mode: 'real',
    asm: ['1: hlt', 'jmp 1b'],
    bytes: [0xf4, 0xeb, 0xfd],
  },
  /** OUT 0x30 (an ioeventfd port), then OUT 0x31, then HLT. */
  realModeIoeventfd: {
    mode: 'real',
    asm: ['out %al, $0x30', 'out %al, $0x31', 'hlt'],
    bytes: [0xe6, 0x30, 0xe6, 0x31, 0xf4],
  },
  /**
   * WRMSR 0x40000200 <- 0x5000 (the Xen hypercall-page MSR), RDMSR it back and OUT it to 0x20,
   * then read guest-virtual 0x40002000 (the alias of guest-physical 0x2000) and OUT it to 0x21.
   */
  longModeMsr: {
    mode: 'long',
    asm: [
      'mov $0x40000200, %ecx',
      'mov $0x5000, %eax',
      'xor %edx, %edx',
      'wrmsr',
      'rdmsr',
      'out %eax, $0x20',
      'mov 0x40002000, %eax',
      'out %eax, $0x21',
      'hlt',
    ],
    bytes: [
      0xb9, 0x00, 0x02, 0x00, 0x40, 0xb8, 0x00, 0x50, 0x00, 0x00, 0x31, 0xd2, 0x0f, 0x30, 0x0f, 0x32, 0xe7, 0x20, 0x8b, 0x04,
      0x25, 0x00, 0x20, 0x00, 0x40, 0xe7, 0x21, 0xf4,
    ],
  },
  /** RDMSR of 0x40000300, an MSR KVM does not know, then OUT it to 0x20. */
  longModeUnknownMsr: {
    mode: 'long',
    asm: ['mov $0x40000300, %ecx', 'rdmsr', 'out %eax, $0x20', 'hlt'],
    bytes: [0xb9, 0x00, 0x03, 0x00, 0x40, 0x0f, 0x32, 0xe7, 0x20, 0xf4],
  },
  /**
   * A hypercall the way the Xen shim's stubs make one: arguments in RDI/RSI, CALL a stub that
   * does `mov $nr, %eax; out %eax, $port; ret`, the result comes back in RAX (OUT to 0x23).
   */
  longModeHypercallStub: {
    mode: 'long',
    asm: ['mov $0x1111, %edi', 'mov $0x2222, %esi', 'call stub', 'out %eax, $0x23', 'hlt', 'stub: mov $3, %eax', 'out %eax, $0x22', 'ret'],
    bytes: [
      0xbf, 0x11, 0x11, 0x00, 0x00, 0xbe, 0x22, 0x22, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, 0x00, 0xe7, 0x23, 0xf4, 0xb8, 0x03,
      0x00, 0x00, 0x00, 0xe7, 0x22, 0xc3,
    ],
  },
  /** CPUID leaf 0x40000000: EAX to port 0x20, EBX to port 0x21. */
  longModeCpuid: {
    mode: 'long',
    asm: ['mov $0x40000000, %eax', 'cpuid', 'out %eax, $0x20', 'mov %ebx, %eax', 'out %eax, $0x21', 'hlt'],
    bytes: [0xb8, 0x00, 0x00, 0x00, 0x40, 0x0f, 0xa2, 0xe7, 0x20, 0x89, 0xd8, 0xe7, 0x21, 0xf4],
  },
  /**
   * A write to 0x100000 (a read-only slot: MMIO write exit), a read of 0x100004 (ROM content, no
   * exit) to port 0x20, a read of 0x300000 (no slot: MMIO read exit) to port 0x21.
   */
  longModeMmio: {
    mode: 'long',
    asm: ['movl $0xcafe, 0x100000', 'mov 0x100004, %eax', 'out %eax, $0x20', 'mov 0x300000, %eax', 'out %eax, $0x21', 'hlt'],
    bytes: [
      0xc7, 0x04, 0x25, 0x00, 0x00, 0x10, 0x00, 0xfe, 0xca, 0x00, 0x00, 0x8b, 0x04, 0x25, 0x04, 0x00, 0x10, 0x00, 0xe7, 0x20,
      0x8b, 0x04, 0x25, 0x00, 0x00, 0x30, 0x00, 0xe7, 0x21, 0xf4,
    ],
  },
  /** UD2: with no usable IDT the #UD escalates to a triple fault (KVM_EXIT_SHUTDOWN). */
  longModeUd2: {
    mode: 'long',
    asm: ['ud2'],
    bytes: [0x0f, 0x0b],
  },
} as const satisfies Record<string, TinyGuestProgram>;

export interface TinyVmOptions {
  /** RAM at guest-physical 0, in bytes (default 1 MiB). */
  readonly ramSize?: number;
  /** A read-only slot right after RAM, backed by the same file (default none). */
  readonly romSize?: number;
  /** Create the in-kernel irqchip and PIT before the vCPUs. */
  readonly irqchip?: boolean;
}

/** A VM with memfd-backed RAM, for tiny guests. close() releases everything it created. */
export class TinyVm {
  readonly vcpus: Vcpu[] = [];
  private program: TinyGuestProgram | null = null;

  private constructor(
    readonly kvm: Kvm,
    readonly vm: Vm,
    readonly file: SharedMemoryFile,
    readonly memory: FileGuestMemory,
  ) {}

  static create(options: TinyVmOptions = {}): TinyVm {
    const ramSize = options.ramSize ?? 1 << 20;
    const romSize = options.romSize ?? 0;
    const kvm = Kvm.open();
    let vm: Vm | null = null;
    let file: SharedMemoryFile | null = null;
    try {
      vm = kvm.createVm();
      file = SharedMemoryFile.anonymous('xlts-tiny-guest', ramSize + romSize);
      const memory = FileGuestMemory.flat(file);
      vm.setUserMemoryRegion({ slot: 0, guestPhysAddr: gpa(0), size: ramSize, file, fileOffset: 0 });
      if (romSize > 0) vm.setUserMemoryRegion({ slot: 1, guestPhysAddr: gpa(ramSize), size: romSize, file, fileOffset: ramSize, readonly: true });
      if (options.irqchip) {
        vm.createIrqchip();
        vm.createPit2();
      }
      return new TinyVm(kvm, vm, file, memory);
    } catch (err) {
      file?.close();
      vm?.close();
      kvm.close();
      throw err;
    }
  }

  /**
   * Creates vCPU `id`, loads `program` and sets the vCPU up to start at it. Programs load at a
   * fixed address, so every vCPU of one TinyVm runs the same program.
   */
  addVcpu(program: TinyGuestProgram, id = this.vcpus.length): Vcpu {
    if (this.program !== null && this.program !== program) throw new KvmArgumentError('every vCPU of a TinyVm runs the same program');
    this.program = program;
    const entry = program.mode === 'real' ? REAL_MODE_ENTRY : LONG_MODE_ENTRY;
    this.memory.view(gpa(entry), program.bytes.length).set(program.bytes);
    const vcpu = this.vm.createVcpu(id);
    this.vcpus.push(vcpu);
    if (program.mode === 'real') enterRealMode(vcpu, entry);
    else enterLongMode(vcpu, this.memory, { pageTables: gpa(LONG_MODE_PAGE_TABLES), entry: BigInt(entry), stack: BigInt(LONG_MODE_STACK) });
    return vcpu;
  }

  close(): void {
    for (const v of this.vcpus) v.close();
    this.vm.close();
    this.file.close();
    this.kvm.close();
  }
}

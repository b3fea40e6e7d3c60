// The cost of a port-I/O exit round trip (guest OUT -> userspace -> back into the guest), the
// path every hypercall of the Xen shim takes, measured side by side in one run:
//   - C: a gcc-compiled loop of ioctl(KVM_RUN) (built at run time from the source below);
//   - koffi on one thread: Vcpu.run() in a loop, the KVM layer's own floor;
//   - the same plus KVM_GET_REGS/KVM_SET_REGS per exit, as a hypercall reads arguments and writes RAX;
//   - the vCPU worker thread handing each exit to a main-thread handler (VcpuThread), the design the
//     shim uses, with and without the register round trip.
// The guest is the same 2-instruction real-mode loop (`1: out %al, $0x10; jmp 1b`) everywhere.
// Repetitions are interleaved and the fastest of each path is kept: on a shared 2-core machine
// only figures taken side by side, each as undisturbed as it got, mean anything.
//
// Direct use: npx tsx bench/kvm-exit-bench.ts [--exits N] [--repeat R]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { TINY_GUESTS, TinyVm } from '../hypervisor/kvm/tiny-guests.ts';
import { VcpuThread } from '../hypervisor/kvm/vcpu-thread.ts';

export const DEFAULT_EXITS = 4_000;
export const DEFAULT_REPEAT = 5;
const WARMUP_EXITS = 200;
const PORT = 0x10;

export interface KvmExitBenchOptions {
  readonly out: NodeJS.WritableStream;
  /** Timed exits per run of each path. */
  readonly exits?: number;
  readonly repeat?: number;
}

const C_SOURCE = String.raw`
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

static void die(const char *what) { perror(what); exit(1); }

int main(int argc, char **argv) {
  if (argc != 3) { fprintf(stderr, "usage: %s exits warmup\n", argv[0]); return 2; }
  long exits = atol(argv[1]), warmup = atol(argv[2]);
  int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (kvm < 0) die("/dev/kvm");
  int vm = ioctl(kvm, KVM_CREATE_VM, 0);
  if (vm < 0) die("KVM_CREATE_VM");
  size_t ram = 1 << 20;
  uint8_t *mem = mmap(NULL, ram, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) die("mmap ram");
  static const uint8_t code[] = { 0xe6, ${PORT}, 0xeb, 0xfc }; /* 1: out %al, $port; jmp 1b */
  memcpy(mem + 0x1000, code, sizeof code);
  struct kvm_userspace_memory_region region = { .slot = 0, .guest_phys_addr = 0, .memory_size = ram, .userspace_addr = (uintptr_t)mem };
  if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) die("KVM_SET_USER_MEMORY_REGION");
  int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
  if (vcpu < 0) die("KVM_CREATE_VCPU");
  int size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
  struct kvm_run *run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
  if (run == MAP_FAILED) die("mmap kvm_run");
  struct kvm_sregs sregs;
  if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
  sregs.cs.base = 0; sregs.cs.selector = 0;
  if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
  struct kvm_regs regs = { .rip = 0x1000, .rflags = 2 };
  if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
  struct timespec t0, t1;
  for (long i = 0; i < warmup + exits; i++) {
    if (i == warmup) clock_gettime(CLOCK_MONOTONIC, &t0);
    if (ioctl(vcpu, KVM_RUN, 0) < 0) die("KVM_RUN");
    if (run->exit_reason != KVM_EXIT_IO || run->io.port != ${PORT}) { fprintf(stderr, "unexpected exit %u\n", run->exit_reason); return 1; }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("%.3f\n", ns / exits / 1000.0);
  return 0;
}
`;

/** One measured path: microseconds per exit round trip. */
export type Runner = (exits: number) => Promise<number>;

export function buildC(dir: string): string {
  const src = path.join(dir, 'kvm-exit-loop.c');
  const exe = path.join(dir, 'kvm-exit-loop');
  fs.writeFileSync(src, C_SOURCE);
  execFileSync('gcc', ['-O2', '-Wall', '-o', exe, src], { stdio: ['ignore', 'ignore', 'inherit'] });
  return exe;
}

export function cRunner(exe: string): Runner {
  return async (exits) => Number(execFileSync(exe, [String(exits), String(WARMUP_EXITS)], { encoding: 'utf8' }).trim());
}

function sameThreadRunner(withRegs: boolean): Runner {
  return async (exits) => {
    const t = TinyVm.create();
    try {
      const vcpu = t.addVcpu(TINY_GUESTS.realModeOutLoop);
      let t0 = 0;
      for (let i = 0; i < WARMUP_EXITS + exits; i++) {
        if (i === WARMUP_EXITS) t0 = performance.now();
        const exit = vcpu.run();
        if (exit.kind !== 'io' || exit.port !== PORT) throw new Error(`unexpected exit ${exit.kind}`);
        if (withRegs) vcpu.setRegs(vcpu.getRegs());
      }
      return ((performance.now() - t0) * 1000) / exits;
    } finally {
      t.close();
    }
  };
}

export function workerRunner(withRegs: boolean): Runner {
  return async (exits) => {
    const t = TinyVm.create();
    try {
      const vcpu = t.addVcpu(TINY_GUESTS.realModeOutLoop);
      let count = 0;
      let t0 = 0;
      let t1 = 0;
      const th = VcpuThread.start(vcpu, {
        handleExit(exit, state) {
          if (exit.kind !== 'io' || exit.port !== PORT) throw new Error(`unexpected exit ${exit.kind}`);
          if (withRegs) state.setRegs(state.getRegs());
          count++;
          if (count === WARMUP_EXITS) t0 = performance.now();
          if (count === WARMUP_EXITS + exits) {
            t1 = performance.now();
            return 'stop';
          }
          return 'resume';
        },
      });
      await th.done;
      return ((t1 - t0) * 1000) / exits;
    } finally {
      t.close();
    }
  };
}

export function engineDescription(): string {
  const modules = ['kvm_pvm', 'kvm_intel', 'kvm_amd'].filter((m) => fs.existsSync(`/sys/module/${m}`));
  const which = modules.includes('kvm_pvm') ? 'kvm_pvm (software nested hypervisor: guest code is emulated)' : modules.join(', ') || 'unknown module';
  return `/dev/kvm via ${which}`;
}

export async function runKvmExitBench(options: KvmExitBenchOptions): Promise<void> {
  const exits = options.exits ?? DEFAULT_EXITS;
  const repeat = options.repeat ?? DEFAULT_REPEAT;
  const out = options.out;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'xlts-kvm-exit-bench-'));
  try {
    const paths: { name: string; run: Runner }[] = [
      { name: 'C: ioctl(KVM_RUN) loop, gcc -O2', run: cRunner(buildC(dir)) },
      { name: 'koffi: Vcpu.run() loop, one thread', run: sameThreadRunner(false) },
      { name: 'koffi: one thread + GET/SET_REGS per exit', run: sameThreadRunner(true) },
      { name: 'VcpuThread: worker -> main-thread handler', run: workerRunner(false) },
      { name: 'VcpuThread: + GET/SET_REGS in the handler', run: workerRunner(true) },
    ];
    out.write(
      [
        'xlts KVM exit benchmark: port-I/O exit round trips (guest: real-mode `1: out %al, $0x10; jmp 1b`)',
        `engine: ${engineDescription()}`,
        `cpu: ${os.cpus()[0]?.model.trim() ?? 'unknown'} x${os.cpus().length}, node ${process.version}, load ${os.loadavg()[0]?.toFixed(2) ?? '?'}`,
        `${exits} timed exits per run (after ${WARMUP_EXITS} warm-up), best of ${repeat} interleaved runs`,
        '',
      ].join('\n') + '\n',
    );
    const best = paths.map(() => Number.POSITIVE_INFINITY);
    for (let r = 0; r < repeat; r++) {
      for (const [i, p] of paths.entries()) best[i] = Math.min(best[i] ?? Number.POSITIVE_INFINITY, await p.run(exits));
    }
    const c = best[0] ?? Number.NaN;
    const width = Math.max(...paths.map((p) => p.name.length));
    out.write(`${'path'.padEnd(width)}  us/exit  vs C\n`);
    for (const [i, p] of paths.entries()) {
      const us = best[i] ?? Number.NaN;
      out.write(`${p.name.padEnd(width)}  ${us.toFixed(2).padStart(7)}  ${(us / c).toFixed(2).padStart(5)}\n`);
    }
    const hop = (best[3] ?? Number.NaN) - (best[1] ?? Number.NaN);
    out.write(`\nthread hop (worker -> main-thread handler -> worker), the design's added cost: ${hop.toFixed(2)} us per exit\n`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function parseArgs(argv: readonly string[]): { exits?: number; repeat?: number } {
  const result: { exits?: number; repeat?: number } = {};
  for (let i = 0; i < argv.length; i += 2) {
    const value = Number(argv[i + 1]);
    if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${argv[i]} needs a positive integer`);
    if (argv[i] === '--exits') result.exits = value;
    else if (argv[i] === '--repeat') result.repeat = value;
    else throw new RangeError(`unknown option ${argv[i]} (known: --exits N, --repeat R)`);
  }
  return result;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runKvmExitBench({ out: process.stdout, ...parseArgs(process.argv.slice(2)) });
}

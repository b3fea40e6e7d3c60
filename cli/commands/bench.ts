import type { Command } from 'commander';

function positiveInt(raw: string): number {
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n <= 0 || n > 0xffffffff) throw new Error(`expected a positive integer, got '${raw}'`);
  return n;
}

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run a benchmark and print its table (figures are ratios measured side by side)')
    .argument('[name]', 'which benchmark: ring, hypercall (shim round trips, host and KVM lab), kvm-exit (KVM exit paths), boot (Linux boot vs QEMU+KVM, in the lab), xenstore (XenStore ops/s), domain (create/shutdown through xltsd), blk (PV disk vs the host on the same image)', 'ring')
    .option('--requests <n>', 'round trips (ring), iterations (hypercall) or exits (kvm-exit) per configuration and run', positiveInt)
    .option('--repeat <n>', 'runs of each configuration', positiveInt)
    .option('--here', 'hypercall, blk: only on this machine, not also in the KVM lab')
    .option('--lab', 'blk: only the KVM lab section')
    .option('--inside', 'boot, blk: this is the lab already (internal)')
    .action(async (name: string, opts: { requests?: number; repeat?: number; here?: boolean; lab?: boolean; inside?: boolean }) => {
      const repeat = opts.repeat === undefined ? {} : { repeat: opts.repeat };
      if (name === 'ring') {
        const { runRingBench } = await import('../../bench/ring-bench.ts');
        await runRingBench({ out: process.stdout, ...(opts.requests === undefined ? {} : { requests: opts.requests }), ...repeat });
      } else if (name === 'hypercall') {
        const { runHypercallBench } = await import('../../bench/hypercall-bench.ts');
        await runHypercallBench({ out: process.stdout, ...(opts.requests === undefined ? {} : { iterations: opts.requests }), ...repeat, ...(opts.here ? { here: true } : {}) });
      } else if (name === 'kvm-exit') {
        const { runKvmExitBench } = await import('../../bench/kvm-exit-bench.ts');
        await runKvmExitBench({ out: process.stdout, ...(opts.requests === undefined ? {} : { exits: opts.requests }), ...repeat });
      } else if (name === 'boot') {
        const { runLinuxBootBench } = await import('../../bench/linux-boot-bench.ts');
        await runLinuxBootBench({ out: process.stdout, ...(opts.repeat === undefined ? {} : { runs: opts.repeat }), ...(opts.inside ? { inside: true } : {}) });
      } else if (name === 'xenstore') {
        const { runXenstoreBench } = await import('../../bench/xenstore-bench.ts');
        await runXenstoreBench({ out: process.stdout });
      } else if (name === 'domain') {
        const { runDomainBench } = await import('../../bench/domain-bench.ts');
        await runDomainBench({ out: process.stdout, ...(opts.repeat === undefined ? {} : { runs: opts.repeat }) });
      } else if (name === 'blk') {
        const { runBlkBench } = await import('../../bench/blk-bench.ts');
        const where = opts.here ? 'host' : opts.lab ? 'lab' : 'both';
        await runBlkBench({ out: process.stdout, where, ...(opts.repeat === undefined ? {} : { rounds: opts.repeat }), ...(opts.inside ? { inside: true } : {}) });
      } else {
        throw new Error(`unknown benchmark '${name}' (known: ring, hypercall, kvm-exit, boot, xenstore, domain, blk)`);
      }
    });
}

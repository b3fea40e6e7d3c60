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
    .argument('[name]', 'which benchmark: ring', 'ring')
    .option('--requests <n>', 'round trips per configuration and run', positiveInt)
    .option('--repeat <n>', 'runs of each configuration', positiveInt)
    .action(async (name: string, opts: { requests?: number; repeat?: number }) => {
      if (name !== 'ring') throw new Error(`unknown benchmark '${name}' (known: ring)`);
      const { runRingBench } = await import('../../bench/ring-bench.ts');
      await runRingBench({ out: process.stdout, ...opts });
    });
}
